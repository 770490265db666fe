"""Property tests: the invariants the batch commands rest on, over generated sizes, tile
settings, file names and orders rather than a few hand-picked cases."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape.cli.batch import plan_outputs
from landscape.cli.inputs import pair_masks
from landscape.pipelines.tiling import pad_to_multiple, run_padded, run_tiled
from landscape.pipelines.upscale import TileSettings, upscale_rgb
from landscape.runtime.sessions import choose_device, load_model

MULTIPLES = (1, 2, 4, 8, 16, 32, 64)


def test_pad_to_multiple_then_crop_is_identity_for_every_size_to_300():
    base = np.random.default_rng(0).random((2, 300, 300), dtype=np.float32)
    for size in range(1, 301):
        for multiple in MULTIPLES:
            x = base[:, :size, : 301 - size]
            padded = pad_to_multiple(x, multiple)
            assert padded.shape[1] % multiple == 0 and padded.shape[2] % multiple == 0
            assert padded.shape[1] - size < multiple and padded.shape[2] - (301 - size) < multiple
            assert np.array_equal(padded[:, :size, : 301 - size], x)


def _tiled(x: np.ndarray, infer, **kw) -> np.ndarray:
    scale = kw["scale"]
    out = np.full((x.shape[0], x.shape[1] * scale, x.shape[2] * scale), np.nan, np.float32)

    def emit(y: int, rows: np.ndarray) -> None:
        assert np.isnan(out[:, y : y + rows.shape[1]]).all(), "a row was emitted twice"
        out[:, y : y + rows.shape[1]] = rows

    run_tiled(x, infer, emit, **kw)
    assert not np.isnan(out).any(), "a row was never emitted"
    return out


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 120), w=st.integers(1, 120), multiple=st.sampled_from((1, 2, 4, 8)),
       tiles=st.integers(1, 8), pad=st.integers(0, 8), scale=st.sampled_from((1, 2, 4)), batch=st.integers(1, 4))
def test_tiling_a_pointwise_model_equals_one_pass(h, w, multiple, tiles, pad, scale, batch):
    x = np.random.default_rng(h * 1000 + w).random((3, h, w), dtype=np.float32)
    infer = lambda b: np.repeat(np.repeat(b * 2.0 - 1.0, scale, axis=2), scale, axis=3)  # noqa: E731
    tile = tiles * multiple * 2
    tiled = _tiled(x, infer, scale=scale, tile=tile, pad=pad, multiple=multiple, batch=batch)
    assert np.allclose(tiled, run_padded(x, infer, scale=scale, multiple=multiple), atol=1e-6)


@pytest.fixture(scope="module")
def upscaler(models):
    return load_model("upscale", models["upscale"], choose_device("cpu", 1))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(4, 70), w=st.integers(4, 70), tile=st.sampled_from((16, 24, 32)), pad=st.integers(8, 12),
       batch=st.integers(1, 3))
def test_tiled_upscale_matches_one_pass_within_two_levels(upscaler, h, w, tile, pad, batch):
    rgb = np.random.default_rng(h * 100 + w).random((h, w, 3), dtype=np.float32)
    whole = upscale_rgb(upscaler, rgb, np.uint8, TileSettings(tile=0, pad=pad))
    tiled = upscale_rgb(upscaler, rgb, np.uint8, TileSettings(tile=tile, pad=pad, batch=batch))
    assert whole.shape == tiled.shape == (4 * h, 4 * w, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 2


# Any name a Linux file system allows in one component: no '/' and no NUL; dots, spaces,
# newlines, '#', '..'-prefixes and non-ASCII included.
names = st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), min_size=1, max_size=12)
extensions = st.sampled_from((".png", ".jpg", ".JPEG", ".webp", ".tif"))


@settings(max_examples=200, deadline=None)
@given(files=st.lists(st.tuples(st.sampled_from(("", "a", "a/b", "..x")), names, extensions), min_size=1, max_size=12),
       fmt=st.sampled_from(("keep", "png", "jpg")))
def test_output_names_never_collide_or_leave_the_output_folder(files, fmt):
    out_dir = Path("/tmp/landscape-out")
    paths = [Path("/data", folder, stem + ext) for folder, stem, ext in files if stem not in (".", "..")]
    items = plan_outputs(paths, out_dir, fmt, [])
    outputs = [item.output for item in items if item.output is not None]
    assert len(outputs) == len(set(outputs)), "two inputs would write the same file"
    for item in items:
        if item.output is None:
            assert item.error
            continue
        assert item.output.parent == out_dir
        assert os.path.realpath(item.output).startswith(os.path.realpath(out_dir) + os.sep)
        assert item.output.stem == Path(item.label).stem


@settings(max_examples=40, deadline=None)
@given(stems=st.lists(st.from_regex(r"[a-z0-9 _#é-]{1,8}", fullmatch=True), min_size=1, max_size=10, unique=True),
       data=st.data())
def test_masks_pair_by_name_whatever_the_order(stems, data):
    stems = [s for s in stems if "_mask" not in s and s.strip() == s and s]
    with_mask = data.draw(st.lists(st.sampled_from(stems), unique=True)) if stems else []
    extra = data.draw(st.lists(st.from_regex(r"zz[a-z]{1,4}", fullmatch=True), max_size=3, unique=True))
    with tempfile.TemporaryDirectory() as tmp:
        images, masks = Path(tmp, "images"), Path(tmp, "masks")
        images.mkdir(), masks.mkdir()
        for stem in stems:
            (images / f"{stem}.png").write_bytes(b"")
        # Masks are made in another order than the images, and some masks are extra.
        for stem in random.Random(len(stems)).sample(with_mask + extra, len(with_mask + extra)):
            (masks / f"{stem}.png").write_bytes(b"")
        order = data.draw(st.permutations([images / f"{s}.png" for s in stems]))
        pairing = pair_masks(list(order), masks)
        for image in order:
            if image.stem in with_mask:
                assert pairing.masks[image] == masks / f"{image.stem}.png"
            else:
                assert image not in pairing.masks
        assert sorted(p.stem for p in pairing.orphans) == sorted(extra)
