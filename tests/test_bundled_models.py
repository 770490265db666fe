"""The models shipped inside the package: present, matching their manifest, documented,
within the size budget, and doing the main job with no --model at all."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landscape.runtime import sessions
from landscape.runtime.model_contract import TASKS

REPO = Path(__file__).resolve().parents[1]

SIZE_BUDGET_BYTES = 60 * 1000 * 1000
MAIN_JOB_TASKS = ("generate", "upscale")
WORKFLOW_TASKS = ("label", "translate", "inpaint")

MANIFEST = sessions.read_manifest()


def test_the_main_job_models_ship():
    shipped = {e["task"] for e in MANIFEST}
    assert set(MAIN_JOB_TASKS) <= shipped and set(WORKFLOW_TASKS) <= shipped, f"bundled tasks: {sorted(shipped)}"
    assert shipped <= set(TASKS)
    defaults = [e["task"] for e in MANIFEST if e.get("default", True)]
    assert sorted(defaults) == sorted(shipped), "one default per task"
    assert sorted(e["scale"] for e in MANIFEST if e["task"] == "upscale") == [2, 4], "the upscalers: x4 (default) and x2"


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_bundled_file_matches_manifest_and_has_a_card(entry):
    folder = sessions.bundled_dir()
    path = folder / entry["file"]
    assert sessions.sha256_file(path) == entry["sha256"]
    assert (sessions.bundled_model(entry["task"]) == path) == entry.get("default", True)
    card = (folder / entry["card"]).read_text()
    # A card names its file, the data and its terms, and held-out figures.
    for needle in (entry["file"], "Data", "terms", "Metrics", "Hardware"):
        assert needle in card, f"{entry['card']} lacks {needle!r}"
    info = sessions.read_info(path)
    assert info.task == entry["task"]
    training = info.raw["training"]
    # Trained here, or published weights whose source and licence the metadata names.
    assert training["step"] > 0 or ("published weights" in training["data"] and "Apache-2.0" in training["data"]), training
    assert info.scale == entry.get("scale", info.scale)


def test_bundled_models_fit_the_size_budget():
    folder = sessions.bundled_dir()
    assert sum((folder / e["file"]).stat().st_size for e in MANIFEST) < SIZE_BUDGET_BYTES


def test_models_command_lists_every_bundled_model(cli):
    result = cli("models", "show", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(Path(r["file"]).name for r in rows if r["origin"] == "bundled") == sorted(e["file"] for e in MANIFEST)


def test_main_job_with_bundled_models_writes_512px_pictures(cli, tmp_path):
    out = tmp_path / "gen"
    result = cli("generate", "-n", "3", "--upscale", "-o", out)
    assert result.exit_code == 0, result.stderr
    written = result.stdout.split()
    assert len(written) == 3
    pictures = [np.asarray(Image.open(p)) for p in written]
    assert all(p.shape == (512, 512, 3) for p in pictures)
    # Real pictures: not flat, and not all alike.
    assert all(p.std() > 10 for p in pictures)
    assert np.abs(pictures[0].astype(int) - pictures[1]).mean() > 5


def test_bundled_upscaler_beats_bicubic_on_the_sample_photos(cli, tmp_path):
    """The sample photos (drawn by scripts/make_samples.py) downscaled 4x and brought back:
    the shipped upscaler must come closer to them than bicubic does (a trained model, not an
    identity or noise)."""
    small = tmp_path / "small"
    small.mkdir()
    originals = {}
    for path in sorted((REPO / "samples" / "photos").glob("*.png")):
        hr = Image.open(path).convert("RGB")
        hr = hr.crop((0, 0, hr.width // 4 * 4, hr.height // 4 * 4))
        originals[path.name] = np.asarray(hr, np.float64)
        hr.resize((hr.width // 4, hr.height // 4), Image.BICUBIC).save(small / path.name)
    result = cli("upscale", small, "-o", tmp_path / "up")
    assert result.exit_code == 0, result.stderr
    for name, target in originals.items():
        up = np.asarray(Image.open(tmp_path / "up" / name).convert("RGB"), np.float64)
        bicubic = np.asarray(Image.open(small / name).resize(target.shape[1::-1], Image.BICUBIC), np.float64)
        assert up.shape == target.shape
        errors = [float(((a - target)[4:-4, 4:-4] ** 2).mean()) for a in (up, bicubic)]
        assert errors[0] < errors[1], (name, errors)


@pytest.mark.parametrize("factor,plan,size", [(None, (4,), (20, 28)), (2, (2,), (10, 14)), (3, (4,), (15, 21)),
                                              (1.5, (2,), (8, 11)), (8, (2, 4), (40, 56)), (16, (4, 4), (80, 112))])
def test_the_bundled_set_runs_the_models_a_factor_needs(factor, plan, size):
    import landscape

    up = landscape.Upscaler(scale=factor, precision="fp32")
    files = {4: "upscale.onnx", 2: "upscale_x2.onnx"}
    assert up.plan == plan and [m.path.name for m in up.models] == [files[f] for f in plan]
    assert up(np.zeros((5, 7, 3), np.uint8)).shape == (*size, 3)


def test_bundled_x2_upscaler_beats_bicubic_on_the_sample_photos(tmp_path):
    import landscape

    up = landscape.Upscaler(scale=2, precision="fp32")
    for path in sorted((REPO / "samples" / "photos").glob("*.png")):
        hr = Image.open(path).convert("RGB")
        hr = hr.crop((0, 0, hr.width // 2 * 2, hr.height // 2 * 2))
        target = np.asarray(hr, np.float64)
        small = hr.resize((hr.width // 2, hr.height // 2), Image.BICUBIC)
        bicubic = np.asarray(small.resize(hr.size, Image.BICUBIC), np.float64)
        made = up(np.asarray(small)).astype(np.float64)
        errors = [float(((a - target)[2:-2, 2:-2] ** 2).mean()) for a in (made, bicubic)]
        assert errors[0] < 0.9 * errors[1], (path.name, errors)


def test_bundled_labeller_translator_and_inpainter_run_on_the_samples(cli, tmp_path):
    """The photo -> map -> photo workflow with no --model: label the sample photos, translate the sample maps,
    inpaint the sample photos; each output has its input's size and real content."""
    samples = REPO / "samples"
    labelled = cli("label", samples / "photos", "-o", tmp_path / "maps")
    assert labelled.exit_code == 0, labelled.stderr
    for path in labelled.stdout.split():
        labels = np.asarray(Image.open(path))
        with Image.open(samples / "photos" / Path(path).name) as photo:
            assert labels.shape[:2] == (photo.height, photo.width)
        assert len(np.unique(labels.reshape(-1, 3), axis=0)) >= 2

    translated = cli("translate", samples / "maps", "-o", tmp_path / "photos")
    assert translated.exit_code == 0, translated.stderr
    made = [np.asarray(Image.open(p).convert("RGB"), np.float64) for p in translated.stdout.split()]
    assert len(made) == len(list((samples / "maps").glob("*.png"))) and all(m.std() > 10 for m in made)

    inpainted = cli("inpaint", samples / "photos", "--masks", samples / "masks", "-o", tmp_path / "filled")
    assert inpainted.exit_code == 0, inpainted.stderr
    for path in inpainted.stdout.split():
        name = Path(path).name
        original = np.asarray(Image.open(samples / "photos" / name).convert("RGB"), np.float64)
        hole = np.asarray(Image.open(samples / "masks" / name).convert("L")) > 127
        filled = np.asarray(Image.open(path).convert("RGB"), np.float64)
        assert filled.shape == original.shape
        # Better than painting the hole with the picture's mean colour outside it.
        flat = np.abs(original[hole] - original[~hole].mean(0)).mean()
        assert np.abs(filled[hole] - original[hole]).mean() < flat, name
