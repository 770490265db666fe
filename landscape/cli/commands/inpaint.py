"""`landscape inpaint`: fill the masked holes of photos; nothing outside the holes changes."""
from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from landscape.cli import batch, options
from landscape.cli.items import Encoded, Item, Plan
from landscape.cli.reporting import Reporter, say_device


@options.spec
class InpaintOptions:
    inputs: options.Inputs
    masks: Annotated[Optional[Path], typer.Option("--masks", "-m", help="Mask folder (paired by name) or one mask for all. "
                     "Default: NAME_mask*.png beside each image, else the image's alpha. White = hole.", show_default=False)] = None
    mask_dilate: Annotated[int, typer.Option("--mask-dilate", help="Grow each hole by PX pixels and feather the grown ring.")] = 0
    mask_threshold: Annotated[float, typer.Option("--mask-threshold", help="Gray level (0-1) at or above which a mask pixel is a hole.")] = 0.5
    mask_invert: Annotated[bool, typer.Option("--mask-invert", help="Masks mark what to keep (black = hole).")] = False
    seamless: Annotated[bool, typer.Option("--seamless/--raw-fill", help="Bend each fill to meet the photo at the hole's "
                        "edge, keeping the fill's texture (Poisson blending); --raw-fill writes the model's fill as it comes.")] = True
    output: options.Output = Path("inpainted")
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


@options.command(InpaintOptions)
def inpaint(opts: InpaintOptions) -> int:
    """Fill holes in photos and video clips. Masks are paired by file name, never by order; a clip's
    mask is one picture for every frame, or a mask video of as many frames.

    Example: landscape inpaint samples/photos --masks samples/masks -o out/
    """
    from landscape.errors import ItemError
    from landscape.cli.inputs import collect, pair_masks

    opts.limits.check()
    options.resolve_format(opts.fmt, opts.quality)
    reporter = Reporter("inpaint", json_mode=opts.run.json_mode, quiet=opts.run.quiet, null=opts.scan.null)
    from landscape.api import Inpainter

    inpainter = batch.open_task(reporter, opts.placement, Inpainter, opts.model, max_pixels=opts.limits.max_pixels,
                                dilate=opts.mask_dilate, threshold=opts.mask_threshold, invert=opts.mask_invert,
                                seamless=opts.seamless)
    say_device(reporter, inpainter)
    collected = collect(opts.inputs, recursive=opts.scan.recursive, null_separated=opts.scan.null, exclude=opts.output)
    for text in collected.notes:
        reporter.note(text)
    pairing = pair_masks(collected.paths, opts.masks)
    # Sharded after pairing, so that an image and its NAME_mask companion stay together.
    images, problems = batch.shard_share(collected, opts.parallel.shard, pairing.images)
    items = batch.plan_outputs(images, opts.output, opts.fmt, problems)
    for item in items:
        if item.source is not None:
            item.source = (item.source, pairing.masks.get(item.source))
            if item.error is None and item.source[0] in pairing.problems:
                item.error = pairing.problems[item.source[0]]
    notes = [f"{p}: taken as a mask (companion of an input image)" for p in pairing.companions]
    notes += [f"{p}: mask without an image" for p in pairing.orphans]
    for text in notes:
        reporter.note(text)
    if opts.run.dry_run:
        for item in items:
            if item.source is not None and item.error is None:
                item.label = f"{item.source[0]} + {item.source[1] or 'alpha channel (if any)'}"
        return batch.print_plan(Plan(items, len(items)), reporter, overwrite=opts.run.overwrite)
    import numpy as np

    from landscape.imaging.codec import decode, encode
    from landscape.imaging.outputs import prepare_output_dir
    from landscape.cli.stages import Stages

    prepare_output_dir(opts.output)
    reporter.compare(opts.compare, panels=3)
    from landscape.cli import provenance

    made_by = provenance.make("inpaint", {"inpaint": inpainter.model})

    def load(item: Item):
        image_path, mask_path = item.source
        picture = decode(image_path, max_pixels=opts.limits.max_pixels, max_bytes=opts.limits.byte_limit)
        pixels = picture.pixels
        if mask_path is None:
            pixels, hole = inpainter.alpha_holes(pixels)  # the filled result is opaque
        else:
            try:
                mask_picture = decode(mask_path, max_pixels=opts.limits.max_pixels, max_bytes=opts.limits.byte_limit)
            except ItemError as exc:
                raise ItemError(f"mask {mask_path}: {exc}") from None
            hole = inpainter.hole(mask_picture.pixels, pixels, f"mask {mask_path}")
        meta = None if opts.strip_metadata else picture.meta.with_text(provenance.OWN_KEY, made_by)
        return picture.notes, pixels, hole, meta

    def infer(loaded):
        notes, pixels, hole, meta = loaded
        filled = inpainter.fill(pixels, hole)
        shown = (pixels, hole) if opts.compare else None
        if filled is None:
            return notes + ["mask is empty: image copied unchanged"], pixels, shown, meta
        return notes, filled, shown, meta

    def save(item: Item, result) -> Encoded:
        notes, pixels, shown, meta = result
        if opts.compare:
            reporter.offer(item, [shown[0], shown[1].astype(np.uint8) * 255, pixels])
        data, enc_notes = encode(pixels, item.output.suffix.lstrip("."), quality=opts.quality, meta=meta)
        return Encoded(data, notes + enc_notes)

    from landscape.cli import videos

    # Masks pair by name across the whole input (companions, orphans), so inpaint plans it whole.
    pictures, clips = videos.split(Plan(items, len(items)))
    batch.run_items(pictures, Stages(load=load, infer=batch.each(infer), save=save), reporter, overwrite=opts.run.overwrite, jobs=opts.parallel.jobs)
    clip_records = videos.run(clips, reporter, transform=lambda item: _clip_filler(inpainter, item, opts.limits), encoding=opts.video.encoding(),
                              overwrite=opts.run.overwrite, check_size=lambda h, w: None,
                              job=lambda item: {"made_by": made_by, "mask": _identity(item.source[1]),
                                                "holes": [opts.mask_dilate, opts.mask_threshold, opts.mask_invert, opts.seamless]})
    return reporter.finish(device=inpainter.device.name, **({"videos": clip_records} if clip_records else {}))


def _identity(path: Optional[Path]) -> Optional[list]:
    """What a resumed clip's mask must still be: the same file, unchanged."""
    if path is None:
        return None
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _clip_filler(inpainter, item: Item, limits):
    """The per-frame fill of a clip: its mask (one picture for every frame, or the frame of a
    mask video with the same number), checked against each frame's size."""
    from landscape.errors import ItemError
    from landscape.imaging.codec import decode
    from landscape.imaging.video import FramesByIndex, is_video

    _, mask_path = item.source
    if mask_path is None:
        raise ItemError("a clip needs --masks: a picture for every frame, or a mask video (a clip has no alpha)")
    if is_video(mask_path):
        mask_for = FramesByIndex(mask_path)
    else:
        try:
            still = decode(mask_path, max_pixels=limits.max_pixels, max_bytes=limits.byte_limit).pixels
        except ItemError as exc:
            raise ItemError(f"mask {mask_path}: {exc}") from None
        mask_for = lambda index: still  # noqa: E731

    def fill(pixels, index):
        hole = inpainter.hole(mask_for(index), pixels, f"mask {mask_path}")
        filled = inpainter.fill(pixels, hole)
        return pixels if filled is None else filled

    return fill
