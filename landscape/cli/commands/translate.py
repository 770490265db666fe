"""`landscape translate`: segmentation maps -> landscape photos (pix2pix)."""
from pathlib import Path

import typer
from typing_extensions import Annotated

from landscape.cli.commands import common


def translate(
    inputs: common.Inputs,
    upscale: Annotated[bool, typer.Option("--upscale", help="Chain the 4x super-resolution model in memory.")] = False,
    tolerance: Annotated[float, typer.Option("--tolerance", help="RGB distance within which a map colour snaps to the palette.")] = 24.0,
    output: common.Output = Path("translated"),
    model: common.ModelPath = None,
    upscale_model: common.UpscaleModel = None,
    recursive: common.Recursive = False,
    null: common.Null = False,
    fmt: common.Format = "png",
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
    compare: common.Compare = None,
) -> None:
    """Turn segmentation maps into landscape photos of the same size.

    Maps are colour-coded in the model's palette (see `landscape palette`) or single-channel
    class-index PNGs.

    Example: landscape translate samples/maps -o out/
    """
    args = dict(locals())  # the parameters, by name, before anything else is bound
    common.execute(lambda: _translate(**args))


def _translate(*, inputs, upscale, tolerance, output, model, upscale_model, recursive, null, fmt, quality, overwrite,
               dry_run, json_mode, quiet, max_pixels, max_bytes, device, threads, backend, precision, shard, jobs, compare) -> int:
    common.check_positive("--max-pixels", max_pixels)
    common.check_positive("--max-bytes", max_bytes, 0)
    common.resolve_format(fmt, quality)
    reporter = common.Reporter("translate", json_mode=json_mode, quiet=quiet, null=null)
    from landscape.api import Translator

    translator = common.open_task(reporter, common.Placement(device, threads, backend, precision), Translator, model,
                                  tolerance=tolerance, upscale_model=upscale_model)
    upscaler = translator.upscaler() if upscale else None
    common.say_device(reporter, translator, *([upscaler] if upscaler else []))
    items = common.collect_items(inputs, output, fmt, reporter, recursive=recursive, null=null, shard=shard)
    if dry_run:
        return common.print_plan(items, reporter, overwrite=overwrite)
    import numpy as np

    from landscape.imaging import decode, encode, from_unit, header_size
    from landscape.outputs import prepare_output_dir
    from landscape.overlap import Stages
    from landscape.pipelines.label import colourise

    prepare_output_dir(output)
    reporter.compare(compare, panels=2)
    from landscape import provenance
    from landscape.photo_meta import Meta

    made_by = provenance.make("translate", {"translate": translator.model, **({"upscale": upscaler.model} if upscaler else {})})

    def load(item: common.Item):
        picture = decode(item.source, max_pixels=max_pixels, max_bytes=max_bytes or None)
        labels, notes = translator.labels(picture.pixels)
        return picture.notes + notes, labels

    def infer(loaded):
        notes, labels = loaded
        return notes, translator.photo(labels, upscaler, reporter.tick), labels if compare else None

    def planned(item: common.Item) -> float:
        h, w, _ = header_size(item.source)
        return h * w * (2 if upscaler else 1)  # the map's pixels, then the photo's through the upscaler

    def save(item: common.Item, result) -> common.Encoded:
        notes, pixels, labels = result
        if compare:
            reporter.offer(item, [colourise(labels.astype(np.uint8), translator.info.palette), pixels])
        if pixels.dtype != np.uint8:  # quantised here, in a writer thread, not in the inference thread
            pixels = from_unit(pixels)
        meta = Meta(text={provenance.KEY: made_by}) if item.output.suffix.lower() in (".png", ".jpg", ".jpeg") else None
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=quality, meta=meta)
        return common.Encoded(data, notes + enc_notes)

    common.run_items(items, Stages(load=load, infer=common.each(infer), save=save), reporter, overwrite=overwrite, jobs=jobs,
                     work=planned, unit="px")
    return reporter.finish(device=translator.device.name)
