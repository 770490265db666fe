"""`landscape upscale`: super-resolution of pictures of any size and mode, by the model's own
factor or a power of it."""
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli.commands import common


def upscale(
    inputs: common.Inputs,
    scale: Annotated[Optional[int], typer.Option("--scale", help="Total factor: the model's own (default) or a power of "
                                                 "it, one pass each (x4 model: 4 or 16; x2: 2, 4 or 8).",
                                                 show_default=False)] = None,
    tile: Annotated[int, typer.Option("--tile", help="Tile side in input pixels; 0 = whole image at once (more memory).")] = 256,
    tile_pad: Annotated[int, typer.Option("--tile-pad", help="Context each tile reads around its core; tiles cross-fade over 2x this.")] = 16,
    output: common.Output = Path("upscaled"),
    batch_size: common.BatchSize = 4,
    model: common.ModelPath = None,
    recursive: common.Recursive = False,
    null: common.Null = False,
    fmt: common.Format = "keep",
    quality: common.Quality = 95,
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
    strip_metadata: common.StripMetadata = False,
    compare: common.Compare = None,
) -> None:
    """Upscale pictures (4x with the bundled model): gray stays gray, alpha is kept, 16-bit stays 16-bit.

    Example: landscape upscale photos/ -o big/
    """
    args = dict(locals())  # the parameters, by name, before anything else is bound
    common.execute(lambda: _upscale(**args))


def _upscale(*, inputs, scale, tile, tile_pad, output, batch_size, model, recursive, null, fmt, quality, overwrite,
             dry_run, json_mode, quiet, max_pixels, max_bytes, device, threads, backend, precision, shard, jobs, strip_metadata, compare) -> int:
    common.check_positive("--max-pixels", max_pixels)
    common.check_positive("--max-bytes", max_bytes, 0)
    common.resolve_format(fmt, quality)
    reporter = common.Reporter("upscale", json_mode=json_mode, quiet=quiet, null=null)
    items = common.collect_items(inputs, output, fmt, reporter, recursive=recursive, null=null, shard=shard)
    # Small pictures run with ONNX Runtime's memory arena (runtime.SessionTuning says why); a
    # --scale of several passes feeds the model bigger pictures than the inputs.
    largest, items = common.largest_input(items) if scale is None else (None, items)
    from landscape.api import Upscaler

    upscaler = common.open_task(reporter, common.Placement(device, threads, backend, precision), Upscaler, model,
                                scale=scale, tile=tile, tile_pad=tile_pad, batch_size=batch_size, largest_input=largest)
    common.say_device(reporter, upscaler)
    if dry_run:
        return common.print_plan(items, reporter, overwrite=overwrite)
    from landscape.imaging import decode, encode, header_size
    from landscape.outputs import prepare_output_dir
    from landscape.overlap import Stages
    from landscape.pipelines.upscale import work

    prepare_output_dir(output)
    reporter.compare(compare, panels=2)

    from landscape import provenance

    made_by = provenance.make("upscale", {"upscale": upscaler.model}, scale=upscaler.scale)

    def infer(picture):
        upscaled = upscaler.upscale_pixels(picture.pixels, reporter.tick)
        meta = None if strip_metadata else picture.meta.with_text(provenance.KEY, made_by)
        return picture.notes, upscaled, picture.pixels if compare else None, meta

    def planned(item: common.Item) -> float:
        return work(*header_size(item.source), upscaler.factor, upscaler.passes)

    def save(item: common.Item, result) -> common.Encoded:
        notes, pixels, original, meta = result
        if compare:
            reporter.offer(item, [original, pixels])
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=quality, consume=True, meta=meta)
        return common.Encoded(data, notes + enc_notes)

    stages = Stages(load=lambda item: decode(item.source, max_pixels=max_pixels, max_bytes=max_bytes or None), infer=common.each(infer), save=save)
    common.run_items(items, stages, reporter, overwrite=overwrite, jobs=jobs, work=planned, unit="px")
    return reporter.finish(device=upscaler.device.name)
