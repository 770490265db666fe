"""`landscape label`: photos -> segmentation maps (the first step of photo -> map -> edit ->
photo: edit the map in any paint program, then `landscape translate` it)."""
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape.cli import batch, options
from landscape.cli.items import Encoded, Item
from landscape.cli.reporting import Reporter, say_device


@options.spec
class LabelOptions:
    inputs: options.Inputs
    index: Annotated[bool, typer.Option("--index", help="Write single-channel class-index PNGs instead of palette colours.")] = False
    min_region: Annotated[float, typer.Option("--min-region", help="Merge regions smaller than this percentage of the "
                                              "picture into their surroundings; 0 keeps every pixel's own class.")] = 0.25
    output: options.Output = Path("maps")
    model: options.ModelPath = None
    scan: options.Scan
    run: options.Run
    limits: options.Limits
    placement: options.Placement
    parallel: options.Parallel
    compare: options.Compare = None


@options.command(LabelOptions)
def label(opts: LabelOptions) -> int:
    """Label photos: one PNG map per photo, same size, in the palette `translate` reads.

    Example: landscape label photos/ -o maps/   (then: landscape translate maps/ -o photos2/)
    """
    opts.limits.check()
    reporter = Reporter("label", json_mode=opts.run.json_mode, quiet=opts.run.quiet, null=opts.scan.null)
    from landscape.api import Labeller

    labeller = batch.open_task(reporter, opts.placement, Labeller, opts.model, max_pixels=opts.limits.max_pixels,
                               min_region=opts.min_region)
    say_device(reporter, labeller)
    # Maps are always PNG: a lossy format would blur the class colours.
    items = batch.collect_items(opts.inputs, opts.output, "png", reporter, recursive=opts.scan.recursive, null=opts.scan.null, shard=opts.parallel.shard)
    if opts.run.dry_run:
        return batch.print_plan(items, reporter, overwrite=opts.run.overwrite)
    import math

    from landscape.imaging.codec import decode, encode, header_size, rgb_unit
    from landscape.imaging.outputs import prepare_output_dir
    from landscape.cli.stages import Stages

    prepare_output_dir(opts.output)
    reporter.compare(opts.compare, panels=2)

    # Only the model runs in the inference thread: conversion happens in the readers, region
    # merging and colouring in the writers, overlapping the next picture's inference.
    def load(item: Item):
        picture = decode(item.source, max_pixels=opts.limits.max_pixels, max_bytes=opts.limits.byte_limit)
        return picture.notes, rgb_unit(picture.pixels)

    def infer(loaded):
        notes, rgb = loaded
        return notes, labeller.raw_labels(rgb, reporter.tick), rgb if opts.compare else None

    def save(item: Item, result) -> Encoded:
        notes, labels, rgb = result
        labels = labeller.merge(labels)
        if opts.compare:
            reporter.offer(item, [rgb, labeller.colourise(labels)])
        data, enc_notes = encode(labels[:, :, None] if opts.index else labeller.colourise(labels), "png")
        return Encoded(data, notes + enc_notes)

    stages = Stages(load=load, infer=batch.each(infer), save=save)
    batch.run_items(items, stages, reporter, overwrite=opts.run.overwrite, jobs=opts.parallel.jobs,
                     work=lambda item: math.prod(header_size(item.source)[:2]), unit="px")
    return reporter.finish(device=labeller.device.name)
