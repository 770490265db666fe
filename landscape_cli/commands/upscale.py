"""`landscape upscale`: 4x (or 16x) super-resolution of pictures of any size and mode."""
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape_cli.commands import common
from landscape_cli.errors import UsageError


def upscale(
    inputs: common.Inputs,
    scale: Annotated[int, typer.Option("--scale", help="4 (one pass) or 16 (two passes of the x4 model).")] = 4,
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
    device: common.Device = "auto",
    threads: common.Threads = 0,
    shard: common.ShardOption = None,
    jobs: common.Jobs = "2:2",
) -> None:
    """Upscale pictures 4x: gray stays gray, alpha is kept, 16-bit stays 16-bit.

    Example: landscape upscale photos/ -o big/
    """
    args = dict(locals())  # the parameters, by name, before anything else is bound
    common.execute(lambda: _upscale(**args))


def _upscale(*, inputs, scale, tile, tile_pad, output, batch_size, model, recursive, null, fmt, quality, overwrite,
             dry_run, json_mode, quiet, max_pixels, device, threads, shard, jobs) -> int:
    if scale not in (4, 16):
        raise UsageError(f"--scale must be 4 or 16, got {scale}")
    common.check_positive("--tile", tile, 0)
    common.check_positive("--tile-pad", tile_pad, 0)
    common.check_positive("--batch-size", batch_size)
    common.check_positive("--max-pixels", max_pixels)
    common.resolve_format(fmt, quality)
    reporter = common.Reporter("upscale", json_mode=json_mode, quiet=quiet, null=null)
    (upscaler,) = common.open_models(reporter, device, threads, ("upscale", model))
    items = common.collect_items(inputs, output, fmt, reporter, recursive=recursive, null=null, shard=shard)
    if dry_run:
        return common.print_plan(items, reporter, overwrite=overwrite)
    from landscape_cli.imaging import decode, encode
    from landscape_cli.outputs import prepare_output_dir
    from landscape_cli.overlap import Stages
    from landscape_cli.pipelines.upscale import TileSettings, upscale_pixels

    prepare_output_dir(output)
    tiles = TileSettings(tile=tile, pad=tile_pad, batch=batch_size)
    passes = 2 if scale == 16 else 1

    def infer(picture):
        return picture.notes, upscale_pixels(upscaler, picture.pixels, tiles, passes)

    def save(item: common.Item, result) -> common.Encoded:
        notes, pixels = result
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=quality, consume=True)
        return common.Encoded(data, notes + enc_notes)

    stages = Stages(load=lambda item: decode(item.source, max_pixels=max_pixels), infer=common.each(infer), save=save)
    common.run_items(items, stages, reporter, overwrite=overwrite, jobs=jobs)
    return reporter.finish(device=upscaler.device.name)
