"""`landscape label`: photos -> segmentation maps (the first step of photo -> map -> edit ->
photo: edit the map in any paint program, then `landscape translate` it)."""
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape.cli.commands import common


def label(
    inputs: common.Inputs,
    index: Annotated[bool, typer.Option("--index", help="Write single-channel class-index PNGs instead of palette colours.")] = False,
    min_region: Annotated[float, typer.Option("--min-region", help="Merge regions smaller than this percentage of the "
                                              "picture into their surroundings; 0 keeps every pixel's own class.")] = 0.25,
    output: common.Output = Path("maps"),
    model: common.ModelPath = None,
    recursive: common.Recursive = False,
    null: common.Null = False,
    overwrite: common.Overwrite = False,
    dry_run: common.DryRun = False,
    json_mode: common.Json = False,
    quiet: common.Quiet = False,
    max_pixels: common.MaxPixels = common.DEFAULT_MAX_PIXELS,
    max_bytes: common.MaxBytes = 0,
    device: common.Device = "auto",
    threads: common.Threads = 0,
    backend: common.Backend = "auto",
    precision: common.Precision = "auto",
    shard: common.ShardOption = None,
    jobs: common.Jobs = "auto",
    compare: common.Compare = None,
) -> None:
    """Label photos: one PNG map per photo, same size, in the palette `translate` reads.

    Example: landscape label photos/ -o maps/   (then: landscape translate maps/ -o photos2/)
    """
    args = dict(locals())  # the parameters, by name, before anything else is bound
    common.execute(lambda: _label(**args))


def _label(*, inputs, index, min_region, output, model, recursive, null, overwrite, dry_run, json_mode, quiet, max_pixels, max_bytes, device,
           threads, backend, precision, shard, jobs, compare) -> int:
    common.check_positive("--max-pixels", max_pixels)
    common.check_positive("--max-bytes", max_bytes, 0)
    reporter = common.Reporter("label", json_mode=json_mode, quiet=quiet, null=null)
    from landscape.api import Labeller

    labeller = common.open_task(reporter, common.Placement(device, threads, backend, precision), Labeller, model,
                                min_region=min_region)
    common.say_device(reporter, labeller)
    # Maps are always PNG: a lossy format would blur the class colours.
    items = common.collect_items(inputs, output, "png", reporter, recursive=recursive, null=null, shard=shard)
    if dry_run:
        return common.print_plan(items, reporter, overwrite=overwrite)
    import math

    from landscape.imaging import decode, encode, header_size, rgb_unit
    from landscape.outputs import prepare_output_dir
    from landscape.overlap import Stages

    prepare_output_dir(output)
    reporter.compare(compare, panels=2)

    # Only the model runs in the inference thread: conversion happens in the readers, region
    # merging and colouring in the writers, overlapping the next picture's inference.
    def load(item: common.Item):
        picture = decode(item.source, max_pixels=max_pixels, max_bytes=max_bytes or None)
        return picture.notes, rgb_unit(picture.pixels)

    def infer(loaded):
        notes, rgb = loaded
        return notes, labeller.raw_labels(rgb, reporter.tick), rgb if compare else None

    def save(item: common.Item, result) -> common.Encoded:
        notes, labels, rgb = result
        labels = labeller.merge(labels)
        if compare:
            reporter.offer(item, [rgb, labeller.colourise(labels)])
        data, enc_notes = encode(labels[:, :, None] if index else labeller.colourise(labels), "png")
        return common.Encoded(data, notes + enc_notes)

    stages = Stages(load=load, infer=common.each(infer), save=save)
    common.run_items(items, stages, reporter, overwrite=overwrite, jobs=jobs,
                     work=lambda item: math.prod(header_size(item.source)[:2]), unit="px")
    return reporter.finish(device=labeller.device.name)
