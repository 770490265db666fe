"""`landscape generate`: new landscapes from seeds, optionally upscaled in the same pass."""
from pathlib import Path
from typing import Optional, Sequence

import typer
from typing_extensions import Annotated

from landscape.cli import batch, options
from landscape.cli.items import Encoded, Item, Plan
from landscape.cli.reporting import Reporter, say_device
from landscape.errors import UsageError
from landscape.imaging.limits import DEFAULT_MAX_PIXELS

GRID_THUMB = 256


def parse_seeds(spec: str) -> list[int]:
    """'0-99,120' -> [0, ..., 99, 120]; order kept, repeats dropped."""
    from landscape.api import MAX_SEED

    seeds: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                first, last = (int(v) for v in part.split("-", 1))
                if first > last:
                    raise ValueError
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise UsageError(f"--seeds: cannot read {part!r} (expected e.g. 0-99,120)") from None
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise UsageError(f"--seeds: seeds must be in 0..{MAX_SEED}")
    if len(seeds) > 1_000_000:
        raise UsageError("--seeds: more than a million seeds")
    return list(dict.fromkeys(seeds))


@options.spec
class GenerateOptions:
    count: Annotated[int, typer.Option("-n", "--count", help="How many images (seeds SEED .. SEED+N-1).")] = 8
    seed: Annotated[int, typer.Option("--seed", help="First seed; image i uses seed SEED+i.")] = 0
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Explicit seeds, e.g. 0-99,120 (instead of -n/--seed).", show_default=False)] = None
    upscale: Annotated[bool, typer.Option("--upscale", help="Chain the super-resolution model in memory (bundled: 4x).")] = False
    scale: Annotated[Optional[str], typer.Option("--scale", help="With --upscale: the total factor, any number from 1 to "
                                                 "16 (default: the upscaler's own; bundled x4), as `landscape upscale "
                                                 "--scale` makes it.", show_default=False)] = None
    output: options.Output = Path("generated")
    batch_size: options.BatchSize = 8
    grid: Annotated[Optional[Path], typer.Option("--grid", help="Also write a contact sheet of this run's images to FILE.", show_default=False)] = None
    walk: Annotated[Optional[str], typer.Option("--walk", help="A latent walk through these seeds' latents (e.g. 3,7,12), "
                                                "by spherical interpolation: frames walk-0000.png, ...", show_default=False)] = None
    frames: Annotated[int, typer.Option("--frames", help="With --walk: frames from each seed to the next.")] = 24
    animation: Annotated[Optional[Path], typer.Option("--animation", help="With --walk: also write the frames as an "
                                                      "animated .webp or .gif, or a video (.mp4, .mkv, .webm: H.264 "
                                                      "or the container's codec).", show_default=False)] = None
    fps: Annotated[float, typer.Option("--fps", help="With --animation: frames per second.")] = 12.0
    model: options.ModelPath = None
    upscale_model: options.UpscaleModel = None
    max_pixels: options.MaxPixels = DEFAULT_MAX_PIXELS
    upscale_precision: Annotated[Optional[str], typer.Option("--upscale-precision", help="With --upscale: the upscaler's "
                                                             "precision, if not --precision's (the remake of a picture "
                                                             "whose two models ran in different precisions).",
                                                             show_default=False)] = None
    fmt: options.Format = "png"
    quality: options.Quality = 95
    run: options.Run
    null: options.Null = False
    placement: options.Placement
    parallel: options.Parallel


@options.command(GenerateOptions)
def generate(opts: GenerateOptions) -> int:
    """Generate landscapes; each file is named after its seed and can be remade alone. --walk
    makes the frames of a walk through seeds instead.

    Example: landscape generate -n 100 --upscale -o out/
    """
    walk_seeds = _check_walk(opts)
    if walk_seeds is not None:
        seed_list = walk_seeds
    elif opts.seeds is not None:
        seed_list = parse_seeds(opts.seeds)
    else:
        from landscape.api import MAX_SEED

        options.check_positive("-n/--count", opts.count, 0)
        if not 0 <= opts.seed <= MAX_SEED - opts.count:
            raise UsageError(f"--seed must be in 0..{MAX_SEED - opts.count}")
        seed_list = range(opts.seed, opts.seed + opts.count)  # never a list: -n may be 10^8
    if opts.scale is not None and not opts.upscale:
        raise UsageError("--scale needs --upscale")
    options.resolve_format(opts.fmt, opts.quality)
    ext = "png" if opts.fmt == "keep" else opts.fmt
    from landscape.cli.shard import parse_shard

    share = parse_shard(opts.parallel.shard)
    reporter = Reporter("generate", json_mode=opts.run.json_mode, quiet=opts.run.quiet, null=opts.null)
    from landscape.api import Generator

    if opts.upscale_precision is not None and not opts.upscale:
        raise UsageError("--upscale-precision needs --upscale")
    options.check_positive("--max-pixels", opts.max_pixels)
    generator = batch.open_task(reporter, opts.placement, Generator, opts.model, upscale_model=opts.upscale_model,
                                upscale_precision=opts.upscale_precision, batch_size=opts.batch_size,
                                max_pixels=opts.max_pixels)
    upscaler = generator.upscaler(opts.scale) if opts.upscale else None
    say_device(reporter, generator, *([upscaler] if upscaler else []))
    if walk_seeds is not None:
        path = generator.walk_latents(walk_seeds, opts.frames)
        frame_numbers = shard_seeds(range(len(path)), share)
        items = [Item(label=f"walk frame {i}", output=opts.output / f"walk-{i:04d}.{ext}", source=path[i])
                 for i in frame_numbers]
        plan = Plan(items, len(items))
    else:
        seed_list = shard_seeds(seed_list, share)
        plan = Plan((Item(label=f"seed {s}", output=opts.output / f"seed{s:06d}.{ext}", source=s)
                            for s in seed_list), len(seed_list))
    if opts.run.dry_run:
        return batch.print_plan(plan, reporter, overwrite=opts.run.overwrite)
    from landscape.imaging.outputs import prepare_output_dir

    prepare_output_dir(opts.output)
    thumbs: dict[str, object] = {}
    passes = upscaler.passes if upscaler else 0
    from landscape.cli import provenance

    models = {"generate": generator.model, **(provenance.upscaler_models(upscaler) if upscaler else {})}
    scale_done = upscaler.scale if upscaler else None

    def record(item: Item) -> str:
        """What remakes this picture (the seed; for a walk frame, the walk and its number)."""
        if walk_seeds is not None:
            where = {"walk": {"seeds": walk_seeds, "frames": opts.frames, "frame": int(item.label.rsplit(" ", 1)[1])}}
        else:
            where = {"seed": item.source}
        return provenance.make("generate", models, scale=scale_done, format=ext, **where)

    batch.run_items(plan, _stages(generator, upscaler, ext, opts.quality, thumbs if opts.grid else None, reporter.tick, record),
                    reporter, overwrite=opts.run.overwrite, batch_size=opts.batch_size, jobs=opts.parallel.jobs,
                    work=(lambda item: passes) if passes > 1 else None, unit="pass")
    if opts.grid is not None and thumbs:
        # In the plan's order, not the order the writers finished in.
        labels = [item.label for item in items] if walk_seeds is not None else (f"seed {s}" for s in seed_list)
        _write_grid(opts.grid, [thumbs[label] for label in labels if label in thumbs], reporter)
    if opts.animation is not None:
        _write_animation(opts.animation, [item.output for item in items], opts.fps, reporter)
    return reporter.finish(device=generator.device.name, seeds=_seeds_summary(seed_list))


def shard_seeds(seeds: Sequence[int], share: Optional[tuple[int, int]]) -> Sequence[int]:
    """This shard's seeds (or walk frames): those equal to K modulo N. A range stays a range,
    computed without visiting the others, so `-n 100000000 --shard 3/1000` starts at once."""
    if share is None:
        return seeds
    k, n = share
    if isinstance(seeds, range) and seeds.step == 1:
        return range(seeds.start + (k - seeds.start) % n, seeds.stop, n)
    return [s for s in seeds if s % n == k]


def _seeds_summary(seeds: Sequence[int]):
    """--json's record of the seeds: the list, or for a range its bounds."""
    if isinstance(seeds, range):
        return {"start": seeds.start, "stop": seeds.stop, "step": seeds.step, "count": len(seeds)}
    return list(seeds)


def _check_walk(opts: GenerateOptions) -> Optional[list[int]]:
    """The walk's seeds, or None without --walk; its options' usage errors either way."""
    if opts.walk is None:
        if opts.animation is not None:
            raise UsageError("--animation needs --walk")
        return None
    walk_seeds = parse_seeds(opts.walk)
    if len(walk_seeds) < 2:
        raise UsageError("--walk needs at least two seeds, e.g. 3,7,12")
    if opts.seeds is not None:
        raise UsageError("--walk and --seeds cannot be combined: a walk's frames are named walk-NNNN")
    options.check_positive("--frames", opts.frames)
    if not 0 < opts.fps <= 100:
        raise UsageError(f"--fps must be in (0, 100], got {opts.fps:g}")
    if opts.animation is not None:
        from landscape.imaging.video import VIDEO_EXTENSIONS, av_module

        if opts.animation.suffix.lower() not in (".webp", ".gif", *VIDEO_EXTENSIONS):
            raise UsageError(f"--animation {opts.animation}: the file must end in .webp, .gif or a video's "
                             f"({', '.join(VIDEO_EXTENSIONS)})")
        if opts.animation.suffix.lower() in VIDEO_EXTENSIONS:
            av_module()  # a missing PyAV said now, before the frames are made
        if opts.parallel.shard is not None:
            raise UsageError("--animation needs every frame: it cannot be combined with --shard")
    return walk_seeds


def _stages(generator, upscaler, ext: str, quality: int, thumbs: Optional[dict], tick, record):
    import numpy as np

    from landscape.cli import provenance
    from landscape.imaging.codec import encode, from_unit
    from landscape.cli.stages import Stages
    from landscape.cli.sheets import thumbnail
    from landscape.imaging.photo_meta import Meta

    def infer(sources: list) -> list:
        # The bar counts passes, and hears the tiles of the tiled ones (x16) as fractions of one.
        return generator.render(sources, upscaler, tick)

    def save(item: Item, pixels) -> Encoded:
        if pixels.dtype != np.uint8:  # quantised here, in a writer thread, not in the inference thread
            pixels = from_unit(pixels)
        # PNG and JPEG carry how the picture was made (a text chunk, a comment).
        meta = Meta(text={provenance.OWN_KEY: record(item)}) if ext in ("png", "jpg") else None
        data, notes = encode(pixels, ext, quality=quality, meta=meta)
        if thumbs is not None:
            thumbs[item.label] = thumbnail(pixels, GRID_THUMB)
        return Encoded(data, notes)

    return Stages(infer=infer, save=save)


def _write_animation(path: Path, frames: list[Path], fps: float, reporter: Reporter) -> None:
    """The walk's frames, read back in order from the files this run wrote or kept, as one
    animated picture (Pillow; written atomically)."""
    from PIL import Image

    from landscape.imaging.outputs import atomic_write

    present = [f for f in frames if f.exists()]
    if len(present) < len(frames):
        reporter.fail(str(path), f"{len(frames) - len(present)} frame(s) missing; no animation written")
        return
    from landscape.imaging.video import VIDEO_EXTENSIONS, Encoding, write_animation

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        import numpy as np

        codec = "libvpx-vp9" if path.suffix.lower() == ".webm" else "libx264"  # WebM holds no H.264
        write_animation(path, (np.asarray(Image.open(f).convert("RGB")) for f in present), fps, Encoding(codec=codec))
        reporter.note(f"animation of {len(present)} frames: {path}")
        return
    import io

    pictures = [Image.open(f).convert("RGB") for f in present]
    buffer = io.BytesIO()
    kind = "WEBP" if path.suffix.lower() == ".webp" else "GIF"
    extra = {"quality": 90, "method": 4} if kind == "WEBP" else {"optimize": False}
    pictures[0].save(buffer, format=kind, save_all=True, append_images=pictures[1:], duration=round(1000 / fps), loop=0, **extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
    reporter.note(f"animation of {len(pictures)} frames: {path}")


def _write_grid(path: Path, thumbs: list, reporter: Reporter) -> None:
    from landscape.cli.sheets import grid
    from landscape.imaging.codec import EXTENSION_FORMAT, encode
    from landscape.imaging.outputs import atomic_write

    fmt = EXTENSION_FORMAT.get(path.suffix.lower(), "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, encode(grid(thumbs), fmt)[0])
    reporter.note(f"grid of {len(thumbs)} images: {path}")
