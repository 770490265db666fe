"""Faults in the middle of a folder run: SIGKILL at random moments, then a re-run, gives
the same bytes as a run never interrupted and leaves no temp file; a full disk stops the
batch with one clear line and keeps every file written before it. (SIGINT and a closed
stdout: tests/test_cli.py; a trainer killed mid-run and a truncated newest checkpoint:
tests/test_train_resume.py.)"""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import random_image, tree_digest, write_png

pytestmark = pytest.mark.slow  # runs killed at random moments and re-run

REPO = Path(__file__).resolve().parents[1]
COUNT = 60


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i in range(COUNT):
        write_png(folder / f"{i:03d}.png", random_image(40 + i % 7, 48, seed=i))
    return folder


def upscale(folder: Path, out: Path, model: Path) -> list[str]:
    return [sys.executable, "-m", "landscape", "upscale", str(folder), "-o", str(out), "--model", str(model), "-q"]


@pytest.fixture(scope="module")
def reference(folder, models, tmp_path_factory) -> tuple[dict[str, str], float]:
    """The outputs of an uninterrupted run, and how long that run took (once the model's
    compilation and bf16 verdict are cached, as they are for the runs that get killed)."""
    warm = tmp_path_factory.mktemp("warm-up")
    subprocess.run(upscale(folder, warm, models["upscale"]), check=True, cwd=REPO, timeout=300, capture_output=True)
    out = tmp_path_factory.mktemp("reference")
    start = time.monotonic()
    subprocess.run(upscale(folder, out, models["upscale"]), check=True, cwd=REPO, timeout=300, capture_output=True)
    return tree_digest(out), time.monotonic() - start


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_moment_then_rerun_gives_the_same_bytes(folder, models, reference, tmp_path, seed):
    digests, seconds = reference
    out = tmp_path / "out"
    rng = random.Random(seed)
    # Two killed runs in one output folder (the second redoes everything with --overwrite, so
    # it too dies mid-way, over files already there), then a plain run finishes the rest.
    for extra in ([], ["--overwrite"]):
        proc = subprocess.Popen(upscale(folder, out, models["upscale"]) + extra, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        # Killed on observed progress (written paths on stdout), not at a fraction of a
        # measured time: a run that is faster than the reference would end before the kill.
        wanted = rng.randint(COUNT // 5, COUNT * 3 // 4)
        written = sum(1 for _, _ in zip(range(wanted), proc.stdout))
        time.sleep(rng.uniform(0, 0.5) * seconds / COUNT)  # somewhere inside the next picture
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
        assert written == wanted and proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    finish = subprocess.run(upscale(folder, out, models["upscale"]), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr
    assert tree_digest(out) == digests
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left"


def test_a_full_disk_stops_the_batch_and_keeps_what_was_written(folder, models, reference, tmp_path, cli, monkeypatch):
    """ENOSPC from the fourth file on, as from a real full disk; in-process, so that the
    simulated disk can be swapped in under the writer."""
    real_fdopen = os.fdopen
    opened = []

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        opened.append(fd)
        return f if len(opened) <= 3 else FullDisk(f)

    monkeypatch.setattr("landscape.imaging.outputs.os.fdopen", fdopen)
    out = tmp_path / "out"
    res = cli("upscale", folder, "-o", out, "--model", models["upscale"])
    monkeypatch.undo()
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if "No space left on device" in line]
    assert len(errors) == 1 and "stopping (files written so far are complete)" in errors[0]
    written = tree_digest(out)
    assert len(written) == 3 and all(reference[0][name] == digest for name, digest in written.items())
    assert res.stdout.split() == [str(out / name) for name in sorted(written)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left"
