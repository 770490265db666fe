"""Decode and encode speed of OpenCV and Pillow, and PNG size against compression level, on
real pictures, one thread: what chose landscape.imaging.codec's codecs, and the row filter and
ISA-L level of landscape.imaging.png (the "landscape" rows) against libpng's.

Pictures are the photos in --images (default: samples/photos), resized to --side pixels on
the long side (512: the size of `generate --upscale` and of a typical tile of work).

    python -m benchmarks.codecs
    python -m benchmarks.codecs --images ../shared/data/landscapes --limit 8 --side 1024
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from benchmarks.harness import seconds_per_call
from landscape.imaging import png

REPO = Path(__file__).resolve().parents[1]
PNG_LEVELS = (0, 1, 2, 3, 6, 9)
WRITER_SETTINGS = [(row_filter, png.LEVEL) for row_filter in png.FILTERS] + [(png.FILTER, level) for level in range(4) if level != png.LEVEL]


def pil_bytes(rgb: np.ndarray, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **params)
    return buf.getvalue()


def cv_bytes(bgr: np.ndarray, ext: str, params: list[int]) -> bytes:
    ok, buf = cv2.imencode(ext, bgr, params)
    assert ok
    return buf.tobytes()


def encoders(quality: int) -> dict[str, Callable[[np.ndarray, np.ndarray], bytes]]:
    """name -> (rgb, bgr) -> file bytes."""
    table: dict[str, Callable[[np.ndarray, np.ndarray], bytes]] = {}
    for level in PNG_LEVELS:
        table[f"png level {level}, OpenCV"] = lambda rgb, bgr, lv=level: cv_bytes(bgr, ".png", [cv2.IMWRITE_PNG_COMPRESSION, lv])
    for level in (1, 6):
        table[f"png level {level}, Pillow"] = lambda rgb, bgr, lv=level: pil_bytes(rgb, "PNG", compress_level=lv)
    for row_filter, level in WRITER_SETTINGS:
        table[f"png {row_filter} {level}, landscape"] = lambda rgb, bgr, f=row_filter, lv=level: png.encode_png(rgb, row_filter=f, level=lv)
    table[f"jpg q{quality}, OpenCV"] = lambda rgb, bgr: cv_bytes(bgr, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    table[f"jpg q{quality}, Pillow"] = lambda rgb, bgr: pil_bytes(rgb, "JPEG", quality=quality)
    table[f"webp q{quality}, OpenCV"] = lambda rgb, bgr: cv_bytes(bgr, ".webp", [cv2.IMWRITE_WEBP_QUALITY, quality])
    table[f"webp q{quality}, Pillow"] = lambda rgb, bgr: pil_bytes(rgb, "WEBP", quality=quality)
    return table


def decoders() -> dict[str, Callable[[bytes], np.ndarray]]:
    def pillow(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))

    def opencv(data: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    return {"Pillow": pillow, "OpenCV": opencv}


def load_pictures(folder: Path, side: int, limit: int) -> list[np.ndarray]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))[:limit]
    if not paths:
        raise SystemExit(f"{folder}: no pictures")
    pictures = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert("RGB")
            factor = side / max(img.size)
            pictures.append(np.asarray(img.resize((round(img.width * factor), round(img.height * factor)), Image.LANCZOS)))
    return pictures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=REPO / "samples" / "photos")
    parser.add_argument("--limit", type=int, default=8, help="at most this many pictures (the first by name)")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--quality", type=int, default=95)
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum timing per codec and picture")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    pictures = load_pictures(args.images, args.side, args.limit)
    megapixels = sum(p.shape[0] * p.shape[1] for p in pictures) / 1e6

    print(f"{len(pictures)} pictures from {args.images}, {args.side} px long side, {megapixels:.2f} MP in all; one thread")
    print(f"{'encoder':<26} {'MP/s':>7} {'ms/MP':>7} {'bytes/px':>9} {'size vs OpenCV 1':>17} {'decode Pillow MP/s':>19} {'decode OpenCV MP/s':>19}")
    sizes: dict[str, int] = {}
    rows = []
    for name, encode in encoders(args.quality).items():
        seconds, size, decode_s = 0.0, 0, {k: 0.0 for k in decoders()}
        for rgb in pictures:
            bgr = np.ascontiguousarray(rgb[:, :, ::-1])
            data = encode(rgb, bgr)
            seconds += seconds_per_call(lambda f=encode, a=rgb, b=bgr: f(a, b), args.seconds)
            size += len(data)
            for dname, decode in decoders().items():
                decode_s[dname] += seconds_per_call(lambda f=decode, d=data: f(d), args.seconds)
        sizes[name] = size
        rows.append((name, seconds, size, decode_s))
    reference = sizes["png level 1, OpenCV"]
    for name, seconds, size, decode_s in rows:
        relative = f"{size / reference:16.2f}x" if name.startswith("png") else f"{'':>17}"
        print(f"{name:<26} {megapixels / seconds:7.1f} {1000 * seconds / megapixels:7.1f} {size / (megapixels * 1e6):9.2f} "
              f"{relative} {megapixels / decode_s['Pillow']:19.1f} {megapixels / decode_s['OpenCV']:19.1f}")
    print("reproduce: python -m benchmarks.codecs " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
