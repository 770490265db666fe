import io

import cv2
import numpy as np
import pytest
from PIL import Image

from landscape.imaging import png
from tests.conftest import random_image


def libpng_pixels(data: bytes) -> np.ndarray:
    """What libpng (through OpenCV) reads back, in RGB(A) order; OpenCV turns gray + alpha into BGRA."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels.ndim == 2:
        return pixels[:, :, None]
    return pixels[:, :, [2, 1, 0, 3][: pixels.shape[2]]]


def expected_from(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[2] == 2:
        return pixels[:, :, [0, 0, 0, 1]]
    return pixels


@pytest.mark.parametrize("row_filter", png.FILTERS)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_filter_mode_and_depth_reads_back_exactly(row_filter, channels, dtype):
    pixels = random_image(9, 7, channels, dtype=dtype)
    data = png.encode_png(pixels, row_filter=row_filter)
    assert libpng_pixels(data).tolist() == expected_from(pixels).tolist()
    with Image.open(io.BytesIO(data)) as img:
        img.verify()  # chunk CRCs


@pytest.mark.parametrize("row_filter", png.FILTERS)
@pytest.mark.parametrize("band_bytes,idat_bytes", [(1, 1), (40, 16), (10**6, 10**6)])
def test_bands_and_idat_splits_do_not_change_the_pixels(monkeypatch, row_filter, band_bytes, idat_bytes):
    # bands of one row and of a few rows: the filter of a band's first row must see the row above it
    monkeypatch.setattr(png, "BAND_BYTES", band_bytes)
    monkeypatch.setattr(png, "IDAT_BYTES", idat_bytes)
    pixels = random_image(13, 6, 3)
    pixels[5:9] = pixels[4]  # runs, so that the deflate stream has matches across bands
    data = png.encode_png(pixels, row_filter=row_filter)
    assert libpng_pixels(data).tolist() == pixels.tolist()
    with Image.open(io.BytesIO(data)) as img:
        assert np.asarray(img).tolist() == pixels.tolist()


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 17, 1), (17, 1, 4), (2, 3, 2)])
def test_tiny_and_thin_pictures(shape):
    pixels = random_image(shape[0], shape[1], shape[2])
    assert libpng_pixels(png.encode_png(pixels)).tolist() == expected_from(pixels).tolist()


def test_avg_filter_matches_the_png_formula():
    rows = np.array([[10, 250, 3, 7], [200, 1, 255, 0]], np.uint8)
    bpp = 2
    out = png.filter_rows(rows, None, bpp, "avg")
    expected = np.zeros_like(rows)
    for y in range(2):
        for x in range(4):
            left = int(rows[y, x - bpp]) if x >= bpp else 0
            above = int(rows[y - 1, x]) if y else 0
            expected[y, x] = (int(rows[y, x]) - (left + above) // 2) % 256
    assert out[:, 0].tolist() == [3, 3] and out[:, 1:].tolist() == expected.tolist()


def test_smooth_picture_compresses_and_refuses_what_png_cannot_hold():
    ramp = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (64, 256, 3)).copy()
    assert len(png.encode_png(ramp)) < ramp.nbytes / 20
    with pytest.raises(ValueError, match="5-channel"):
        png.encode_png(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        png.encode_png(np.zeros((2, 2, 3), np.float32))
