"""Slim states: a few megabytes that continue a run on another machine (landscape/trainers/slim.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.train_helpers import COMMON, TINY_ARGS, make_pairs, make_photos, run_trainer, train_records
from landscape.trainers.checkpoint import load_checkpoint, module_state
from landscape.trainers.slim import SLIM_RULES, read_slim_state

pytestmark = pytest.mark.slow  # training runs resumed from slim states

PAIRED = ("pix2pix", "segmenter")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("slim-data")
    photos, maps = make_pairs(root / "pairs", count=16)
    return {"photos": make_photos(root / "photos", count=16), "pairs": photos, "maps": maps}


def train(family: str, data, out: Path, steps: int, *extra: str) -> tuple[int, Path]:
    source = ["--maps", str(data["maps"])] if family in PAIRED else []
    folder = data["pairs"] if family in PAIRED else data["photos"]
    return run_trainer(family, folder, out, *source, "--checkpoint-every", "10", *extra, steps=steps)


def evals(run: Path, key: str) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in records if r["kind"] == "eval"}


@pytest.mark.parametrize("family", list(SLIM_RULES))
def test_every_run_writes_a_half_precision_slim_state_that_exports(family, data, tmp_path):
    from landscape.export.exporter import export_checkpoint

    code, run = train(family, data, tmp_path / "run", 4)
    assert code == 0
    state = run / "slim.safetensors"
    tensors, config = read_slim_state(state)
    assert config["slim"]["kept"] == list(SLIM_RULES[family].keep)
    assert {name.split(".")[0] for name in tensors} == set(SLIM_RULES[family].keep)
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert config["train_state"]["step"] == 4 and "optimizers" not in config["train_state"]
    full = run / "checkpoints" / "step_0000004.safetensors"
    assert state.stat().st_size < full.stat().st_size / 2
    # The stored weights are the checkpoint's, rounded to fp16.
    full_tensors = load_checkpoint(full)[0]
    for name in SLIM_RULES[family].keep:
        for key, value in module_state(tensors, name).items():
            reference = module_state(full_tensors, name)[key]
            assert torch.allclose(value.float(), reference.float(), rtol=1e-3, atol=1e-4), key
    assert export_checkpoint(state, tmp_path / "model.onnx").path.is_file()


def test_a_run_resumed_from_its_slim_state_ends_near_the_run_that_never_stopped(data, tmp_path):
    """Pixel accuracy on the held-out maps after 40 more steps: within 0.03 of the uninterrupted
    run, where a run that did not get the weights back is 0.2 or more below it."""
    # A constant rate: a cosine schedule depends on --steps, so a 40-step run is not the first
    # half of an 80-step one.
    extra = ("--eval-every", "10", "--log-every", "10", "--lr-schedule", "constant")
    assert train("segmenter", data, tmp_path / "straight", 80, *extra)[0] == 0
    assert train("segmenter", data, tmp_path / "first", 40, *extra)[0] == 0
    code, resumed = train("segmenter", data, tmp_path / "resumed", 80, *extra, "--resume",
                          str(tmp_path / "first" / "slim.safetensors"), "--warmup-steps", "10")
    assert code == 0
    straight, first, after = (evals(r, "pixel_accuracy") for r in (tmp_path / "straight", tmp_path / "first", resumed))
    assert min(after) == 50 and set(after) == {50, 60, 70, 80}  # it went on from step 40
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in train_records(resumed)
               for r in [{k: v for k, v in r.items() if isinstance(v, float)}])
    assert abs(after[80] - straight[80]) <= 0.03, (after, straight)
    assert after[80] - first[40] >= 0.2, "the resumed run did not start from the state's weights"
    origin = json.loads((resumed / "config.json").read_text())["resumed_from"]
    assert origin["step"] == 40 and origin["restarted"] == []


def test_a_gan_resumed_from_its_slim_state_starts_from_the_ema_and_its_discriminator(data, tmp_path):
    assert train("dcgan", data, tmp_path / "first", 6)[0] == 0
    state = tmp_path / "first" / "slim.safetensors"
    # Nothing after step 6 is trained (--steps 7, one step): compare the weights the run started from.
    code, resumed = train("dcgan", data, tmp_path / "resumed", 7, "--resume", str(state), "--checkpoint-every", "1")
    assert code == 0
    saved = read_slim_state(state)[0]
    start = json.loads((resumed / "metrics.jsonl").read_text().splitlines()[0])
    assert start["kind"] == "start" and start["step"] == 6 and start["resumed_from"]["restarted"] == []
    losses = train_records(resumed)
    assert [r["step"] for r in losses] == [7] and all(abs(v) < 1e6 for k, v in losses[0].items() if k.endswith("loss"))
    after = load_checkpoint(resumed / "checkpoints" / "step_0000007.safetensors")[0]
    # One step at the warm-up's first learning rate (1/200 of the run's) barely moves anything.
    for live, stored in (("g", "g_ema"), ("d", "d")):
        for key, value in module_state(saved, stored).items():
            if value.is_floating_point() and "running_" not in key:  # batch statistics move in any train step
                assert torch.allclose(module_state(after, live)[key].float(), value.float(), atol=5e-3), (live, key)


def test_glcic_restarts_its_discriminators_and_rewarms_them_alone_first(data, tmp_path):
    assert train("glcic", data, tmp_path / "first", 4, "--phase-ratios", "0.4", "0")[0] == 0
    code, resumed = train("glcic", data, tmp_path / "resumed", 10, "--phase-ratios", "0.4", "0", "--resume",
                          str(tmp_path / "first" / "slim.safetensors"), "--d-rewarm-steps", "3")
    assert code == 0
    records = train_records(resumed)
    # Steps 5-7: the fresh discriminators alone; then the joint phase with the generator again.
    assert [set(r) >= {"g_mse"} for r in records] == [False, False, False, True, True, True]
    assert all("d_loss" in r for r in records)
    assert json.loads((resumed / "config.json").read_text())["resumed_from"]["restarted"] == ["d"]


@pytest.mark.parametrize("extra, message", [
    (("--lr", "0.01"), "cannot change --lr"),
    (("--steps", "4"), "--steps must be larger"),
])
def test_slim_resume_refuses_what_would_make_another_experiment(extra, message, data, tmp_path, capsys):
    assert train("segmenter", data, tmp_path / "first", 4)[0] == 0
    capsys.readouterr()
    code, out = train("segmenter", data, tmp_path / "again", 8, "--resume", str(tmp_path / "first" / "slim.safetensors"),
                      *extra)
    assert code == 2 and message in capsys.readouterr().err and not out.exists()


def test_a_slim_state_of_another_family_or_a_full_checkpoint_is_refused(data, tmp_path, capsys):
    assert train("segmenter", data, tmp_path / "first", 4)[0] == 0
    capsys.readouterr()
    code, _ = train("esrgan", data, tmp_path / "other", 8, "--resume", str(tmp_path / "first" / "slim.safetensors"))
    assert code == 2 and "a slim state of segmenter, not of esrgan or span" in capsys.readouterr().err
    full = tmp_path / "first" / "checkpoints" / "step_0000004.safetensors"
    code, _ = train("segmenter", data, tmp_path / "again", 8, "--resume", str(full))
    assert code == 2 and "not a slim state" in capsys.readouterr().err


def test_slim_state_from_an_older_checkpoint_with_the_command(data, tmp_path):
    from landscape.trainers.slim import main

    assert train("esrgan", data, tmp_path / "run", 3)[0] == 0
    out = tmp_path / "esrgan.safetensors"
    assert main([str(tmp_path / "run" / "checkpoints" / "step_0000003.safetensors"), str(out)]) == 0
    tensors, config = read_slim_state(out)
    assert config["slim"]["of"] == "step_0000003.safetensors" and set(tensors) == set(read_slim_state(
        tmp_path / "run" / "slim.safetensors")[0])
