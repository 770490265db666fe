"""Decoding every awkward mode into an explicit array, and refusing what we do not read."""
import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from landscape.errors import ItemError
from landscape.imaging.codec import decode as decode_limited, encode, gray_unit, orient
from tests.conftest import random_image, write_png


def decode(path, max_pixels=10**8):
    return decode_limited(path, max_pixels=max_pixels)


def save_pil(path, img, fmt=None, **kw):
    img.save(path, format=fmt, **kw)
    return path


def test_rgb_gray_rgba_la_modes(tmp_path):
    rgb = random_image(9, 7)
    assert decode(write_png(tmp_path / "rgb.png", rgb)).pixels.tolist() == rgb.tolist()
    gray = decode(save_pil(tmp_path / "g.png", Image.fromarray(rgb[:, :, 0], "L")))
    assert gray.pixels.shape == (9, 7, 1) and gray.is_gray
    rgba = decode(save_pil(tmp_path / "a.png", Image.fromarray(random_image(9, 7, 4), "RGBA")))
    assert rgba.pixels.shape == (9, 7, 4) and rgba.has_alpha
    la = decode(save_pil(tmp_path / "la.png", Image.fromarray(random_image(9, 7, 2), "LA")))
    assert la.pixels.shape == (9, 7, 2) and la.is_gray and la.has_alpha


def test_palette_png_with_transparency_becomes_rgba(tmp_path):
    img = Image.fromarray(random_image(8, 8), "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    img.info["transparency"] = 0
    path = save_pil(tmp_path / "p.png", img, transparency=0)
    assert decode(path).pixels.shape[2] == 4
    assert decode(save_pil(tmp_path / "p2.png", img.copy(), "PNG")).pixels.shape[2] in (3, 4)


def test_cmyk_jpeg_is_converted_with_a_note(tmp_path):
    path = save_pil(tmp_path / "c.jpg", Image.fromarray(random_image(16, 16), "RGB").convert("CMYK"), "JPEG")
    pic = decode(path)
    assert pic.pixels.shape == (16, 16, 3) and "CMYK" in pic.notes[0]


def test_16bit_gray_and_rgb_png_stay_16bit(tmp_path):
    gray16 = random_image(5, 6, 1, dtype=np.uint16)
    path = tmp_path / "g16.png"
    cv2.imwrite(str(path), gray16[:, :, 0])
    pic = decode(path)
    assert pic.pixels.dtype == np.uint16 and pic.pixels[:, :, 0].tolist() == gray16[:, :, 0].tolist()
    rgb16 = random_image(5, 6, 3, dtype=np.uint16)
    pic = decode(write_png(tmp_path / "rgb16.png", rgb16))
    assert pic.pixels.dtype == np.uint16 and pic.pixels.tolist() == rgb16.tolist()
    cv2.imwrite(str(tmp_path / "rgb16.tif"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    pic = decode(tmp_path / "rgb16.tif")
    assert pic.pixels.dtype == np.uint16 and pic.pixels.tolist() == rgb16.tolist()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    img = Image.fromarray(random_image(6, 10), "RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    img.save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert decode(path).pixels.tolist() == expected.tolist()


def test_orient_is_pure_numpy_for_16bit():
    a = np.arange(6, dtype=np.uint16).reshape(2, 3, 1)
    assert orient(a, 6).shape == (3, 2, 1)
    assert orient(a, 1) is not None and orient(a, 1).tolist() == a.tolist()


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (97, 131)])
def test_tiny_and_prime_sizes(tmp_path, size):
    pic = decode(write_png(tmp_path / "s.png", random_image(*size)))
    assert pic.pixels.shape[:2] == size


def test_bmp_tiff_webp_are_read(tmp_path):
    img = Image.fromarray(random_image(8, 8), "RGB")
    for fmt, ext in (("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp")):
        assert decode(save_pil(tmp_path / f"x.{ext}", img, fmt)).pixels.shape == (8, 8, 3)


@pytest.mark.parametrize("writer,reason", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"this is not an image at all" * 10), "not an image"),
    (lambda p: p.write_text("hello\n"), "not an image"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_non_images_are_item_errors(tmp_path, writer, reason):
    path = tmp_path / "bad.png"
    writer(path)
    with pytest.raises(ItemError, match=reason):
        decode(path)


@pytest.mark.parametrize("fmt,cuts", [("PNG", (0.3, 0.6, 0.9)), ("JPEG", (0.3, 0.6, 0.9))])
def test_truncated_files_are_item_errors(tmp_path, fmt, cuts):
    buf = io.BytesIO()
    Image.fromarray(random_image(64, 64), "RGB").save(buf, fmt)
    data = buf.getvalue()
    for cut in cuts:
        path = tmp_path / f"t{cut}.{fmt.lower()}"
        path.write_bytes(data[: int(len(data) * cut)])
        with pytest.raises(ItemError):
            decode(path)


def test_bad_png_crc_is_an_item_error(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(random_image(16, 16), "RGB").save(buf, "PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF
    path = tmp_path / "crc.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ItemError):
        decode(path)


def test_animated_and_refused_formats(tmp_path):
    frames = [Image.fromarray(random_image(8, 8, seed=i), "RGB") for i in range(3)]
    gif = tmp_path / "a.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with pytest.raises(ItemError, match="GIF images are not accepted"):
        decode(gif)
    webp = tmp_path / "a.webp"
    frames[0].save(webp, save_all=True, append_images=frames[1:])
    with pytest.raises(ItemError, match="animated"):
        decode(webp)


def test_pixel_limit_refuses_bombs_before_decoding(tmp_path):
    path = write_png(tmp_path / "big.png", np.zeros((300, 400, 3), np.uint8))
    with pytest.raises(ItemError, match="over the limit.*--max-pixels"):
        decode(path, max_pixels=100_000)
    assert decode(path, max_pixels=120_000).pixels.shape == (300, 400, 3)


def test_mask_gray_treats_transparent_as_keep(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[0, 0, 3] = 255
    pic = decode(save_pil(tmp_path / "m.png", Image.fromarray(rgba, "RGBA")))
    assert (gray_unit(pic.pixels) > 0.5).tolist() == [[True, False], [False, False]]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_encode_round_trips_every_mode(tmp_path, channels, dtype):
    pixels = random_image(7, 5, channels, dtype=dtype)
    data, notes = encode(pixels, "png")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    back = decode(path).pixels
    assert back.dtype == dtype and back.tolist() == pixels.tolist()


def test_jpeg_drops_alpha_and_depth_with_notes():
    data, notes = encode(random_image(4, 4, 4, dtype=np.uint16), "jpg")
    assert data[:2] == b"\xff\xd8" and len(notes) == 2


@pytest.mark.parametrize("fmt,mode,orientation", [("JPEG", "RGB", 1), ("JPEG", "L", 1), ("JPEG", "RGB", 6), ("JPEG", "L", 8),
                                                  ("PNG", "RGB", 1), ("PNG", "L", 1)])
def test_opencv_fast_path_decodes_what_pillow_decodes(tmp_path, monkeypatch, fmt, mode, orientation):
    """Plain 8-bit JPEG and PNG go through OpenCV (faster); the pixels and the EXIF rotation
    are Pillow's exactly."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save_pil(tmp_path / f"x.{fmt.lower()}", Image.fromarray(random_image(24, 40)).convert(mode), fmt, exif=exif.tobytes())
    decoded = []
    real = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1) or real(*a))
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img))
    got = decode_limited(path, max_pixels=10**6).pixels
    assert decoded, "the OpenCV path was not taken"
    assert got.shape == (expected.shape[0], expected.shape[1], 3 if mode == "RGB" else 1)
    assert np.array_equal(got.reshape(expected.shape), expected)
