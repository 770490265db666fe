"""Runs that survive being killed, and runs spread over processes with torchrun (gloo, CPU)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train_helpers import COMMON, TINY_ARGS, losses_only, make_photos, run_trainer, train_records
from landscape.trainers.checkpoint import load_checkpoint, module_state

pytestmark = pytest.mark.slow  # training runs killed and resumed, torchrun processes

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("photos"), count=16)


def argv(family, data, out, steps, *extra):
    return ["--data", str(data), "--out", str(out), "--steps", str(steps), *TINY_ARGS[family], *COMMON,
            "--checkpoint-every", "20", *extra]


def test_killed_run_resumes_exactly(photos, tmp_path):
    # Boost bursts, instance noise and label noise all draw random numbers: all must resume
    # on the same streams for the losses to match.
    extra = ["--boost-prob", "0.05", "--instance-noise", "0.1", "--flip-prob", "0.05"]
    steps = 160
    # Every run in its own process with the same thread count: CPU reductions then add up in
    # the same order, and "exactly" can mean bit for bit.
    trainer = [sys.executable, "-m", "landscape.trainers.dcgan"]
    subprocess.run([*trainer, *argv("dcgan", photos, tmp_path / "straight", steps, *extra)], env=ENV, cwd=ROOT,
                   check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*trainer, *argv("dcgan", photos, killed, steps, *extra)],
                            env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((killed / "checkpoints").glob("step_0000040.safetensors")) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    saved = sorted((killed / "checkpoints").glob("step_*.safetensors"))
    assert saved and saved[-1].name < f"step_{steps:07d}.safetensors"
    # The newest checkpoint is damaged (say the disk filled): resume must fall back to the one before.
    saved[-1].write_bytes(saved[-1].read_bytes()[:1000])

    resumed = subprocess.run([*trainer, "--resume", str(killed)], env=ENV, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0 and "trying an older checkpoint" in resumed.stderr
    assert losses_only(train_records(killed)) == losses_only(train_records(tmp_path / "straight"))
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / f"step_{steps:07d}.safetensors")[0]
    b = load_checkpoint(killed / "checkpoints" / f"step_{steps:07d}.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng."))


def test_resume_can_extend_a_finished_run(photos, tmp_path):
    import landscape.trainers.esrgan

    assert landscape.trainers.esrgan.main(argv("esrgan", photos, tmp_path / "long", 6)) == 0
    assert landscape.trainers.esrgan.main(argv("esrgan", photos, tmp_path / "short", 3, "--checkpoint-every", "3")) == 0
    assert landscape.trainers.esrgan.main(["--resume", str(tmp_path / "short"), "--steps", "6"]) == 0
    assert losses_only(train_records(tmp_path / "short")) == losses_only(train_records(tmp_path / "long"))


def torchrun(family, args, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", f"landscape.trainers.{family}", *args]
    result = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_torchrun_two_processes_match_one_at_the_same_global_batch(photos, tmp_path):
    # The L1 phase of ESRGAN has no batch norm and no random numbers in the step, so two
    # processes with 2 images each must follow one process with 4 up to float rounding.
    steps = 4
    code, single = run_trainer("esrgan", photos, tmp_path / "single", "--checkpoint-every", "4", steps=steps)
    assert code == 0
    torchrun("esrgan", argv("esrgan", photos, tmp_path / "ddp", steps, "--checkpoint-every", "4"))
    one, two = train_records(single), train_records(tmp_path / "ddp")
    assert [r["step"] for r in two] == list(range(1, steps + 1))
    for r1, r2 in zip(one, two):
        assert abs(r1["l1"] - r2["l1"]) < 1e-5, (r1, r2)
    w1 = module_state(load_checkpoint(single / "checkpoints" / "step_0000004.safetensors")[0], "g")
    w2 = module_state(load_checkpoint(tmp_path / "ddp" / "checkpoints" / "step_0000004.safetensors")[0], "g")
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-5
    start = [line for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines() if '"start"' in line]
    assert len(start) == 1 and '"world_size": 2' in start[0]  # rank 0 alone logs


def test_torchrun_gan_with_gradient_penalty(photos, tmp_path):
    out = tmp_path / "gp"
    torchrun("dcgan", argv("dcgan", photos, out, 3, "--loss", "wgan-gp", "--d-steps", "2"))
    tensors, config = load_checkpoint(out / "checkpoints" / "step_0000003.safetensors")
    assert {"rng.cpu.0", "rng.cpu.1"} <= set(tensors) and config["train_state"]["world_size"] == 2


def test_time_budget_ends_the_run_like_its_last_step(photos, tmp_path, capsys):
    import landscape.trainers.esrgan

    out = tmp_path / "budget"
    # 0.0005 min = 30 ms: over after the first steps, far short of 500.
    assert landscape.trainers.esrgan.main(argv("esrgan", photos, out, 500, "--max-minutes", "0.0005", "--eval-every", "0")) == 0
    saved = sorted((out / "checkpoints").glob("step_*.safetensors"))
    last = int(saved[-1].stem.split("_")[1])
    assert 1 <= last < 500
    evals = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [last]
    assert "--max-minutes 0.0005 reached" in capsys.readouterr().err
