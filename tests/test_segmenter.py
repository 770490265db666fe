"""The labeller end to end: the segmenter trains and learns (sky vs grass), its metrics are
right on known confusions, it exports as a `label` model with classes and palette, and
`landscape label` writes palette or index maps the size of each photo."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.train_helpers import make_pairs, run_trainer
from landscape.trainers.palette import LANDSCAPE_PALETTE
from landscape.trainers.segmenter import colour_jitter, confusion, scores

pytestmark = pytest.mark.slow  # segmenter training runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    photos, maps = make_pairs(root / "data", count=16)
    code, run = run_trainer("segmenter", photos, root / "run", "--maps", str(maps), "--lr", "0.01", "--eval-every", "40", "--sample-every", "40",
                            steps=40)
    assert code == 0
    return photos, maps, run


def test_segmenter_learns_sky_from_grass(trained):
    _, _, run = trained
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["ce"] for r in records if r["kind"] == "train"]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    final = [r for r in records if r["kind"] == "eval"][-1]
    assert final["pixel_accuracy"] > 0.8 and 0 <= final["miou"] <= 1
    assert (run / "samples" / "step_0000040.png").is_file()


def test_scores_on_a_known_confusion():
    target = torch.tensor([0, 0, 0, 3, 3, 255])
    pred = torch.tensor([0, 0, 3, 3, 3, 0])
    s = scores(confusion(pred, target, 8))
    assert s["pixel_accuracy"] == pytest.approx(4 / 5)  # the ignored pixel does not count
    # sky: 2 / (3 + 2 - 2) ... IoU = tp / (pred + target - tp): sky 2/3, grass 2/3
    assert s["iou_sky"] == pytest.approx(2 / 3) and s["iou_grass"] == pytest.approx(2 / 3)
    assert s["miou"] == pytest.approx(2 / 3)


def test_colour_jitter_is_seeded_and_bounded():
    photo = torch.rand(3, 8, 8) * 2 - 1
    a = colour_jitter(photo, 0.3, np.random.default_rng(1))
    b = colour_jitter(photo, 0.3, np.random.default_rng(1))
    assert torch.equal(a, b) and not torch.equal(a, photo)
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(colour_jitter(photo, 0.0, np.random.default_rng(1)), photo)


def test_exported_labeller_writes_maps(trained, tmp_path, cli):
    from landscape.export.exporter import export_checkpoint
    from landscape.runtime.sessions import read_info

    photos, _, run = trained
    report = export_checkpoint(run / "checkpoints" / "step_0000040.safetensors", tmp_path / "label.onnx")
    info = read_info(report.path)
    assert info.task == "label" and len(info.classes) == 8 and info.palette == tuple(LANDSCAPE_PALETTE)
    res = cli("label", photos, "-o", tmp_path / "maps", "--model", report.path)
    assert res.exit_code == 0, res.stderr
    written = res.stdout.split()
    assert len(written) == 16
    palette = {tuple(c) for c in LANDSCAPE_PALETTE}
    for path in written[:4]:
        name = path.rsplit("/", 1)[1]
        with Image.open(path) as m, Image.open(photos / name) as p:
            assert m.size == p.size and m.mode == "RGB"
            assert {tuple(c) for c in np.asarray(m).reshape(-1, 3)} <= palette
    idx = cli("label", photos / "p00.png", "--index", "-o", tmp_path / "idx", "--model", report.path)
    assert idx.exit_code == 0, idx.stderr
    with Image.open(tmp_path / "idx" / "p00.png") as m:
        assert m.mode == "L" and np.asarray(m).max() < 8
    # The maps go straight back into translate's palette reader.
    assert cli("palette", "--model", report.path).exit_code == 0


def test_small_regions_merge_into_their_surroundings():
    from landscape.pipelines.label import merge_small_regions

    labels = np.zeros((40, 40), np.uint8)  # sky
    labels[20:] = 6  # mountain below
    labels[5:7, 5:7] = 2  # a 4-pixel speck of road in the sky
    labels[30:33, 30:33] = 5  # a 9-pixel speck of building on the mountain
    labels[22:30, 2:12] = 4  # an 80-pixel lake: kept
    out = merge_small_regions(labels, 10)
    assert (out[:20] == 0).all() and out[31, 31] == 6
    assert (out[22:30, 2:12] == 4).all() and out.dtype == labels.dtype
    assert np.array_equal(merge_small_regions(labels, 0), labels)
    assert np.array_equal(merge_small_regions(labels, 4), labels)  # nothing smaller than 4 pixels


def _small_regions_one_class_at_a_time(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """The plain statement of which pixels `merge_small_regions` must move."""
    import cv2

    small = np.zeros(labels.shape, bool)
    for k in np.unique(labels):
        _, regions, stats, _ = cv2.connectedComponentsWithStats((labels == k).astype(np.uint8), connectivity=4)
        small |= np.isin(regions, np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_pixels) + 1)
    return small


@pytest.mark.parametrize("seed", range(6))
def test_merging_moves_exactly_the_small_regions_to_a_kept_neighbours_class(seed):
    import cv2

    from landscape.pipelines.label import merge_small_regions

    rng = np.random.default_rng(seed)
    # Blobs of 8 classes at several scales: regions from 1 pixel to most of the map.
    coarse = rng.integers(0, 8, (6, 9), dtype=np.uint8)
    labels = cv2.resize(coarse, (90, 60), interpolation=cv2.INTER_NEAREST)
    specks = rng.random(labels.shape) < 0.03
    labels[specks] = rng.integers(0, 8, int(specks.sum()))
    for min_pixels in (2, 5, 40, 400):
        small = _small_regions_one_class_at_a_time(labels, min_pixels)
        out = merge_small_regions(labels, min_pixels)
        if small.all():
            assert np.array_equal(out, labels)
            continue
        assert np.array_equal(out[~small], labels[~small])
        # Each moved pixel takes the class of its nearest kept pixel.
        kept_y, kept_x = np.nonzero(~small)
        for y, x in zip(*np.nonzero(small)):
            d = (kept_y - y) ** 2 + (kept_x - x) ** 2
            nearest_classes = set(labels[kept_y[d <= d.min() * 1.1 + 2], kept_x[d <= d.min() * 1.1 + 2]].tolist())
            assert out[y, x] in nearest_classes


def test_argmax_and_colours_match_numpy():
    from landscape.pipelines.label import argmax_classes, colourise

    rng = np.random.default_rng(0)
    logits = rng.integers(0, 4, (8, 33, 47)).astype(np.float32)  # many ties: the first wins
    assert np.array_equal(argmax_classes(logits), logits.argmax(0))
    palette = tuple(tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(8))
    labels = logits.argmax(0).astype(np.uint8)
    assert np.array_equal(colourise(labels, palette), np.asarray(palette, np.uint8)[labels])


def test_min_region_is_validated(trained, tmp_path, cli):
    photos, _, _ = trained
    res = cli("label", photos, "--min-region", "100", "-o", tmp_path / "m")
    assert res.exit_code == 2 and "--min-region" in res.stderr and not (tmp_path / "m").exists()
