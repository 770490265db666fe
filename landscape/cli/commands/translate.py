"""`landscape translate`: segmentation maps -> landscape photos (pix2pix)."""
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape.cli import batch, options
from landscape.cli.items import Encoded, Item
from landscape.cli.reporting import Reporter, say_device


@options.spec
class TranslateOptions:
    inputs: options.Inputs
    upscale: Annotated[bool, typer.Option("--upscale", help="Chain the 4x super-resolution model in memory.")] = False
    tolerance: Annotated[float, typer.Option("--tolerance", help="RGB distance within which a map colour snaps to the palette.")] = 24.0
    output: options.Output = Path("translated")
    model: options.ModelPath = None
    upscale_model: options.UpscaleModel = None
    scan: options.Scan
    fmt: options.Format = "png"
    quality: options.Quality = 95
    run: options.Run
    limits: options.Limits
    placement: options.Placement
    parallel: options.Parallel
    compare: options.Compare = None


@options.command(TranslateOptions)
def translate(opts: TranslateOptions) -> int:
    """Turn segmentation maps into landscape photos of the same size.

    Maps are colour-coded in the model's palette (see `landscape palette`) or single-channel
    class-index PNGs.

    Example: landscape translate samples/maps -o out/
    """
    opts.limits.check()
    options.resolve_format(opts.fmt, opts.quality)
    reporter = Reporter("translate", json_mode=opts.run.json_mode, quiet=opts.run.quiet, null=opts.scan.null)
    from landscape.api import Translator

    translator = batch.open_task(reporter, opts.placement, Translator, opts.model, max_pixels=opts.limits.max_pixels,
                                 tolerance=opts.tolerance, upscale_model=opts.upscale_model)
    upscaler = translator.upscaler() if opts.upscale else None
    say_device(reporter, translator, *([upscaler] if upscaler else []))
    items = batch.collect_items(opts.inputs, opts.output, opts.fmt, reporter, recursive=opts.scan.recursive, null=opts.scan.null, shard=opts.parallel.shard)
    if opts.run.dry_run:
        return batch.print_plan(items, reporter, overwrite=opts.run.overwrite)
    import numpy as np

    from landscape.imaging.codec import decode, encode, from_unit, header_size
    from landscape.imaging.outputs import prepare_output_dir
    from landscape.cli.stages import Stages

    prepare_output_dir(opts.output)
    reporter.compare(opts.compare, panels=2)
    from landscape.cli import provenance
    from landscape.imaging.photo_meta import Meta

    made_by = provenance.make("translate", {"translate": translator.model, **({"upscale": upscaler.model} if upscaler else {})})

    def load(item: Item):
        picture = decode(item.source, max_pixels=opts.limits.max_pixels, max_bytes=opts.limits.byte_limit)
        labels, notes = translator.labels(picture.pixels)
        return picture.notes + notes, labels

    def infer(loaded):
        notes, labels = loaded
        return notes, translator.photo(labels, upscaler, reporter.tick), labels if opts.compare else None

    def planned(item: Item) -> float:
        h, w, _ = header_size(item.source)
        return h * w * (2 if upscaler else 1)  # the map's pixels, then the photo's through the upscaler

    def save(item: Item, result) -> Encoded:
        notes, pixels, labels = result
        if opts.compare:
            reporter.offer(item, [translator.colourise(labels.astype(np.uint8)), pixels])
        if pixels.dtype != np.uint8:  # quantised here, in a writer thread, not in the inference thread
            pixels = from_unit(pixels)
        meta = Meta(text={provenance.OWN_KEY: made_by}) if item.output.suffix.lower() in (".png", ".jpg", ".jpeg") else None
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=opts.quality, meta=meta)
        return Encoded(data, notes + enc_notes)

    batch.run_items(items, Stages(load=load, infer=batch.each(infer), save=save), reporter, overwrite=opts.run.overwrite, jobs=opts.parallel.jobs,
                     work=planned, unit="px")
    return reporter.finish(device=translator.device.name)
