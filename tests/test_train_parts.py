"""The small pure pieces the trainers are built from."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import write_png
from landscape.trainers.data import EpochBatches, split_holdout
from landscape.trainers.degrade import Degradation, degrade
from landscape.trainers.diffaugment import diff_augment, parse_policy
from landscape.trainers.losses import d_loss, d_targets, gradient_penalty, relativistic_d_loss
from landscape.trainers.maps import IGNORE, load_table, read_labels
from landscape.trainers.masks import hole_box, random_mask
from landscape.trainers.metrics import frechet_distance, psnr, sliced_wasserstein, ssim

pytestmark = pytest.mark.slow  # training pieces on tensors


def test_holdout_split_is_fixed_by_seed_and_disjoint():
    items = [f"img{i}" for i in range(40)]
    train, held = split_holdout(items, 0.1, seed=3)
    assert (train, held) == split_holdout(items, 0.1, seed=3)
    assert len(held) == 4 and not set(train) & set(held) and sorted(train + held) == sorted(items)
    assert split_holdout(items, 0.1, seed=4)[1] != held


@pytest.mark.parametrize("world", [1, 2, 4])
def test_ranks_batches_together_equal_the_single_process_batch(world):
    single = EpochBatches(37, 8, rank=0, world=1, seed=5, epoch=2).batches
    per_rank = [EpochBatches(37, 8 // world, rank=r, world=world, seed=5, epoch=2).batches for r in range(world)]
    for step, batch in enumerate(single[: len(per_rank[0])]):
        assert sorted(batch) == sorted(k for r in range(world) for k in per_rank[r][step])


def test_cocostuff_and_ade20k_tables_map_to_landscape_classes(tmp_path):
    coco = load_table("cocostuff")
    assert coco[156] == 0 and coco[168] == 1 and coco[0] == 7 and coco[154] == 4  # sky-other, tree, person, sea
    assert coco[255] == IGNORE and coco[60] == 7  # unlabelled; a thing class (dining table) is foreground
    ade = load_table("ade20k")
    assert ade[3] == 0 and ade[17] == 6 and ade[0] == IGNORE
    labels = np.array([[156, 168], [255, 154]], np.uint8)
    write_png(tmp_path / "m.png", labels)
    assert read_labels(tmp_path / "m.png", coco).tolist() == [[0, 1], [IGNORE, 4]]


def test_custom_class_table_and_its_errors(tmp_path):
    (tmp_path / "t.json").write_text('{"7": "water", "9": null}')
    lut = load_table(str(tmp_path / "t.json"))
    assert lut[7] == 4 and lut[9] == IGNORE
    (tmp_path / "bad.json").write_text('{"7": "lava"}')
    with pytest.raises(ValueError, match="lava"):
        load_table(str(tmp_path / "bad.json"))


def test_colour_maps_read_by_palette_with_tolerance(tmp_path):
    from landscape.trainers.palette import LANDSCAPE_PALETTE

    img = np.zeros((2, 2, 3), np.uint8)
    img[0, 0] = LANDSCAPE_PALETTE[4]
    img[0, 1] = np.array(LANDSCAPE_PALETTE[0]) + 10  # off by a little: still sky
    img[1] = (255, 0, 255)  # no class
    write_png(tmp_path / "c.png", img)
    assert read_labels(tmp_path / "c.png", load_table("stanford")).tolist() == [[4, 0], [IGNORE, IGNORE]]


@pytest.mark.parametrize("kind", ["strokes", "rectangles", "mixed"])
def test_masks_cover_the_asked_area(kind):
    rng = np.random.default_rng(0)
    areas = [random_mask(64, 64, rng, area=(0.1, 0.4), kind=kind).mean() for _ in range(30)]
    assert min(areas) >= 0.1 and max(areas) <= 0.75 and np.median(areas) <= 0.5
    mask = random_mask(64, 64, np.random.default_rng(1), area=(0.2, 0.2), kind=kind)
    y, x = hole_box(mask, 32)
    assert 0 <= y <= 32 and 0 <= x <= 32 and mask[y : y + 32, x : x + 32].sum() > 0


def test_degradation_is_x4_and_each_option_changes_the_input():
    hr = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    plain = degrade(hr, Degradation(), np.random.default_rng(0))
    assert plain.shape == (16, 16, 3) and plain.dtype == np.uint8
    for option in ({"blur_prob": 1.0}, {"noise_prob": 1.0}, {"jpeg_prob": 1.0}):
        assert not np.array_equal(degrade(hr, Degradation(**option), np.random.default_rng(0)), plain), option


def test_diffaugment_policies():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    assert parse_policy("none") == () and parse_policy("color,cutout") == ("color", "cutout")
    with pytest.raises(ValueError):
        parse_policy("blur")
    cut = diff_augment(x, ("cutout",))
    assert ((cut == 0).flatten(1).float().mean(1) > 0.05).all()  # a square zeroed in every image
    shifted = diff_augment(x, ("translation",))
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    x.requires_grad_(True)
    diff_augment(x, ("color", "translation", "cutout")).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable: G learns through it


def test_label_tricks():
    real, fake = torch.zeros(1000), torch.zeros(1000)
    real_t, fake_t = d_targets(real, fake, smoothing=0.1, flip_prob=0.0)
    assert torch.all(real_t == 0.9) and torch.all(fake_t == 0)
    real_t, fake_t = d_targets(real, fake, smoothing=0.0, flip_prob=0.2)
    assert 0.1 < (real_t == 0).float().mean() < 0.3 and 0.1 < (fake_t == 1).float().mean() < 0.3


def test_losses_point_the_right_way():
    good, bad = torch.full((8,), 3.0), torch.full((8,), -3.0)
    for kind in ("bce", "hinge", "wgan"):
        assert d_loss(kind, good, bad) < d_loss(kind, bad, good)
    assert relativistic_d_loss(good, bad) < relativistic_d_loss(bad, good)
    linear = torch.nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        linear.weight.fill_(0.5)  # gradient norm exactly 1: no penalty
    assert float(gradient_penalty(lambda x: linear(x).squeeze(1), torch.randn(5, 4), torch.randn(5, 4)).detach()) < 1e-10


def test_metrics():
    img = torch.rand(2, 3, 32, 32)
    assert psnr(img, img) > 100 and abs(ssim(img, img) - 1) < 1e-9
    noisy = (img + 0.05 * torch.randn_like(img)).clamp(0, 1)
    assert 20 < psnr(noisy, img) < 35 and ssim(noisy, img) < 0.99
    hole = torch.zeros(2, 1, 32, 32)
    hole[..., :8, :8] = 1
    damaged = img.clone()
    damaged[..., :8, :8] = 0
    assert psnr(damaged, img, weight=hole) < psnr(damaged, img) < psnr(damaged, img, weight=1 - hole)
    feats = torch.randn(500, 8)
    assert frechet_distance(feats, feats) < 1e-6 and frechet_distance(feats, feats + 1) == pytest.approx(8, rel=0.05)
    assert sliced_wasserstein(img, img)["swd_mean"] < sliced_wasserstein(img, torch.rand(2, 3, 32, 32) * 0.2)["swd_mean"]


def test_ema_warms_up_then_holds_its_decay():
    from landscape.trainers.ema import EMA

    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(net.weight, 0.0)
    ema = EMA(net, 0.999)
    assert ema.decay_at(5, start=10) == 0.0 and ema.decay_at(10, start=10) == pytest.approx(0.1)
    assert ema.decay_at(100_000) == 0.999
    with torch.no_grad():
        net.weight.fill_(1.0)
    for step in range(500):
        ema.update(net, step)
    # After 500 steps the initial weights are gone from the average; with a fixed 0.999,
    # 0.999 ** 500 = 61% of it would still be the initial 0.
    assert float(ema.module.weight) > 0.999
