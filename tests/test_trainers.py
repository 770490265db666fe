"""Each family trains a few steps on tiny images: finite losses, moving weights, every
technique an option that changes what happens, checkpoints that export and run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.train_helpers import COMMON, TINY_ARGS, losses_only, make_pairs, make_photos, run_trainer, train_records
from landscape.trainers.checkpoint import load_checkpoint, module_state

pytestmark = pytest.mark.slow  # tiny training runs of every family


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("pairs"))


def checkpoint(run, step):
    return load_checkpoint(run / "checkpoints" / f"step_{step:07d}.safetensors")[0]


def moved(run, prefix, a=1, b=3) -> bool:
    first, last = module_state(checkpoint(run, a), prefix), module_state(checkpoint(run, b), prefix)
    # Parameters only: batch-norm statistics change on any forward pass in training mode.
    return any(not torch.equal(first[k], last[k]) for k in first if first[k].is_floating_point() and "running_" not in k)


def assert_healthy(run, nets=("g", "d")):
    records = train_records(run)
    assert records, "no metrics written"
    for r in records:
        for k, v in r.items():
            if k not in ("kind", "step"):
                assert math.isfinite(v), f"{k} at step {r['step']} is {v}"
    for net in nets:
        assert moved(run, net), f"{net} weights did not change"


def run_ok(family, data, tmp_path, *extra, steps=3, name="run"):
    code, run = run_trainer(family, data, tmp_path / name, *extra, steps=steps)
    assert code == 0
    return run


@pytest.fixture(scope="module")
def dcgan_baseline(photos, tmp_path_factory):
    return train_records(run_ok("dcgan", photos, tmp_path_factory.mktemp("base")))


# Each generator technique: training stays finite, the weights move, and the option
# changes the run compared with the defaults (it is not a no-op).
DCGAN_VARIANTS = {
    "classic-dcgan-64": ["--arch", "dcgan", "--resolution", "64", "--g-width", "2", "--d-width", "2"],
    "hinge": ["--loss", "hinge"],
    "wgan-clip-rmsprop": ["--loss", "wgan", "--d-steps", "2"],
    "wgan-gp": ["--loss", "wgan-gp", "--d-steps", "2", "--beta1", "0"],
    "label-smoothing": ["--label-smoothing", "0.1"],
    "noisy-labels": ["--flip-prob", "0.3"],
    "instance-noise": ["--instance-noise", "0.2"],
    "k-d-steps": ["--d-steps", "3"],
    "separate-lrs": ["--d-lr", "4e-4", "--g-lr", "1e-4"],
    "spectral-norm": ["--spectral-norm"],
    "self-attention": ["--self-attention", "--resolution", "64", "--g-width", "2", "--d-width", "2"],
    "minibatch-discrimination": ["--minibatch-discrimination"],
    "no-diffaugment": ["--diffaugment", "none"],
    "diffaugment-translation": ["--diffaugment", "translation"],
    "ema-from-start": ["--ema-start", "0", "--ema-decay", "0.5"],
}


@pytest.mark.parametrize("variant", list(DCGAN_VARIANTS))
def test_dcgan_variant_trains(variant, photos, tmp_path, dcgan_baseline):
    run = run_ok("dcgan", photos, tmp_path, *DCGAN_VARIANTS[variant])
    assert_healthy(run)
    if variant == "ema-from-start":
        ema, g = module_state(checkpoint(run, 3), "g_ema"), module_state(checkpoint(run, 3), "g")
        assert any(not torch.equal(ema[k], g[k]) for k in g if g[k].is_floating_point())
    else:
        assert losses_only(train_records(run)) != losses_only(dcgan_baseline), "the option changed nothing"


def test_self_attention_is_in_the_discriminator(photos, tmp_path):
    run = run_ok("dcgan", photos, tmp_path, *DCGAN_VARIANTS["self-attention"], steps=1)
    assert any(".gamma" in k for k in checkpoint(run, 1) if k.startswith("d."))


def test_wgan_clips_critic_weights(photos, tmp_path):
    run = run_ok("dcgan", photos, tmp_path, "--loss", "wgan", "--clip", "0.005")
    state = module_state(checkpoint(run, 3), "d")
    assert max(float(v.abs().max()) for k, v in state.items() if v.is_floating_point() and "running" not in k) <= 0.005
    assert json.loads((run / "config.json").read_text())["train"]["optimizer"] == "rmsprop"


def test_monitored_rule_holds_d_while_it_is_ahead(photos, tmp_path):
    # A ratio of 100 makes D "ahead" after the first step: it must not be updated again.
    run = run_ok("dcgan", photos, tmp_path, "--monitored", "--monitor-ratio", "100")
    assert [r["d_updates"] for r in train_records(run)] == [1.0, 0.0, 0.0]
    assert not moved(run, "d", 2, 3) and moved(run, "g", 2, 3)


def test_boost_bursts_train_one_side_only(photos, tmp_path):
    run = run_ok("dcgan", photos, tmp_path, "--boost-prob", "1", "--boost-length", "2", steps=4)
    sides = [("d_loss" in r, "g_loss" in r) for r in train_records(run)]
    assert all(d != g for d, g in sides), sides  # every step trained exactly one side


@pytest.mark.parametrize("bad", [
    ["--loss", "hinge", "--label-smoothing", "0.1"],
    ["--loss", "wgan-gp", "--minibatch-discrimination"],
    ["--arch", "dcgan", "--resolution", "32"],
    ["--diffaugment", "colour"],
    ["--batch-size", "0"],
])
def test_invalid_dcgan_options_are_usage_errors(bad, photos, tmp_path, capsys):
    code, run = run_trainer("dcgan", photos, tmp_path / "run", *bad)
    assert code == 2 and not run.exists()
    assert capsys.readouterr().err.count("\n") == 1


def test_pix2pix_index_maps(pairs, tmp_path):
    photos, maps = pairs
    run = run_ok("pix2pix", photos, tmp_path, "--maps", str(maps))
    assert_healthy(run)
    base = train_records(run)
    no_l1 = run_ok("pix2pix", photos, tmp_path, "--maps", str(maps), "--l1-weight", "0", name="l1")
    assert losses_only(train_records(no_l1)) != losses_only(base)
    assert (run / "split.json").is_file()


def test_pix2pix_colour_maps_and_dropout(tmp_path):
    photos, maps = make_pairs(tmp_path / "data", colour=True)
    run = run_ok("pix2pix", photos, tmp_path, "--maps", str(maps), "--dropout", "0", "--eval-every", "3", "--sample-every", "3")
    assert_healthy(run)
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert set(evals[0]) >= {"psnr", "ssim"} and (run / "samples" / "step_0000003.png").is_file()
    from PIL import Image

    with Image.open(run / "samples" / "step_0000003.png") as grid, Image.open(run / "preview.jpg") as preview:
        # The record keeps a JPEG of the grid's first rows (the grid itself is not tracked).
        assert preview.format == "JPEG" and preview.width == grid.width and preview.height <= grid.height


def test_pix2pix_multiscale_discriminator_and_feature_matching(pairs, tmp_path):
    photos, maps = pairs
    run = run_ok("pix2pix", photos, tmp_path, "--maps", str(maps), "--d-scales", "2", "--fm-weight", "10")
    assert_healthy(run)
    records = train_records(run)
    assert all(r["g_fm"] > 0 for r in records)
    assert moved(run, "d", 1, 3) and moved(run, "g", 1, 3)
    from landscape.trainers.checkpoint import load_checkpoint

    tensors = load_checkpoint(run / "checkpoints" / "step_0000003.safetensors")[0]
    assert any(k.startswith("d.scales.1.") for k in tensors)  # the half-size PatchGAN is trained too
    base = run_ok("pix2pix", photos, tmp_path, "--maps", str(maps), name="base")
    assert "g_fm" not in train_records(base)[0]


def test_pix2pix_unpaired_folder_is_a_usage_error(photos, tmp_path, capsys):
    (tmp_path / "maps").mkdir()
    code, run = run_trainer("pix2pix", photos, tmp_path / "run", "--maps", str(tmp_path / "maps"))
    assert code == 2 and "no images found" in capsys.readouterr().err and not run.exists()


def test_glcic_three_phases(photos, tmp_path):
    run = run_ok("glcic", photos, tmp_path, "--phase-ratios", "0.34", "0.33", "--eval-every", "6", steps=6)
    keys = [set(r) - {"kind", "step", "images_per_s"} for r in train_records(run)]
    assert keys[:2] == [{"g_mse"}] * 2  # phase 1: completion network alone, MSE in the hole
    assert keys[2:4] == [{"d_loss"}] * 2  # phase 2: the discriminators alone
    assert keys[4:] == [{"d_loss", "g_mse", "g_adv"}] * 2  # phase 3: joint
    assert moved(run, "g", 1, 2) and not moved(run, "g", 3, 4) and moved(run, "d", 3, 4)
    ckpt = checkpoint(run, 6)
    assert any(k.startswith("d.global_branch.") for k in ckpt) and any(k.startswith("d.local_branch.") for k in ckpt)
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert set(evals[0]) >= {"psnr_hole", "ssim_hole"}


def test_glcic_adversarial_weight_matters(photos, tmp_path):
    args = ["--phase-ratios", "0", "0"]
    a = run_ok("glcic", photos, tmp_path, *args, "--adv-weight", "0", name="a")
    b = run_ok("glcic", photos, tmp_path, *args, "--adv-weight", "1", name="b")
    assert [r["g_mse"] for r in train_records(a)][1:] != [r["g_mse"] for r in train_records(b)][1:]


def test_esrgan_psnr_phase_with_degradations(photos, tmp_path):
    run = run_ok("esrgan", photos, tmp_path, "--blur-prob", "0.5", "--noise-prob", "0.5", "--jpeg-prob", "0.5", "--eval-every", "3")
    assert_healthy(run, nets=("g",))
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    assert set(evals[0]) >= {"psnr_y", "ssim_y", "psnr_y_bicubic"}


@pytest.fixture(scope="module")
def fake_vgg19(tmp_path_factory):
    """VGG19-shaped weights (random: no download here); the loss only needs the features."""
    from safetensors.torch import save_file
    from torchvision.models import vgg19

    path = tmp_path_factory.mktemp("vgg") / "vgg19.safetensors"
    save_file({f"features.{k}": v.contiguous() for k, v in vgg19().features.state_dict().items()}, str(path))
    return path


def test_esrgan_gan_phase_uses_relativistic_and_perceptual_losses(photos, tmp_path, fake_vgg19):
    run = run_ok("esrgan", photos, tmp_path, "--gan-steps", "2", "--vgg-weights", str(fake_vgg19))
    records = train_records(run)
    assert set(records[0]) - {"kind", "step", "images_per_s"} == {"l1"}
    assert set(records[2]) >= {"l1", "g_adv", "perceptual", "d_loss"}
    assert_healthy(run, nets=("g",)) and moved(run, "d", 2, 3)


def test_esrgan_perceptual_loss_never_silently_skipped(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    code, run = run_trainer("esrgan", photos, tmp_path / "run", "--gan-steps", "2")
    err = capsys.readouterr().err
    assert code == 2 and not run.exists()
    assert "VGG19 weights" in err and "--vgg-weights" in err
    assert run_trainer("esrgan", photos, tmp_path / "run2", "--gan-steps", "2", "--perceptual-weight", "0")[0] == 0


def test_checkpoint_holds_training_state_and_no_pickle(photos, tmp_path):
    run = run_ok("dcgan", photos, tmp_path, steps=2)
    tensors, config = load_checkpoint(run / "checkpoints" / "step_0000002.safetensors")
    assert {"g.", "d.", "g_ema.", "opt.g.", "opt.d.", "rng.cpu."} <= {k.split(".")[0] + "." for k in tensors} | {
        ".".join(k.split(".")[:2]) + "." for k in tensors}
    assert config["train_state"]["step"] == 2 and config["weights"] == "g_ema"
    assert (run / "checkpoints" / "step_0000002.json").is_file()
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.pth")) and not list(run.rglob("*.pkl"))


def test_keep_last_deletes_older_checkpoints(photos, tmp_path):
    run = run_ok("dcgan", photos, tmp_path, "--keep-last", "2", steps=4)
    assert [p.name for p in sorted((run / "checkpoints").glob("*.safetensors"))] == ["step_0000003.safetensors", "step_0000004.safetensors"]


def test_run_folder_is_never_reused_and_config_is_written_first(photos, tmp_path, capsys):
    run = run_ok("dcgan", photos, tmp_path, steps=1)
    before = (run / "config.json").read_text()
    code, _ = run_trainer("dcgan", photos, run)
    assert code == 2 and "--resume" in capsys.readouterr().err
    assert (run / "config.json").read_text() == before
    assert json.loads(before)["train"]["steps"] == 1


def test_dry_run_validates_and_writes_nothing(photos, tmp_path, capsys):
    code, run = run_trainer("glcic", photos, tmp_path / "run", "--dry-run")
    assert code == 0 and not run.exists()
    plan = json.loads(capsys.readouterr().out)
    assert plan["phase_steps"] == {"completion": 1, "discriminator": 0, "joint": 2}
    assert plan["data"].endswith("(9 training, 3 held-out)")


def test_resume_refuses_changed_experiment_options(photos, tmp_path, capsys):
    import landscape.trainers.dcgan

    run = run_ok("dcgan", photos, tmp_path, steps=2)
    assert landscape.trainers.dcgan.main(["--resume", str(run), "--loss", "hinge"]) == 2
    assert "--loss" in capsys.readouterr().err


def test_nan_loss_stops_the_run_and_is_never_saved(photos, tmp_path, monkeypatch, capsys):
    import landscape.trainers.dcgan

    real = landscape.trainers.dcgan.g_loss
    calls = {"n": 0}

    def poisoned(kind, logits):
        calls["n"] += 1
        return real(kind, logits) * (float("nan") if calls["n"] >= 2 else 1.0)

    monkeypatch.setattr(landscape.trainers.dcgan, "g_loss", poisoned)
    code, run = run_trainer("dcgan", photos, tmp_path / "run", steps=4)
    err = capsys.readouterr().err
    assert code == 1 and "g_loss became NaN/Inf at step 2" in err
    assert [p.name for p in (run / "checkpoints").glob("*.safetensors")] == ["step_0000001.safetensors"]


def test_unreadable_image_is_reported_and_skipped(tmp_path, capsys):
    data = make_photos(tmp_path / "data")
    (data / "broken.png").write_bytes(b"not an image")
    code, run = run_trainer("dcgan", data, tmp_path / "run", steps=1)
    assert code == 0 and "broken.png: skipped" in capsys.readouterr().err
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) + len(split["held_out"]) == 12


def test_trained_checkpoints_export_and_run_in_the_cli(photos, pairs, tmp_path, cli):
    from landscape.export.exporter import export_checkpoint
    from tests.conftest import write_png
    from tests.train_helpers import landscape_like

    runs = {
        "generate": run_ok("dcgan", photos, tmp_path, steps=2, name="g"),
        "upscale": run_ok("esrgan", photos, tmp_path, steps=2, name="u"),
        "inpaint": run_ok("glcic", photos, tmp_path, steps=2, name="i"),
        "translate": run_ok("pix2pix", pairs[0], tmp_path, "--maps", str(pairs[1]), steps=2, name="t"),
    }
    models = {task: export_checkpoint(run / "checkpoints" / "step_0000002.safetensors", tmp_path / f"{task}.onnx").path
              for task, run in runs.items()}
    photo = write_png(tmp_path / "in" / "a.png", landscape_like(32, 32, 0))
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 255
    write_png(tmp_path / "masks" / "a.png", mask)
    out = tmp_path / "out"
    commands = {
        "generate": ["generate", "-n", "2", "-o", out / "g"],
        "upscale": ["upscale", photo, "-o", out / "u"],
        "inpaint": ["inpaint", photo, "--masks", tmp_path / "masks", "-o", out / "i"],
        "translate": ["translate", next(pairs[1].iterdir()), "-o", out / "t"],
    }
    for task, args in commands.items():
        result = cli(*args, "--model", models[task])
        assert result.exit_code == 0, (task, result.stderr)
        written = result.stdout.split()
        assert written and all(Path(w).is_file() for w in written), (task, written)


def test_landscape_train_forwards_options_and_help(photos, tmp_path, cli):
    help_text = cli("train", "dcgan", "--help")
    assert help_text.exit_code == 0 and "--diffaugment" in help_text.stdout and "--monitor-ratio" in help_text.stdout
    out = tmp_path / "run"
    result = cli("train", "inpaint", "--data", photos, "--out", out, "--steps", "1", *TINY_ARGS["glcic"], *COMMON)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out / "checkpoints" / "step_0000001.safetensors")
    assert cli("train", "esrgan", "--data", photos, "--bogus", "1").exit_code == 2
