"""A corpus of awkward and broken pictures, built at test time from valid images the test
writes (no downloads), each with what the CLI must do with it: write an output, or refuse
it with one line whose reason matches a pattern."""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from tests.conftest import random_image


@dataclass(frozen=True)
class Case:
    name: str  # file name inside the corpus folder
    make: Callable[[Path], None]
    refused: str | None = None  # regex of the reason; None: an output must be written
    size: tuple[int, int] | None = None  # (width, height) of the decoded input, when written


def _encoded(pixels: np.ndarray, fmt: str, mode: str | None = None, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, fmt, **save) if mode else Image.fromarray(pixels).save(buf, fmt, **save)
    return buf.getvalue()


def _smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A picture with structure (gradients), so that JPEG and cut points behave like photos."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 127 // max(h + w - 2, 1))], 2)
    return np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header for a huge gray picture with one compressed row of data: tiny on
    disk, gigabytes once decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bad_crc() -> bytes:
    data = bytearray(_encoded(_smooth(24, 24), "PNG"))
    at = data.index(b"IDAT") + 12
    data[at] ^= 0xFF
    return bytes(data)


def _exif(orientation: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(_smooth(20, 30, orientation)).save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return make


def _palette_with_transparency(path: Path) -> None:
    img = Image.fromarray(_smooth(16, 16)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img.save(path, transparency=0)


def _animated(fmt: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        frames = [Image.fromarray(_smooth(12, 12, i)) for i in range(3)]
        frames[0].save(path, fmt, save_all=True, append_images=frames[1:])
    return make


def _converted(mode: str) -> Callable[[Path], None]:
    return lambda p: Image.fromarray(_smooth(18, 14)).convert(mode).save(p)


def _gray16(path: Path) -> None:
    Image.fromarray(_smooth(18, 14)[:, :, 0].astype(np.uint16) * 257).save(path)


def _rgb16(path: Path) -> None:
    import cv2

    cv2.imwrite(str(path), random_image(18, 14, 3, dtype=np.uint16))


def _truncated(fmt: str, fraction: float) -> Callable[[Path], None]:
    data = _encoded(_smooth(64, 64), fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return _write(data[: max(1, int(len(data) * fraction))])


def corpus() -> list[Case]:
    cases = [
        Case("zero-bytes.png", _write(b""), refused="empty file"),
        Case("garbage.jpg", _write(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()),
             refused="not an image"),
        Case("text-file.png", lambda p: p.write_text("a list of things\nnot a picture\n"), refused="not an image"),
        Case("bad-crc.png", _write(_bad_crc()), refused="CRC"),
        Case("gif-as-png.png", lambda p: Image.fromarray(_smooth(8, 8)).save(p, "GIF"), refused="GIF images are not accepted"),
        Case("ppm-as-png.png", lambda p: Image.fromarray(_smooth(8, 8)).save(p, "PPM"), refused="PPM images are not accepted"),
        Case("animated.webp", _animated("WEBP"), refused="animated"),
        Case("bomb.png", _write(_png_bomb(30000, 30000)), refused="over the limit .*--max-pixels"),
        Case("cmyk.jpg", lambda p: Image.fromarray(_smooth(16, 20)).convert("CMYK").save(p, "JPEG"), size=(20, 16)),
        Case("palette-transparent.png", _palette_with_transparency, size=(16, 16)),
        Case("la.png", _converted("LA"), size=(14, 18)),
        Case("gray.png", _converted("L"), size=(14, 18)),
        Case("gray16.png", _gray16, size=(14, 18)),
        Case("rgb16.png", _rgb16, size=(14, 18)),
        Case("rgba.png", _converted("RGBA"), size=(14, 18)),
        Case("one-pixel.png", lambda p: Image.fromarray(_smooth(1, 1)).save(p), size=(1, 1)),
        Case("two-by-three.png", lambda p: Image.fromarray(_smooth(3, 2)).save(p), size=(2, 3)),
        Case("prime 97x131 #1 é.png", lambda p: Image.fromarray(_smooth(131, 97)).save(p), size=(97, 131)),
        Case("webp.webp", lambda p: Image.fromarray(_smooth(10, 12)).save(p, "WEBP", lossless=True), size=(12, 10)),
        Case("bmp.bmp", lambda p: Image.fromarray(_smooth(10, 12)).save(p, "BMP"), size=(12, 10)),
        Case("tiff.tif", lambda p: Image.fromarray(_smooth(10, 12)).save(p, "TIFF"), size=(12, 10)),
    ]
    for orientation in range(2, 9):
        # 5-8 turn the stored 30x20 picture by 90 degrees.
        cases.append(Case(f"exif-{orientation}.jpg", _exif(orientation), size=(20, 30) if orientation >= 5 else (30, 20)))
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png")):
        for fraction in (0.02, 0.3, 0.6, 0.95):
            cases.append(Case(f"truncated-{ext}-{int(fraction * 100)}.{ext}", _truncated(fmt, fraction),
                              refused="truncated|cannot decode|cannot read|not an image"))
    return cases


def build(folder: Path, cases: list[Case]) -> dict[str, Case]:
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case.make(folder / case.name)
    # Skipped silently by a folder walk (not inputs): a folder named like an image, a
    # file whose extension we never decode.
    (folder / "folder.png").mkdir()
    Image.fromarray(_smooth(8, 8)).save(folder / "not-ours.gif")
    return {case.name: case for case in cases}
