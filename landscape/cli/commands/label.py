"""`landscape label`: photos -> segmentation maps (the first step of photo -> map -> edit ->
photo: edit the map in any paint program, then `landscape translate` it)."""
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape.cli import batch, options
from landscape.cli.items import Encoded, Item
from landscape.cli.reporting import Reporter, say_device


@options.spec
class LabelOptions(options.FolderRun):
    inputs: options.Inputs
    index: Annotated[bool, typer.Option("--index", help="Write single-channel class-index PNGs instead of palette colours.")] = False
    min_region: Annotated[float, typer.Option("--min-region", help="Merge regions smaller than this percentage of the "
                                              "picture into their surroundings; 0 keeps every pixel's own class.")] = 0.25
    output: options.Output = Path("maps")
    model: options.ModelPath = None
    recursive: options.Recursive = False
    null: options.Null = False
    overwrite: options.Overwrite = False
    dry_run: options.DryRun = False
    json_mode: options.Json = False
    quiet: options.Quiet = False
    max_pixels: options.MaxPixels = options.DEFAULT_MAX_PIXELS
    max_bytes: options.MaxBytes = 0
    device: options.Device = "auto"
    threads: options.Threads = 0
    backend: options.Backend = "auto"
    precision: options.Precision = "auto"
    shard: options.ShardOption = None
    jobs: options.Jobs = "auto"
    compare: options.Compare = None


@options.command(LabelOptions)
def label(opts: LabelOptions) -> int:
    """Label photos: one PNG map per photo, same size, in the palette `translate` reads.

    Example: landscape label photos/ -o maps/   (then: landscape translate maps/ -o photos2/)
    """
    opts.check_limits()
    reporter = Reporter("label", json_mode=opts.json_mode, quiet=opts.quiet, null=opts.null)
    from landscape.api import Labeller

    labeller = batch.open_task(reporter, opts.placement, Labeller, opts.model,
                                min_region=opts.min_region)
    say_device(reporter, labeller)
    # Maps are always PNG: a lossy format would blur the class colours.
    items = batch.collect_items(opts.inputs, opts.output, "png", reporter, recursive=opts.recursive, null=opts.null, shard=opts.shard)
    if opts.dry_run:
        return batch.print_plan(items, reporter, overwrite=opts.overwrite)
    import math

    from landscape.imaging.codec import decode, encode, header_size, rgb_unit
    from landscape.imaging.outputs import prepare_output_dir
    from landscape.cli.stages import Stages

    prepare_output_dir(opts.output)
    reporter.compare(opts.compare, panels=2)

    # Only the model runs in the inference thread: conversion happens in the readers, region
    # merging and colouring in the writers, overlapping the next picture's inference.
    def load(item: Item):
        picture = decode(item.source, max_pixels=opts.max_pixels, max_bytes=opts.byte_limit)
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
    batch.run_items(items, stages, reporter, overwrite=opts.overwrite, jobs=opts.jobs,
                     work=lambda item: math.prod(header_size(item.source)[:2]), unit="px")
    return reporter.finish(device=labeller.device.name)
