"""`landscape inpaint`: fill the masked holes of photos; nothing outside the holes changes."""
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli.commands import common


def inpaint(
    inputs: common.Inputs,
    masks: Annotated[Optional[Path], typer.Option("--masks", "-m", help="Mask folder (paired by name) or one mask for all. "
                     "Default: NAME_mask*.png beside each image, else the image's alpha. White = hole.", show_default=False)] = None,
    mask_dilate: Annotated[int, typer.Option("--mask-dilate", help="Grow each hole by PX pixels and feather the grown ring.")] = 0,
    mask_threshold: Annotated[float, typer.Option("--mask-threshold", help="Gray level (0-1) at or above which a mask pixel is a hole.")] = 0.5,
    mask_invert: Annotated[bool, typer.Option("--mask-invert", help="Masks mark what to keep (black = hole).")] = False,
    seamless: Annotated[bool, typer.Option("--seamless/--raw-fill", help="Bend each fill to meet the photo at the hole's "
                        "edge, keeping the fill's texture (Poisson blending); --raw-fill writes the model's fill as it comes.")] = True,
    output: common.Output = Path("inpainted"),
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
    """Fill holes in photos. Masks are paired by file name, never by order.

    Example: landscape inpaint samples/photos --masks samples/masks -o out/
    """
    args = dict(locals())  # the parameters, by name, before anything else is bound
    common.execute(lambda: _inpaint(**args))


def _inpaint(*, inputs, masks, mask_dilate, mask_threshold, mask_invert, seamless, output, model, recursive, null, fmt, quality,
             overwrite, dry_run, json_mode, quiet, max_pixels, max_bytes, device, threads, backend, precision, shard, jobs, strip_metadata, compare) -> int:
    from landscape.errors import ItemError
    from landscape.inputs import collect, pair_masks

    common.check_positive("--max-pixels", max_pixels)
    common.check_positive("--max-bytes", max_bytes, 0)
    common.resolve_format(fmt, quality)
    reporter = common.Reporter("inpaint", json_mode=json_mode, quiet=quiet, null=null)
    from landscape.api import Inpainter

    inpainter = common.open_task(reporter, common.Placement(device, threads, backend, precision), Inpainter, model,
                                 dilate=mask_dilate, threshold=mask_threshold, invert=mask_invert, seamless=seamless)
    common.say_device(reporter, inpainter)
    collected = collect(inputs, recursive=recursive, null_separated=null, exclude=output)
    for text in collected.notes:
        reporter.note(text)
    pairing = pair_masks(collected.paths, masks)
    # Sharded after pairing, so that an image and its NAME_mask companion stay together.
    images, problems = common.shard_share(collected, shard, pairing.images)
    items = common.plan_outputs(images, output, fmt, problems)
    for item in items:
        if item.source is not None:
            item.source = (item.source, pairing.masks.get(item.source))
            if item.error is None and item.source[0] in pairing.problems:
                item.error = pairing.problems[item.source[0]]
    notes = [f"{p}: taken as a mask (companion of an input image)" for p in pairing.companions]
    notes += [f"{p}: mask without an image" for p in pairing.orphans]
    for text in notes:
        reporter.note(text)
    if dry_run:
        for item in items:
            if item.source is not None and item.error is None:
                item.label = f"{item.source[0]} + {item.source[1] or 'alpha channel (if any)'}"
        return common.print_plan(common.Plan(items, len(items)), reporter, overwrite=overwrite)
    import numpy as np

    from landscape.imaging import decode, encode
    from landscape.outputs import prepare_output_dir
    from landscape.overlap import Stages

    prepare_output_dir(output)
    reporter.compare(compare, panels=3)
    from landscape import provenance

    made_by = provenance.make("inpaint", {"inpaint": inpainter.model})

    def load(item: common.Item):
        image_path, mask_path = item.source
        picture = decode(image_path, max_pixels=max_pixels, max_bytes=max_bytes or None)
        pixels = picture.pixels
        if mask_path is None:
            pixels, hole = inpainter.alpha_holes(pixels)  # the filled result is opaque
        else:
            try:
                mask_picture = decode(mask_path, max_pixels=max_pixels, max_bytes=max_bytes or None)
            except ItemError as exc:
                raise ItemError(f"mask {mask_path}: {exc}") from None
            hole = inpainter.hole(mask_picture.pixels, pixels, f"mask {mask_path}")
        meta = None if strip_metadata else picture.meta.with_text(provenance.KEY, made_by)
        return picture.notes, pixels, hole, meta

    def infer(loaded):
        notes, pixels, hole, meta = loaded
        filled = inpainter.fill(pixels, hole)
        shown = (pixels, hole) if compare else None
        if filled is None:
            return notes + ["mask is empty: image copied unchanged"], pixels, shown, meta
        return notes, filled, shown, meta

    def save(item: common.Item, result) -> common.Encoded:
        notes, pixels, shown, meta = result
        if compare:
            reporter.offer(item, [shown[0], shown[1].astype(np.uint8) * 255, pixels])
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=quality, meta=meta)
        return common.Encoded(data, notes + enc_notes)

    # Masks pair by name across the whole input (companions, orphans), so inpaint plans it whole.
    common.run_items(common.Plan(items, len(items)), Stages(load=load, infer=common.each(infer), save=save), reporter, overwrite=overwrite, jobs=jobs)
    return reporter.finish(device=inpainter.device.name)
