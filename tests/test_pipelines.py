"""Pipelines on arrays: sizes, modes, tiling, determinism, and what must never change."""
import cv2
import numpy as np
import pytest

from landscape.errors import ItemError
from landscape.pipelines.generate import generate, latents
from landscape.pipelines.inpaint import context_windows, inpaint_pixels, prepare_hole
from landscape.pipelines.tiling import pad_to_multiple, run_padded, run_tiled
from landscape.pipelines.translate import labels_from_map, translate
from landscape.pipelines.upscale import TileSettings, plan_passes, resample, target_size, upscale_pixels, upscale_rgb
from landscape.runtime.sessions import choose_device, load_model
from tests.conftest import random_image


@pytest.fixture(scope="module")
def cpu():
    return choose_device("cpu", 1)


@pytest.fixture(scope="module")
def loaded(models, cpu):
    return {task: load_model(task, models[task], cpu) for task in ("generate", "translate", "inpaint", "upscale")}


@pytest.mark.parametrize("h,w,m", [(1, 1, 4), (2, 3, 8), (97, 131, 16), (64, 64, 64)])
def test_pad_to_multiple_then_crop_is_identity(h, w, m):
    x = np.random.default_rng(0).random((3, h, w), dtype=np.float32)
    padded = pad_to_multiple(x, m)
    assert padded.shape[1] % m == 0 and padded.shape[2] % m == 0
    assert np.array_equal(padded[:, :h, :w], x)


def _collect_tiled(x, infer, **kw):
    scale = kw["scale"]
    out = np.full((x.shape[0], x.shape[1] * scale, x.shape[2] * scale), np.nan, np.float32)

    def emit(y, rows):
        assert np.isnan(out[:, y : y + rows.shape[1]]).all(), "a row was emitted twice"
        out[:, y : y + rows.shape[1]] = rows

    run_tiled(x, infer, emit, **kw)
    assert not np.isnan(out).any(), "a row was never emitted"
    return out


@pytest.mark.parametrize("h,w,tile,pad", [(50, 70, 16, 4), (33, 17, 8, 2), (5, 100, 16, 3), (97, 131, 32, 0)])
def test_tiling_of_a_pointwise_model_is_exact(h, w, tile, pad):
    x = np.random.default_rng(1).random((3, h, w), dtype=np.float32)
    infer = lambda b: np.repeat(np.repeat(b * 2.0 - 1.0, 2, axis=2), 2, axis=3)  # noqa: E731
    tiled = _collect_tiled(x, infer, scale=2, tile=tile, pad=pad, multiple=4, batch=3)
    assert np.allclose(tiled, run_padded(x, infer, scale=2, multiple=4), atol=1e-6)


def test_tiled_upscale_matches_untiled_within_tolerance(loaded):
    model = loaded["upscale"]
    rgb = np.random.default_rng(2).random((45, 61, 3), dtype=np.float32)
    whole = upscale_rgb(model, rgb, np.uint8, TileSettings(tile=0, pad=8))
    tiled = upscale_rgb(model, rgb, np.uint8, TileSettings(tile=16, pad=8, batch=3))
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    # Stated tolerance: 8 px of context per tile keeps every seam within 2 levels of 255.
    assert diff.max() <= 2, diff.max()


def test_generation_depends_on_the_seed_only(loaded):
    model = loaded["generate"]
    together = generate(model, [3, 4, 5])
    alone = generate(model, [4])
    assert together.shape == (3, 16, 16, 3)
    assert np.allclose(together[1], alone[0], atol=1e-6)
    assert not np.allclose(together[0], together[1])
    assert np.array_equal(latents([7], 8), latents([7], 8))


@pytest.mark.parametrize("channels,dtype", [(1, np.uint8), (2, np.uint8), (3, np.uint8), (4, np.uint8), (3, np.uint16), (1, np.uint16)])
def test_upscale_keeps_mode_and_depth(loaded, channels, dtype):
    pixels = random_image(7, 5, channels, dtype=dtype)
    out = upscale_pixels([loaded["upscale"]], pixels, TileSettings())
    assert out.shape == (28, 20, channels) and out.dtype == dtype
    resized = upscale_pixels([loaded["upscale"]], pixels, TileSettings(), size=(10, 8))
    assert resized.shape == (10, 8, channels) and resized.dtype == dtype


def test_upscale_x16_is_two_passes(loaded):
    assert upscale_pixels([loaded["upscale"]] * 2, random_image(3, 2), TileSettings()).shape == (48, 32, 3)


@pytest.mark.parametrize("factor,scales,plan", [
    (4, [4, 2], (4,)), (2, [4, 2], (2,)), (3, [4, 2], (4,)), (1.5, [4, 2], (2,)), (1, [4, 2], (2,)),
    (6, [4, 2], (2, 4)), (8, [4, 2], (2, 4)), (12, [4, 2], (4, 4)), (16, [4, 2], (4, 4)), (16, [4], (4, 4)),
    (3, [4], (4,)), (6, [4], (4, 4)), (3, [2], (2, 2)), (16, [2], (2, 2, 2, 2)), (5, [1], (1,)),
])
def test_a_factor_runs_the_fewest_passes_that_reach_it(factor, scales, plan):
    assert plan_passes(factor, scales) == plan


def test_exact_sizes_and_the_resize_of_each_direction():
    assert target_size(7, 5, 1.5) == (11, 8)  # halves round up: 10.5 -> 11, 7.5 -> 8
    assert target_size(1, 1, 1.2) == (1, 1) and target_size(100, 3, 3) == (300, 9)
    stripes = np.zeros((8, 8, 3), np.uint8)
    stripes[:, ::2] = 255
    assert np.all(resample(stripes, (8, 4)) == 128)  # area: each output pixel the mean of the two it covers
    step = np.zeros((1, 8, 1), np.uint8)
    step[:, 4:] = 200
    grown = resample(step, (1, 16))
    # Lanczos rings past a step (bilinear or area would not), its undershoot clipped to the dtype.
    assert grown.shape == (1, 16, 1) and grown.max() > 200 and grown.min() == 0
    assert resample(stripes, (8, 8)) is stripes
    unit = resample(np.ones((4, 4, 3), np.float32), (9, 9))
    assert unit.dtype == np.float32 and unit.max() <= 1.0


def test_translate_keeps_the_map_size_at_any_size(loaded):
    model = loaded["translate"]
    palette = model.info.palette
    for h, w in ((1, 1), (13, 29), (40, 33)):
        labels = np.random.default_rng(0).integers(0, len(palette), (h, w))
        assert translate(model, labels).shape == (h, w, 3)


def test_translate_tiles_big_maps_like_whole_ones_within_tolerance(loaded):
    model = loaded["translate"]
    labels = np.repeat(np.repeat(np.random.default_rng(3).integers(0, 8, (10, 12)), 8, 0), 8, 1)
    whole = translate(model, labels, tile=0)
    tiled = translate(model, labels, tile=32, pad=16)
    assert np.abs(whole - tiled).max() < 0.1


def test_palette_snapping_counts_and_refuses_noise(loaded):
    palette = loaded["translate"].info.palette
    rgb = np.asarray(palette, np.uint8)[np.arange(8).repeat(8)].reshape(8, 8, 3).copy()
    rgb[0, 0] = np.clip(rgb[0, 0].astype(int) + 5, 0, 255)  # JPEG-like drift: snaps
    labels, notes = labels_from_map(rgb, palette)
    assert labels.ravel().tolist() == np.arange(8).repeat(8).tolist()
    assert "1 px within" in notes[0]
    noise = random_image(8, 8, 3)
    with pytest.raises(ItemError, match="far from every palette colour"):
        labels_from_map(noise, palette)


def test_index_maps_with_unknown_ids_are_refused(loaded):
    palette = loaded["translate"].info.palette
    ok = np.arange(8, dtype=np.uint8).reshape(2, 4, 1)
    assert labels_from_map(ok, palette)[0].ravel().tolist() == list(range(8))
    with pytest.raises(ItemError, match="class id"):
        labels_from_map(ok + 8, palette)


@pytest.mark.parametrize("channels,dtype", [(3, np.uint8), (1, np.uint8), (4, np.uint8), (3, np.uint16)])
@pytest.mark.parametrize("size", [(20, 24), (97, 131)])
def test_inpaint_changes_only_hole_pixels(loaded, channels, dtype, size):
    pixels = random_image(*size, channels, dtype=dtype)
    mask = np.zeros(size, bool)
    mask[5:12, 3:15] = True
    out = inpaint_pixels(loaded["inpaint"], pixels, mask)
    assert out.shape == pixels.shape and out.dtype == dtype
    assert np.array_equal(out[~mask], pixels[~mask])
    if channels == 4:
        assert np.array_equal(out[..., 3], pixels[..., 3])


def test_inpaint_with_dilation_changes_only_the_grown_hole(loaded):
    pixels = random_image(40, 40)
    mask = np.zeros((40, 40), bool)
    mask[15:20, 15:20] = True
    hole, alpha = prepare_hole(mask, 3)
    assert hole.sum() > mask.sum() and (alpha[mask] == 1).all() and (alpha[~hole] == 0).all()
    assert 0 < alpha[hole & ~mask].min() < 1
    out = inpaint_pixels(loaded["inpaint"], pixels, mask, dilate=3)
    assert np.array_equal(out[~hole], pixels[~hole])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_seamless_fills_meet_the_photo_at_the_holes_edge(loaded, dtype):
    """On a smooth ramp, whatever the (untrained) network paints, the seamless fill's pixels
    next to the edge are close to the photo; the raw fill's are not; both change only holes."""
    yy, xx = np.mgrid[:90, :120]
    top = np.iinfo(dtype).max
    pixels = np.stack([xx / 120, yy / 90, 0.5 + 0 * xx], -1) * top
    pixels = pixels.astype(dtype)
    mask = np.zeros((90, 120), bool)
    mask[30:60, 40:90] = True
    cv2.line(mask.view(np.uint8), (5, 80), (115, 70), 1, 3)
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    errors = {}
    for seamless in (True, False):
        out = inpaint_pixels(loaded["inpaint"], pixels, mask, seamless=seamless)
        assert np.array_equal(out[~mask], pixels[~mask])
        errors[seamless] = np.abs(out[edge].astype(float) - pixels[edge]).mean() / top
    assert errors[True] < 0.02 < errors[False]


def test_inpaint_big_photo_uses_context_windows(loaded):
    pixels = random_image(200, 300)
    mask = np.zeros((200, 300), bool)
    mask[10:14, 10:14] = True
    mask[150:190, 200:290] = True
    windows, _ = context_windows(mask, *loaded["inpaint"].info.windows)
    assert len(windows) == 2
    out = inpaint_pixels(loaded["inpaint"], pixels, mask)
    assert np.array_equal(out[~mask], pixels[~mask])


def test_a_long_thin_stroke_is_filled_where_it_lies_at_full_resolution():
    """A stroke across a big photo: windows of the model's native size along it, each writing
    its own cell, together every stroke pixel once; a wide hole keeps one (shrunk) window."""
    native = (64, 64)
    hole = np.zeros((300, 900), bool)
    cv2.line(hole.view(np.uint8), (10, 20), (880, 260), 1, 9)
    hole[200:290, 20:200] = True  # a box, 90 px tall: wide, one window
    windows, labels = context_windows(hole, native, native)
    tiles = [w for w in windows if w.box.bottom - w.box.top == 64 and w.box.right - w.box.left == 64]
    assert len(tiles) > 10 and len(windows) == len(tiles) + 1
    written = np.zeros(hole.shape, int)
    for w in windows:
        part = np.zeros(hole.shape, bool)
        part[w.core.top:w.core.bottom, w.core.left:w.core.right] = True
        written += part & hole & np.isin(labels, list(w.owns))
        assert w.box.top <= w.core.top and w.core.bottom <= w.box.bottom  # the core lies inside its window
    assert (written[hole] == 1).all() and (written[~hole] == 0).all()


def test_empty_mask_means_nothing_to_do(loaded):
    assert inpaint_pixels(loaded["inpaint"], random_image(8, 8), np.zeros((8, 8), bool)) is None
