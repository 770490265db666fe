"""Any size of work, any file in the folder: plans stream (the first picture comes at once and
memory stays flat with the size of the run), and only regular files of a bounded size are
read. Each case has a time limit and a memory ceiling."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.streaming import fill_folder, first_output, small_png
from landscape.cli import options
from landscape.imaging.codec import default_max_bytes
from tests.conftest import random_image, write_png

REPO = Path(__file__).resolve().parents[1]
CEILING_MB = 300  # peak memory of a run that meets a FIFO, a device or an oversized file
# Bounds for a loaded 2-core CI machine; benchmarks/streaming.py measures the real figures.
FIRST_OUTPUT_S = 10.0
FLAT_MB = 50


def run_measured(args: list[str], timeout: float = 60) -> tuple[subprocess.CompletedProcess, float, float]:
    """A CLI run in a child that reports its peak RSS: (result, seconds, peak MB)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr); sys.stdout.write(r.stdout); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "landscape", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)
    seconds = time.perf_counter() - start
    *lines, rss = done.stderr.strip().splitlines()
    done.stderr = "\n".join(lines)
    return done, seconds, int(rss) / 1024


@pytest.fixture()
def folder(tmp_path) -> Path:
    folder = tmp_path / "in"
    for name in ("a.png", "c.png"):
        write_png(folder / name, random_image(16, 16))
    return folder


@pytest.mark.parametrize("make, reason", [
    (lambda p: os.mkfifo(p), "a FIFO (named pipe)"),
    (lambda p: os.truncate(open(p, "wb").name, 3 << 30), "over the limit of"),
])
def test_a_fifo_or_a_huge_file_in_a_folder_gets_one_line(folder, tmp_path, models, make, reason):
    make(folder / "b.png")
    done, seconds, rss = run_measured(["upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"]])
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if "b.png" in line]
    assert len(lines) == 1 and reason in lines[0], done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    assert rss < CEILING_MB and seconds < 30


@pytest.mark.parametrize("given", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_given_by_name_is_not_opened(folder, tmp_path, models, given):
    if given == "fifo":
        given = tmp_path / "pipe.png"
        os.mkfifo(given)
    done, seconds, rss = run_measured(["upscale", given, folder / "a.png", "-o", tmp_path / "out", "--model", models["upscale"]])
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if str(given) in line]
    assert len(lines) == 1 and "not a regular file" in lines[0] and "not read" in lines[0]
    assert (tmp_path / "out" / "a.png").exists() and rss < CEILING_MB and seconds < 30


def test_a_large_non_image_costs_milliseconds(tmp_path):
    """A 700 MB file (under the size bound) that is not a picture is refused from its first
    bytes, without reading the rest."""
    from landscape.errors import ItemError
    from landscape.imaging.codec import decode

    path = tmp_path / "video.png"
    with open(path, "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42")
        f.truncate(700 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ItemError, match="not an image"):
        decode(path, max_pixels=options.DEFAULT_MAX_PIXELS)
    assert time.perf_counter() - start < 0.1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20_000  # KB


def test_max_bytes_is_derived_from_max_pixels_and_can_be_set(tmp_path, folder, models, cli):
    assert default_max_bytes(100_000_000) == 816_777_216
    res = cli("upscale", folder / "a.png", "-o", tmp_path / "out", "--max-bytes", 100, "--model", models["upscale"])
    assert res.exit_code == 1 and "over the limit of 100 for a picture" in res.stderr
    assert cli("upscale", folder, "-o", tmp_path / "o", "--max-bytes", -1).exit_code == 2


def test_generate_at_ten_to_the_eighth_starts_at_once(tmp_path, models):
    small = first_output(["generate", "-n", "100", "-o", str(tmp_path / "a"), "--model", str(models["generate"])])
    huge = first_output(["generate", "-n", str(10**8), "-o", str(tmp_path / "b"), "--model", str(models["generate"])])
    assert huge[0] < FIRST_OUTPUT_S and huge[1] < small[1] + 10
    plan = subprocess.run([sys.executable, "-m", "landscape", "generate", "-n", str(10**8), "--seed", "5",
                           "--shard", "3/1000", "--dry-run", "--model", str(models["generate"])],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = plan.stdout.split(b"\n", 1)[0].decode()
    assert first.startswith("seed 1003\t")  # this shard's own seeds, computed (seed % 1000 == 3)


def test_generate_shards_cover_the_seeds_exactly_once(tmp_path, cli, models):
    from landscape.cli.commands.generate import shard_seeds

    seen = sorted(s for k in range(7) for s in shard_seeds(range(12, 140), (k, 7)))
    assert seen == list(range(12, 140))
    assert list(shard_seeds([5, 9, 12], (2, 7))) == [9]


@pytest.mark.slow
def test_a_folder_of_100000_files_starts_at_once_with_flat_memory(tmp_path, models):
    picture = small_png()
    small, big = tmp_path / "small", tmp_path / "big"
    fill_folder(small, 100, picture)
    fill_folder(big, 100_000, picture)
    args = ["--model", str(models["upscale"])]
    _, small_rss = first_output(["upscale", str(small), "-o", str(tmp_path / "o1"), *args])
    seconds, big_rss = first_output(["upscale", str(big), "-o", str(tmp_path / "o2"), *args])
    assert seconds < FIRST_OUTPUT_S and big_rss < small_rss + FLAT_MB
    plan = subprocess.run([sys.executable, "-m", "landscape", "upscale", str(big), "--dry-run", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0 and plan.stdout.count("\twrite\n") == 100_000
