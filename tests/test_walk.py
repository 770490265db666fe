"""`generate --walk`: frames through the given seeds' latents by spherical interpolation,
the same every time, upscaled when asked, and an animated picture of them."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from landscape.pipelines.generate import latents, slerp, walk_latents


def test_the_walk_passes_through_each_seed_and_keeps_latent_lengths():
    path = walk_latents([3, 7, 12], 5, 64)
    keys = latents([3, 7, 12], 64)
    assert path.shape == (11, 64)
    assert np.array_equal(path[0], keys[0]) and np.allclose(path[5], keys[1]) and np.array_equal(path[10], keys[2])
    norms = np.linalg.norm(path, axis=1)
    for leg in (norms[:6], norms[5:]):
        # Lengths run between the two ends'; a straight line would dip to ~0.7 of them midway.
        assert leg.min() >= min(leg[0], leg[-1]) - 1e-4 and leg.max() <= max(leg[0], leg[-1]) + 1e-4
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps.max() < 2 * steps.min()  # even steps along each leg


def test_slerp_of_equal_directions_is_a_line():
    a = np.ones(4, np.float32)
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)


def test_walk_frames_are_named_in_order_and_the_same_every_time(models, cli, tmp_path):
    args = ["generate", "--walk", "3,7,12", "--frames", 4, "--model", models["generate"]]
    first = cli(*args, "-o", tmp_path / "a")
    second = cli(*args, "-o", tmp_path / "b", "-b", 3)  # another batch size: the same frames
    assert first.exit_code == second.exit_code == 0, first.output
    names = [f"walk-{i:04d}.png" for i in range(9)]
    assert first.stdout.split() == [str(tmp_path / "a" / n) for n in names]
    for name in names:
        a, b = (np.asarray(Image.open(tmp_path / d / name)).astype(int) for d in ("a", "b"))
        assert np.abs(a - b).max() <= 1
    # A keyframe is its seed's own picture.
    single = cli("generate", "--seeds", "7", "--model", models["generate"], "-o", tmp_path / "s")
    assert single.exit_code == 0
    keyframe = np.asarray(Image.open(tmp_path / "a" / "walk-0004.png")).astype(int)
    assert np.abs(keyframe - np.asarray(Image.open(tmp_path / "s" / "seed000007.png")).astype(int)).max() <= 1


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_an_animation_holds_every_frame(suffix, models, cli, tmp_path):
    target = tmp_path / f"walk{suffix}"
    result = cli("generate", "--walk", "1,2", "--frames", 6, "--model", models["generate"], "--upscale",
                 "--upscale-model", models["upscale"], "-o", tmp_path / "f", "--animation", target, "--fps", 8)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == 7 and str(target) not in result.stdout and f"animation of 7 frames: {target}" in result.stderr
    with Image.open(target) as anim:
        assert anim.size == (64, 64)  # 16 px frames, upscaled x4
        if suffix == ".gif":
            durations = []
            for k in range(anim.n_frames):
                anim.seek(k)
                durations.append(anim.info["duration"])
            assert anim.n_frames == 7 and all(abs(d - 125) <= 10 for d in durations)  # GIF counts centiseconds
        else:
            # WebP merges identical neighbours into one longer frame (this tiny random
            # generator draws nearly flat pictures), so it may hold fewer frames, never more.
            assert anim.format == "WEBP" and 1 <= anim.n_frames <= 7
            anim.seek(anim.n_frames - 1)
            last = np.asarray(anim.convert("RGB")).astype(int)
            written = np.asarray(Image.open(tmp_path / "f" / "walk-0006.png").convert("RGB")).astype(int)
            assert np.abs(last - written).mean() < 8  # lossy, quality 90
    with Image.open(tmp_path / "f" / "walk-0000.png") as frame:
        assert frame.size == (64, 64)


@pytest.mark.parametrize("args, message", [
    (["--walk", "5"], "at least two seeds"),
    (["--walk", "1,2", "--seeds", "3"], "cannot be combined"),
    (["--animation", "x.webp"], "--animation needs --walk"),
    (["--walk", "1,2", "--animation", "x.png"], "must end in .webp, .gif or a video's"),
    (["--walk", "1,2", "--frames", "0"], "--frames must be >= 1"),
    (["--walk", "1,2", "--animation", "x.gif", "--shard", "0/2"], "cannot be combined with --shard"),
])
def test_walk_options_are_checked(args, message, models, cli, tmp_path):
    result = cli("generate", *args, "--model", models["generate"], "-o", tmp_path)
    assert result.exit_code == 2 and message in result.stderr and not list(tmp_path.iterdir())
