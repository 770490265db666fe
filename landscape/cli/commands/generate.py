"""`landscape generate`: new landscapes from seeds, optionally upscaled in the same pass."""
from pathlib import Path
from typing import Optional, Sequence

import typer
from typing_extensions import Annotated

from landscape.cli.commands import common
from landscape.errors import UsageError

GRID_THUMB = 256


def parse_seeds(spec: str) -> list[int]:
    """'0-99,120' -> [0, ..., 99, 120]; order kept, repeats dropped."""
    from landscape.pipelines.generate import MAX_SEED

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


def generate(
    count: Annotated[int, typer.Option("-n", "--count", help="How many images (seeds SEED .. SEED+N-1).")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="First seed; image i uses seed SEED+i.")] = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Explicit seeds, e.g. 0-99,120 (instead of -n/--seed).", show_default=False)] = None,
    upscale: Annotated[bool, typer.Option("--upscale", help="Chain the super-resolution model in memory (bundled: 4x).")] = False,
    scale: Annotated[Optional[int], typer.Option("--scale", help="With --upscale: the total factor, the upscaler's own "
                                                 "(default) or a power of it (x4 model: 4 or 16).", show_default=False)] = None,
    output: common.Output = Path("generated"),
    batch_size: common.BatchSize = 8,
    grid: Annotated[Optional[Path], typer.Option("--grid", help="Also write a contact sheet of this run's images to FILE.", show_default=False)] = None,
    walk: Annotated[Optional[str], typer.Option("--walk", help="A latent walk through these seeds' latents (e.g. 3,7,12), "
                                                 "by spherical interpolation: frames walk-0000.png, ...", show_default=False)] = None,
    frames: Annotated[int, typer.Option("--frames", help="With --walk: frames from each seed to the next.")] = 24,
    animation: Annotated[Optional[Path], typer.Option("--animation", help="With --walk: also write the frames as an "
                                                       "animated .webp or .gif.", show_default=False)] = None,
    fps: Annotated[float, typer.Option("--fps", help="With --animation: frames per second.")] = 12.0,
    model: common.ModelPath = None,
    upscale_model: common.UpscaleModel = None,
    fmt: common.Format = "png",
    quality: common.Quality = 95,
    overwrite: common.Overwrite = False,
    dry_run: common.DryRun = False,
    json_mode: common.Json = False,
    quiet: common.Quiet = False,
    null: common.Null = False,
    device: common.Device = "auto",
    threads: common.Threads = 0,
    backend: common.Backend = "auto",
    precision: common.Precision = "auto",
    shard: common.ShardOption = None,
    jobs: common.Jobs = "auto",
) -> None:
    """Generate landscapes; each file is named after its seed and can be remade alone. --walk
    makes the frames of a walk through seeds instead.

    Example: landscape generate -n 100 --upscale -o out/
    """
    args = dict(locals())  # the parameters, by name, before anything else is bound
    common.execute(lambda: _generate(**args))


def _generate(*, count, seed, seeds, upscale, scale, output, batch_size, grid, walk, frames, animation, fps, model,
              upscale_model, fmt, quality, overwrite, dry_run, json_mode, quiet, null, device, threads, backend, precision, shard, jobs) -> int:
    walk_seeds = _check_walk(walk, frames, animation, fps, seeds, shard)
    if walk_seeds is not None:
        seed_list = walk_seeds
    elif seeds is not None:
        seed_list = parse_seeds(seeds)
    else:
        from landscape.pipelines.generate import MAX_SEED

        common.check_positive("-n/--count", count, 0)
        if not 0 <= seed <= MAX_SEED - count:
            raise UsageError(f"--seed must be in 0..{MAX_SEED - count}")
        seed_list = range(seed, seed + count)  # never a list: -n may be 10^8
    if scale is not None and not upscale:
        raise UsageError("--scale needs --upscale")
    common.resolve_format(fmt, quality)
    ext = "png" if fmt == "keep" else fmt
    from landscape.shard import parse_shard

    share = parse_shard(shard)
    reporter = common.Reporter("generate", json_mode=json_mode, quiet=quiet, null=null)
    from landscape.api import Generator

    generator = common.open_task(reporter, common.Placement(device, threads, backend, precision), Generator, model,
                                 upscale_model=upscale_model, batch_size=batch_size)
    upscaler = generator.upscaler(scale) if upscale else None
    common.say_device(reporter, generator, *([upscaler] if upscaler else []))
    if walk_seeds is not None:
        from landscape.pipelines.generate import walk_latents

        path = walk_latents(walk_seeds, frames, generator.info.latent_dim or 0)
        frame_numbers = shard_seeds(range(len(path)), share)
        items = [common.Item(label=f"walk frame {i}", output=output / f"walk-{i:04d}.{ext}", source=path[i])
                 for i in frame_numbers]
        plan = common.Plan(items, len(items))
    else:
        seed_list = shard_seeds(seed_list, share)
        plan = common.Plan((common.Item(label=f"seed {s}", output=output / f"seed{s:06d}.{ext}", source=s)
                            for s in seed_list), len(seed_list))
    if dry_run:
        return common.print_plan(plan, reporter, overwrite=overwrite)
    from landscape.outputs import prepare_output_dir

    prepare_output_dir(output)
    thumbs: dict[str, object] = {}
    passes = upscaler.passes if upscaler else 0
    from landscape import provenance

    models = {"generate": generator.model, **({"upscale": upscaler.model} if upscaler else {})}
    scale_done = upscaler.scale if upscaler else None

    def record(item: common.Item) -> str:
        """What remakes this picture (the seed; for a walk frame, the walk and its number)."""
        if walk_seeds is not None:
            where = {"walk": {"seeds": walk_seeds, "frames": frames, "frame": int(item.label.rsplit(" ", 1)[1])}}
        else:
            where = {"seed": item.source}
        return provenance.make("generate", models, scale=scale_done, format=ext, **where)

    common.run_items(plan, _stages(generator, upscaler, ext, quality, thumbs if grid else None, reporter.tick, record),
                     reporter, overwrite=overwrite, batch_size=batch_size, jobs=jobs,
                     work=(lambda item: passes) if passes > 1 else None, unit="pass")
    if grid is not None and thumbs:
        # In the plan's order, not the order the writers finished in.
        labels = [item.label for item in items] if walk_seeds is not None else (f"seed {s}" for s in seed_list)
        _write_grid(grid, [thumbs[label] for label in labels if label in thumbs], reporter)
    if animation is not None:
        _write_animation(animation, [item.output for item in items], fps, reporter)
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


def _check_walk(walk, frames, animation, fps, seeds, shard) -> Optional[list[int]]:
    """The walk's seeds, or None without --walk; its options' usage errors either way."""
    if walk is None:
        if animation is not None:
            raise UsageError("--animation needs --walk")
        return None
    walk_seeds = parse_seeds(walk)
    if len(walk_seeds) < 2:
        raise UsageError("--walk needs at least two seeds, e.g. 3,7,12")
    if seeds is not None:
        raise UsageError("--walk and --seeds cannot be combined: a walk's frames are named walk-NNNN")
    common.check_positive("--frames", frames)
    if not 0 < fps <= 100:
        raise UsageError(f"--fps must be in (0, 100], got {fps:g}")
    if animation is not None:
        if animation.suffix.lower() not in (".webp", ".gif"):
            raise UsageError(f"--animation {animation}: the file must end in .webp or .gif")
        if shard is not None:
            raise UsageError("--animation needs every frame: it cannot be combined with --shard")
    return walk_seeds


def _stages(generator, upscaler, ext: str, quality: int, thumbs: Optional[dict], tick, record):
    import numpy as np

    from landscape import provenance
    from landscape.imaging import encode, from_unit
    from landscape.overlap import Stages
    from landscape.photo_meta import Meta

    def infer(sources: list) -> list:
        # The bar counts passes, and hears the tiles of the tiled ones (x16) as fractions of one.
        return generator.render(sources, upscaler, tick)

    def save(item: common.Item, pixels) -> common.Encoded:
        if pixels.dtype != np.uint8:  # quantised here, in a writer thread, not in the inference thread
            pixels = from_unit(pixels)
        # PNG and JPEG carry how the picture was made (a text chunk, a comment).
        meta = Meta(text={provenance.KEY: record(item)}) if ext in ("png", "jpg") else None
        data, notes = encode(pixels, ext, quality=quality, meta=meta)
        if thumbs is not None:
            thumbs[item.label] = _thumbnail(pixels)
        return common.Encoded(data, notes)

    return Stages(infer=infer, save=save)


def _write_animation(path: Path, frames: list[Path], fps: float, reporter: common.Reporter) -> None:
    """The walk's frames, read back in order from the files this run wrote or kept, as one
    animated picture (Pillow; written atomically)."""
    from PIL import Image

    from landscape.outputs import atomic_write

    present = [f for f in frames if f.exists()]
    if len(present) < len(frames):
        reporter.fail(str(path), f"{len(frames) - len(present)} frame(s) missing; no animation written")
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


def _thumbnail(pixels):
    import cv2

    h, w = pixels.shape[:2]
    factor = min(1.0, GRID_THUMB / max(h, w))
    if factor == 1.0:
        return pixels
    return cv2.resize(pixels, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)


def _write_grid(path: Path, thumbs: list, reporter: common.Reporter) -> None:
    import math

    import numpy as np

    from landscape.imaging import EXTENSION_FORMAT, encode
    from landscape.outputs import atomic_write

    cols = math.ceil(math.sqrt(len(thumbs)))
    rows = math.ceil(len(thumbs) / cols)
    th, tw = max(t.shape[0] for t in thumbs), max(t.shape[1] for t in thumbs)
    sheet = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    for i, thumb in enumerate(thumbs):
        r, c = divmod(i, cols)
        sheet[r * th : r * th + thumb.shape[0], c * tw : c * tw + thumb.shape[1]] = thumb
    ext = path.suffix.lower().lstrip(".")
    fmt = EXTENSION_FORMAT.get("." + ext, "png")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, encode(sheet, fmt)[0])
    reporter.note(f"grid of {len(thumbs)} images: {path}")
