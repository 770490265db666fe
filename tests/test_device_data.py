"""Training data made on the device (landscape/trainers/device_data.py), checked on the CPU against the
CPU path it replaces: same crops, same maps, same holes, same degradations within stated
tolerances, and batches that a resumed stream makes again."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tests.train_helpers import TINY_ARGS, make_pairs, make_photos, run_trainer, train_records
from landscape.trainers import device_data as dd
from landscape.trainers.data import Crop, apply_crop
from landscape.trainers.degrade import Degradation, bicubic_down
from landscape.trainers.maps import IGNORE
from landscape.trainers.masks import hole_box

pytestmark = pytest.mark.slow  # training data pipelines on tensors

CPU = torch.device("cpu")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth content with edges: what resampling filters differ on least (noise would
    measure the filters' differences, not the crop)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("side, size", [(96, 48), (64, 64), (40, 64)])
def test_crops_match_the_cpu_path(side, size):
    img = photo(90, 130)
    images = dd.DeviceImages([photo(50, 60, 1), img], CPU)
    boxes = torch.tensor([[10.0, 20.0, min(side, 80)]])
    out = dd.crop_resize(images, torch.tensor([1]), boxes, size)[0].permute(1, 2, 0).numpy()
    reference = apply_crop(img, Crop(10, 20, min(side, 80), False), size).astype(np.float32)
    # Area filter vs roi_align's sample averaging when shrinking, cubic vs bilinear when growing.
    assert np.abs(out - reference).mean() < 4.0


def test_map_crops_are_nearest_neighbour_and_padding_is_ignored():
    labels = np.random.default_rng(0).integers(0, 8, (40, 50)).astype(np.uint8)
    images = dd.DeviceImages([labels, np.zeros((60, 20), np.uint8)], CPU, fill=IGNORE)
    assert images.pixels.shape == (2, 60, 50, 1) and int(images.pixels[1, 0, 30, 0]) == IGNORE
    for side, size in ((40, 20), (20, 40), (32, 32)):
        out = dd.crop_nearest(images, torch.tensor([0]), torch.tensor([[0.0, 5.0, side]]), size)[0, 0].numpy()
        # Pixel-centre sampling, as OpenCV's INTER_NEAREST_EXACT (the CPU path's INTER_NEAREST
        # samples at pixel corners, half a source pixel up and left).
        reference = cv2.resize(labels[0:side, 5:5 + side], (size, size), interpolation=cv2.INTER_NEAREST_EXACT)
        assert np.array_equal(out, reference)


def test_square_boxes_stay_inside_and_cover_the_asked_share():
    sizes = torch.tensor([[40, 60], [100, 30], [64, 64]] * 50)
    boxes = dd.square_boxes(sizes, 0.5, gen())
    y, x, side = boxes.unbind(1)
    short = sizes.min(1).values.float()
    assert (y >= 0).all() and (x >= 0).all()
    assert (y + side <= sizes[:, 0]).all() and (x + side <= sizes[:, 1]).all()
    area = (side / short) ** 2
    assert area.min() >= 0.45 and area.max() <= 1.0 and area.std() > 0.05
    centred = dd.square_boxes(sizes[:3], 0.5, gen(), train=False)
    assert centred.tolist() == [[0, 10, 40], [35, 0, 30], [0, 0, 64]]


def test_fixed_crops_are_exact_pixels():
    img = photo(70, 90)
    images = dd.DeviceImages([img], CPU)
    out = dd.crop_fixed(images, torch.tensor([0, 0, 0]), 32, gen())
    for crop in out:
        patch = crop.permute(1, 2, 0).numpy()
        found = [(y, x) for y in range(39) for x in range(59) if np.array_equal(img[y:y + 32, x:x + 32], patch)]
        assert found
    centre = dd.crop_fixed(images, torch.tensor([0]), 32, gen(), train=False)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(centre, img[19:51, 29:61])


def test_degradation_without_extras_is_the_cpu_bicubic_downscale():
    hr = photo(64, 96, 3)
    lr = dd.degrade(torch.from_numpy(hr).permute(2, 0, 1)[None], Degradation(), gen())[0].permute(1, 2, 0).numpy()
    reference = bicubic_down(hr)
    assert lr.shape == reference.shape == (16, 24, 3)
    difference = np.abs(lr.astype(int) - reference.astype(int))
    assert difference.max() <= 3 and difference.mean() < 0.5


def test_blur_matches_opencv_and_zero_sigma_is_identity():
    img = photo(48, 48, 4).astype(np.float32)
    batch = torch.from_numpy(np.stack([img, img])).permute(0, 3, 1, 2)
    out = dd.gaussian_blur(batch, torch.tensor([1.5, 0.0]))
    reference = cv2.GaussianBlur(img, (0, 0), 1.5, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(out[0].permute(1, 2, 0).numpy() - reference).mean() < 0.5
    assert torch.allclose(out[1], batch[1], atol=1e-3)


def test_noise_and_jpeg_degrade_every_image_when_asked():
    hr = torch.from_numpy(np.stack([photo(64, 64, s) for s in range(4)])).permute(0, 3, 1, 2)
    clean = dd.degrade(hr, Degradation(), gen())
    noisy = dd.degrade(hr, Degradation(noise_prob=1.0, noise_sigma=(10.0, 10.0)), gen())
    jpeg = dd.degrade(hr, Degradation(jpeg_prob=1.0, jpeg_quality=(20, 20)), gen())
    assert 6 < (noisy.float() - clean.float()).std() < 14
    from torchvision.io import decode_jpeg, encode_jpeg

    for got, before in zip(jpeg, clean):
        assert torch.equal(got, decode_jpeg(encode_jpeg(before, quality=20)))
    assert not torch.equal(jpeg, clean)


@pytest.mark.parametrize("kind", ["strokes", "rectangles", "mixed"])
def test_masks_cover_the_drawn_share(kind):
    masks = dd.random_masks(24, 64, 64, gen(), area=(0.1, 0.4), kind=kind)
    cover = masks.mean((1, 2, 3))
    assert masks.shape == (24, 1, 64, 64) and set(masks.unique().tolist()) <= {0.0, 1.0}
    assert cover.min() >= 0.1 and cover.max() <= 0.75 and cover.std() > 0.02


def test_stroke_masks_are_not_rectangles():
    masks = dd.random_masks(8, 64, 64, gen(1), area=(0.1, 0.2), kind="strokes")[:, 0]
    for mask in masks:  # a stroke's bounding box holds more than the stroke
        ys, xs = torch.nonzero(mask, as_tuple=True)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert mask.sum() < 0.9 * box


def test_hole_boxes_match_the_cpu_rule():
    masks = dd.random_masks(16, 64, 48, gen(2), area=(0.05, 0.3), kind="mixed")
    masks[3] = 0  # no hole: the centre
    boxes = dd.hole_boxes(masks, 32)
    for mask, box in zip(masks[:, 0].numpy(), boxes.tolist()):
        assert tuple(box) == hole_box(mask, 32)


def test_onehot_leaves_ignored_pixels_empty():
    labels = torch.tensor([[[0, 3], [IGNORE, 7]]])
    out = dd.onehot(labels, 8)
    assert out.shape == (1, 8, 2, 2) and out[0, :, 1, 0].sum() == 0 and out[0, 7, 1, 1] == 1 and out[0, 3, 0, 1] == 1


def test_streams_resume_with_the_same_batches_in_the_cpu_paths_order():
    def make(index, g):
        return {"index": index, "noise": torch.rand(len(index), generator=g)}

    straight = dd.DeviceStream(10, 3, make, rank=0, world=1, seed=5, device=CPU)
    batches = [straight.next() for _ in range(7)]  # past an epoch (3 batches of 3 in 10)
    resumed = dd.DeviceStream(10, 3, make, rank=0, world=1, seed=5, device=CPU, consumed=4)
    for expected in batches[4:]:
        got = resumed.next()
        assert torch.equal(got["index"], expected["index"]) and torch.equal(got["noise"], expected["noise"])
    from landscape.trainers.data import EpochBatches

    order = [i for batch in EpochBatches(10, 3, rank=0, world=1, seed=5, epoch=0).batches for _, i in batch]
    assert torch.cat([b["index"] for b in batches[:3]]).tolist() == order


@pytest.mark.parametrize("family", list(TINY_ARGS))
def test_every_family_trains_with_its_data_on_the_device(family, tmp_path):
    photos = make_photos(tmp_path / "photos", count=12)
    pairs, maps = make_pairs(tmp_path / "pairs", count=12)
    source = ["--maps", str(maps)] if family in ("pix2pix", "segmenter") else []
    data = pairs if family in ("pix2pix", "segmenter") else photos
    code, run = run_trainer(family, data, tmp_path / "run", *source, "--device-data", "on", "--eval-every", "4", steps=4)
    assert code == 0
    records = train_records(run)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(np.isfinite(v) for r in records for k, v in r.items() if isinstance(v, float))
    start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert start["train"]["device_data"] == "on"
