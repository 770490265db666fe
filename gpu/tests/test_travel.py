"""The checkout travels to a GPU machine (64 MiB per run): what git tracks stays small, what
the GPU plan builds is ignored, and gpu/travel.py moves big files out and back."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Shipped inside the package, and the resumable states of the GPU runs (item 4 of the GPU
# plan): both have budgets of their own (tests/test_bundled_models.py, tests/test_slim_state.py).
OWN_BUDGETS = ("landscape/models/", "runs/slim/")


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


needs_git = pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                               reason="not a git checkout")


@needs_git
def test_tracked_files_outside_the_models_and_slim_states_stay_under_10_mb():
    total = 0
    for rel in git("ls-files", "-z").split("\0"):
        if rel and not rel.startswith(OWN_BUDGETS) and (ROOT / rel).is_file():
            total += (ROOT / rel).stat().st_size
    assert total < 10_000_000, f"{total / 1e6:.1f} MB tracked outside the models and runs/slim"


@needs_git
@pytest.mark.parametrize("path", [".gpu_data/photos/a.jpg", ".device/ort/part-00", "gpu_runs/pack.tar",
                                  "runs/some-run/checkpoints/step_0000100.safetensors",
                                  "runs/some-run/samples/step_0000100.png", "runs/some-run/model.onnx"])
def test_what_the_gpu_plan_builds_is_ignored(path):
    assert git("check-ignore", "--no-index", path).strip() == path


@needs_git
@pytest.mark.parametrize("path", ["runs/some-run/config.json", "runs/some-run/metrics.jsonl",
                                  "runs/some-run/preview.jpg", "runs/slim/esrgan.safetensors"])
def test_run_records_and_slim_states_are_tracked(path):
    result = subprocess.run(["git", "check-ignore", "--no-index", path], cwd=ROOT, capture_output=True)
    assert result.returncode == 1  # not ignored


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_stash_moves_big_tracked_files_out_and_restore_brings_them_back(tmp_path):
    repo = tmp_path / "repo"
    (repo / "gpu").mkdir(parents=True)
    shutil.copy(ROOT / "gpu" / "travel.py", repo / "gpu" / "travel.py")
    (repo / "big.bin").write_bytes(b"\1" * (2 << 20))
    (repo / "models").mkdir()
    (repo / "models" / "m.onnx").write_bytes(b"\2" * (1 << 20))
    (repo / "small.txt").write_text("kept\n")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x", cwd=repo)
    script = [sys.executable, str(repo / "gpu" / "travel.py")]

    subprocess.run(script + ["stash"], check=True, capture_output=True)
    assert not (repo / "big.bin").exists() and not (repo / "models" / "m.onnx").exists()
    assert (repo / "small.txt").exists()
    report = subprocess.run(script + ["report"], capture_output=True, text=True)
    assert report.returncode == 0 and "fits" in report.stdout

    (tmp_path / "repo-stash" / "big.bin").unlink()  # lost while away: git brings it back
    subprocess.run(script + ["restore"], check=True, capture_output=True)
    assert (repo / "big.bin").read_bytes() == b"\1" * (2 << 20)
    assert (repo / "models" / "m.onnx").read_bytes() == b"\2" * (1 << 20)
    assert not (tmp_path / "repo-stash").exists()
    assert git("status", "--porcelain", cwd=repo) == ""


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_report_counts_untracked_and_carried_files_and_fails_over_the_limit(tmp_path):
    repo = tmp_path / "repo"
    (repo / "gpu").mkdir(parents=True)
    shutil.copy(ROOT / "gpu" / "travel.py", repo / "gpu" / "travel.py")
    (repo / ".gitignore").write_text("/.device/\n")
    git("init", "-q", cwd=repo)
    (repo / "untracked.bin").write_bytes(b"\0" * (40 << 20))
    (repo / ".device").mkdir()
    (repo / ".device" / "part-00").write_bytes(b"\0" * (30 << 20))
    script = [sys.executable, str(repo / "gpu" / "travel.py"), "report"]
    alone = subprocess.run(script, capture_output=True, text=True)
    assert alone.returncode == 0 and "untracked.bin" in alone.stdout
    carried = subprocess.run(script + ["--carry", ".device"], capture_output=True, text=True)
    assert carried.returncode == 1 and "does NOT fit" in carried.stdout
