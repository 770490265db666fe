"""`landscape upscale`: super-resolution of pictures of any size and mode, by the model's own
factor or a power of it."""
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import batch, options
from landscape.cli.items import Encoded, Item
from landscape.cli.reporting import Reporter, say_device


@options.spec
class UpscaleOptions:
    inputs: options.Inputs
    scale: Annotated[Optional[str], typer.Option("--scale", help="Total factor, any number from 1 to 16 (default: the "
                                                 "model's own; bundled x4). Runs the fewest model passes that reach it "
                                                 "(bundled: x2 and x4 models), then resizes to round(factor x side).",
                                                 show_default=False)] = None
    tile: Annotated[int, typer.Option("--tile", help="Tile side in input pixels; 0 = whole image at once (more memory).")] = 256
    tile_pad: Annotated[int, typer.Option("--tile-pad", help="Context each tile reads around its core; tiles cross-fade over 2x this.")] = 16
    output: options.Output = Path("upscaled")
    batch_size: options.BatchSize = 4
    model: options.ModelPath = None
    scan: options.Scan
    fmt: options.Format = "keep"
    quality: options.Quality = 95
    run: options.Run
    limits: options.Limits
    placement: options.Placement
    parallel: options.Parallel
    strip_metadata: options.StripMetadata = False
    compare: options.Compare = None
    video: options.Video


@options.command(UpscaleOptions)
def upscale(opts: UpscaleOptions) -> int:
    """Upscale pictures and video clips (4x with the bundled models, or --scale 2, 3, 1.5, ...): gray stays gray,
    alpha is kept, 16-bit stays 16-bit; a clip keeps its timing, sound, subtitles and chapters.

    Example: landscape upscale photos/ clip.mp4 -o big/ --scale 3
    """
    opts.limits.check()
    options.resolve_format(opts.fmt, opts.quality)
    reporter = Reporter("upscale", json_mode=opts.run.json_mode, quiet=opts.run.quiet, null=opts.scan.null)
    items = batch.collect_items(opts.inputs, opts.output, opts.fmt, reporter, recursive=opts.scan.recursive, null=opts.scan.null, shard=opts.parallel.shard)
    # Small pictures run with ONNX Runtime's memory arena (runtime.sessions.SessionTuning says
    # why); a --scale of several passes feeds the model bigger pictures than the inputs.
    largest, items = batch.largest_input(items) if opts.scale is None else (None, items)
    from landscape.api import Upscaler

    upscaler = batch.open_task(reporter, opts.placement, Upscaler, opts.model, max_pixels=opts.limits.max_pixels,
                               scale=opts.scale, tile=opts.tile, tile_pad=opts.tile_pad, batch_size=opts.batch_size,
                               largest_input=largest)
    say_device(reporter, upscaler)
    if opts.run.dry_run:
        return batch.print_plan(items, reporter, overwrite=opts.run.overwrite)
    from landscape.imaging.codec import decode, encode, header_size
    from landscape.imaging.outputs import prepare_output_dir
    from landscape.cli.stages import Stages

    prepare_output_dir(opts.output)
    reporter.compare(opts.compare, panels=2)

    from landscape.cli import provenance

    made_by = provenance.make("upscale", provenance.upscaler_models(upscaler), scale=upscaler.scale)

    def infer(picture):
        upscaled = upscaler.upscale_pixels(picture.pixels, reporter.tick)
        meta = None if opts.strip_metadata else picture.meta.with_text(provenance.OWN_KEY, made_by)
        return picture.notes, upscaled, picture.pixels if opts.compare else None, meta

    def planned(item: Item) -> float:
        return upscaler.work(*header_size(item.source))

    def save(item: Item, result) -> Encoded:
        notes, pixels, original, meta = result
        if opts.compare:
            reporter.offer(item, [original, pixels])
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=opts.quality, consume=True, meta=meta)
        return Encoded(data, notes + enc_notes)

    def load(item: Item):
        upscaler.check_size(*header_size(item.source)[:2])  # before the picture is decoded
        return decode(item.source, max_pixels=opts.limits.max_pixels, max_bytes=opts.limits.byte_limit)

    from landscape.cli import videos

    pictures, clips = videos.split(items)
    stages = Stages(load=load, infer=batch.each(infer), save=save)
    batch.run_items(pictures, stages, reporter, overwrite=opts.run.overwrite, jobs=opts.parallel.jobs, work=planned, unit="px")
    clip_records = videos.run(clips, reporter, transform=lambda item: lambda pixels, index: upscaler.upscale_pixels(pixels),
                              encoding=opts.video.encoding(), overwrite=opts.run.overwrite, check_size=upscaler.check_size,
                              job=lambda item: {"made_by": made_by, "tiles": [opts.tile, opts.tile_pad]})
    return reporter.finish(device=upscaler.device.name, **({"videos": clip_records} if clip_records else {}))
