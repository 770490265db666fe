"""PNG writer: numpy row filters and ISA-L deflate, streamed in bands of rows; and the walk
over a PNG's chunks that the reader's checks share.

libpng (behind both OpenCV and Pillow) tries every row filter per row and deflates with
zlib, a large share of a translate or generate step on 2 cores. One fixed filter done with
numpy, deflated by ISA-L, writes the same pixels several times faster with files of about the
same size ("avg" at level 1: the best trade-off that `python -m benchmarks.codecs` found on
landscape photos, generated pictures and label maps alike; its figures are in
docs/PERFORMANCE.md, "PNG: our own writer").
"""
from __future__ import annotations

import struct
import zlib
from typing import Iterator

import numpy as np
from isal import isal_zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA
FILTERS = ("none", "sub", "up", "avg")
FILTER = "avg"
LEVEL = 1  # ISA-L levels run 0-3
BAND_BYTES = 4 << 20  # rows are filtered and deflated this many bytes at a time: bounded memory on a 16000x12000 upscale
IDAT_BYTES = 1 << 20


def chunks(data) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each whole chunk of a PNG's bytes, after the signature: `start`
    is the chunk's first byte (its length field), `end` one past its CRC. Stops at IEND, or at
    a chunk that runs past the data (the caller tells a truncated file by where it stopped)."""
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            return
        kind = bytes(data[pos + 4 : pos + 8])
        yield kind, pos, end
        if kind == b"IEND":
            return
        pos = end


CRITICAL = (b"IHDR", b"PLTE", b"IDAT", b"IEND")


def pixel_chunks_only(data):
    """The PNG with only the chunks its pixels are made of (the critical ones and tRNS), or
    None if it has a critical chunk that no decoder knows. libpng (in OpenCV) checks the other
    chunks, a colour profile or text, and prints its complaints about them, or about an
    unknown critical chunk, on stderr, where they would name no file; Pillow reads those
    instead. Returns `data` itself when there is nothing to leave out."""
    walked = list(chunks(data))
    pixel = [not kind[0] & 0x20 or kind == b"tRNS" for kind, _, _ in walked]
    if any(is_pixel and kind not in CRITICAL + (b"tRNS",) for (kind, _, _), is_pixel in zip(walked, pixel)):
        return None
    if all(pixel):
        return data
    return SIGNATURE + b"".join(data[start:end] for (_, start, end), keep in zip(walked, pixel) if keep)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def filter_rows(rows: np.ndarray, above: np.ndarray | None, bpp: int, row_filter: str) -> np.ndarray:
    """Rows of raw bytes (H x N uint8) -> H x (1 + N) filtered scanlines, each led by its filter
    type. `above` is the raw row before the first (None at the top of the picture); `bpp` is
    the bytes per pixel, the distance of the "left" neighbour."""
    height, width = rows.shape
    out = np.empty((height, width + 1), np.uint8)
    out[:, 0] = FILTERS.index(row_filter)
    body = out[:, 1:]
    if row_filter == "none":
        body[:] = rows
    elif row_filter == "sub":
        body[:, :bpp] = rows[:, :bpp]
        np.subtract(rows[:, bpp:], rows[:, :-bpp], out=body[:, bpp:])
    elif row_filter == "up":
        body[0] = rows[0] if above is None else rows[0] - above
        np.subtract(rows[1:], rows[:-1], out=body[1:])
    elif row_filter == "avg":
        # floor((left + above) / 2) needs 9 bits; the subtraction wraps modulo 256 as PNG asks
        mean = np.zeros((height, width), np.uint16)
        mean[1:] = rows[:-1]
        if above is not None:
            mean[0] = above
        mean[:, bpp:] += rows[:, :-bpp]
        mean >>= 1
        np.subtract(rows, mean, out=body, casting="unsafe")
    else:
        raise ValueError(f"unknown PNG row filter {row_filter!r}")
    return out


def encode_png(pixels: np.ndarray, *, row_filter: str = FILTER, level: int = LEVEL,
               chunks: list[tuple[bytes, bytes]] = ()) -> bytes:
    """HxWxC (C = 1-4) uint8 or uint16 pixels -> PNG file bytes, lossless. `chunks`: (type,
    body) of ancillary chunks (profile, EXIF, text), written before the image data."""
    height, width, channels = pixels.shape
    if channels not in COLOUR_TYPES or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"cannot write {channels}-channel {pixels.dtype} pixels as PNG")
    depth = 8 * pixels.dtype.itemsize
    bpp = channels * pixels.dtype.itemsize
    header = struct.pack(">IIBBBBB", width, height, depth, COLOUR_TYPES[channels], 0, 0, 0)
    parts = [SIGNATURE, _chunk(b"IHDR", header), *(_chunk(kind, body) for kind, body in chunks)]
    compressor = isal_zlib.compressobj(level)
    pending: list[bytes] = []
    pending_size = 0

    def emit(data: bytes, final: bool = False) -> None:
        nonlocal pending_size
        if data:
            pending.append(data)
            pending_size += len(data)
        if pending and (final or pending_size >= IDAT_BYTES):
            parts.append(_chunk(b"IDAT", b"".join(pending)))
            pending.clear()
            pending_size = 0

    band = max(1, BAND_BYTES // (width * bpp))
    above = None
    for top in range(0, height, band):
        block = pixels[top:top + band]
        if depth == 16:
            block = block.astype(">u2")  # PNG samples are big-endian
        rows = np.ascontiguousarray(block).view(np.uint8).reshape(len(block), width * bpp)
        emit(compressor.compress(filter_rows(rows, above, bpp, row_filter)))
        above = rows[-1]
    emit(compressor.flush(), final=True)
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)
