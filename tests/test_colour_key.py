"""Transparency by colour key (PNG tRNS) is read as alpha: keyed gray at 1, 2, 4, 8 and 16
bits and keyed 8-bit RGB; `upscale` carries it as an alpha channel, `inpaint --masks` keeps it
outside the hole exactly, and without --masks the key marks the hole as alpha does."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landscape.imaging.codec import decode


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def keyed_png(path: Path, samples: np.ndarray, bits: int, key) -> Path:
    """A PNG with a tRNS colour key, written byte by byte: gray (2-D samples) at any bit depth,
    or 8-bit RGB (3-D samples)."""
    h, w = samples.shape[:2]
    colour_type = 2 if samples.ndim == 3 else 0
    rows = []
    for row in samples:
        if bits < 8:
            raw = np.packbits(np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, -bits:].ravel()).tobytes()
        elif bits == 16:
            raw = row.astype(">u2").tobytes()
        else:
            raw = row.astype(np.uint8).tobytes()
        rows.append(b"\0" + raw)
    trns = struct.pack(">HHH", *key) if colour_type == 2 else struct.pack(">H", key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, colour_type, 0, 0, 0))
                     + chunk(b"tRNS", trns) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))
    return path


def gray_case(bits: int, seed: int = 0):
    top = (1 << bits) - 1
    samples = np.random.default_rng(seed).integers(0, top + 1, (20, 24))
    key = int(samples[3, 5])
    return samples, key


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_a_keyed_gray_png_decodes_with_its_key_as_alpha(bits, tmp_path):
    samples, key = gray_case(bits)
    pixels = decode(keyed_png(tmp_path / "k.png", samples, bits, key), max_pixels=10**6).pixels
    assert pixels.shape == (20, 24, 2) and pixels.dtype == (np.uint16 if bits == 16 else np.uint8)
    top = 65535 if bits == 16 else 255
    assert np.array_equal(pixels[:, :, 1] == 0, samples == key)
    assert (pixels[:, :, 1][samples != key] == top).all()
    # The gray itself, at the decoded depth: 1-, 2- and 4-bit samples scaled to 0..255.
    scale = 1 if bits in (8, 16) else 255 // ((1 << bits) - 1)
    assert np.array_equal(pixels[:, :, 0].astype(int), samples * scale)


def test_a_keyed_rgb_png_decodes_with_its_key_as_alpha(tmp_path):
    samples = np.random.default_rng(1).integers(0, 3, (20, 24, 3)) * 100
    key = tuple(int(v) for v in samples[2, 2])
    pixels = decode(keyed_png(tmp_path / "k.png", samples, 8, key), max_pixels=10**6).pixels
    assert pixels.shape == (20, 24, 4)
    assert np.array_equal(pixels[:, :, :3], samples) and np.array_equal(pixels[:, :, 3] == 0, (samples == key).all(axis=2))


@pytest.mark.parametrize("bits", [1, 8, 16])
def test_upscale_treats_the_key_exactly_as_an_alpha_channel(bits, models, cli, tmp_path):
    """The keyed file and the same picture written with an explicit alpha channel upscale to
    the same bytes, alpha channel included."""
    from landscape.imaging.codec import encode

    samples, key = gray_case(bits, seed=2)
    keyed = keyed_png(tmp_path / "keyed" / "k.png", samples, bits, key)
    explicit = tmp_path / "alpha" / "k.png"
    explicit.parent.mkdir()
    explicit.write_bytes(encode(decode(keyed, max_pixels=10**6).pixels, "png")[0])
    for folder in ("keyed", "alpha"):
        result = cli("upscale", tmp_path / folder, "--model", models["upscale"], "-o", tmp_path / f"out-{folder}")
        assert result.exit_code == 0, result.output
    a, b = (decode(tmp_path / f"out-{f}" / "k.png", max_pixels=10**6).pixels for f in ("keyed", "alpha"))
    assert a.shape == (80, 96, 2) and np.array_equal(a, b)


def test_inpaint_keeps_the_key_transparency_outside_the_hole(models, cli, tmp_path):
    samples = np.random.default_rng(3).integers(0, 4, (32, 32, 3)) * 80
    key = tuple(int(v) for v in samples[0, 0])
    keyed_png(tmp_path / "in" / "k.png", samples, 8, key)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 10:24] = 255
    Image.fromarray(mask).save(tmp_path / "masks" / "k.png") if (tmp_path / "masks").mkdir() is None else None
    result = cli("inpaint", tmp_path / "in", "--masks", tmp_path / "masks", "--model", models["inpaint"], "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out" / "k.png"))
    original = decode(tmp_path / "in" / "k.png", max_pixels=10**6).pixels
    outside = mask == 0
    assert out.shape == (32, 32, 4) and np.array_equal(out[outside], original[outside])


def test_without_masks_the_key_marks_the_hole(models, cli, tmp_path):
    samples = np.full((32, 32, 3), 90)
    samples[10:20, 8:24] = (255, 0, 255)  # the keyed colour: the hole
    keyed_png(tmp_path / "in" / "k.png", samples, 8, (255, 0, 255))
    result = cli("inpaint", tmp_path / "in", "--model", models["inpaint"], "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out" / "k.png").convert("RGB")).astype(int)
    hole = np.zeros((32, 32), bool)
    hole[10:20, 8:24] = True
    assert (out[~hole] == 90).all() and not (out[hole] == (255, 0, 255)).all(axis=1).any()
