"""Tiny clips made with PyAV for the video tests: each frame's index drawn in its pixels, a
sine audio track, subtitles, chapters, metadata; variants with variable frame rate, a display
rotation, 10 bits. Nothing is shipped: every clip is made here."""
from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np

TB = fractions.Fraction(1, 1000)
CELL = 8  # pixels a side of one bit of the drawn index


def index_picture(index: int, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8: a grey ramp with the index's bits as black and white cells in row 0."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = np.linspace(40, 200, width, dtype=np.uint8)[None, :, None]
    for bit in range(width // CELL):
        img[:CELL, bit * CELL : (bit + 1) * CELL] = 255 if index >> bit & 1 else 0
    return img


def read_index(pixels: np.ndarray, scale: float = 1.0) -> int:
    """The index drawn by index_picture, read back from a (possibly scaled, lossy) frame."""
    cell = CELL * scale
    value = 0
    for bit in range(int(pixels.shape[1] // cell)):
        y, x = int(cell / 2), int(bit * cell + cell / 2)
        if pixels[y, x, :3].astype(int).mean() > 128:
            value |= 1 << bit
    return value


def make_clip(path: Path, frames: int = 30, *, width: int = 64, height: int = 48, vfr: bool = False, rotate: int = 0,
              audio: bool = True, subtitles: bool = True, chapters: bool = True, codec: str = "libx264",
              pix_fmt: str = "yuv420p", video: bool = True) -> list[int]:
    """Writes the clip; returns its frames' pts (milliseconds)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    out = av.open(str(path), "w")
    vs = None
    if video:
        vs = out.add_stream(codec, rate=25, options={"crf": "10"} if codec in ("libx264", "libx265") else {})
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        vs.time_base = vs.codec_context.time_base = TB
        if rotate:
            vs.set_display_rotation(rotate)
    aus = out.add_stream("aac", rate=48000) if audio else None
    subs = out.add_mux_stream("mov_text" if path.suffix == ".mp4" else "subrip") if subtitles else None
    if subs is not None:
        subs.time_base = TB
    if chapters:
        out.set_chapters([{"id": 1, "start": 0, "end": 500, "time_base": TB, "metadata": {"title": "start"}},
                          {"id": 2, "start": 500, "end": 1000, "time_base": TB, "metadata": {"title": "end"}}])
    out.metadata["title"] = "landscape test clip"
    pts, t = [], 0
    for i in range(frames if video else 0):
        frame = av.VideoFrame.from_ndarray(index_picture(i, height, width), format="rgb24")
        if pix_fmt != "yuv420p":
            frame = frame.reformat(format=pix_fmt)
        frame.pts, frame.time_base = t, TB
        pts.append(t)
        t += (20 if i % 3 else 70) if vfr else 40
        for packet in vs.encode(frame):
            out.mux(packet)
    if vs is not None:
        for packet in vs.encode():
            out.mux(packet)
    if aus is not None:
        for start in range(0, 48000, 1024):
            wave = (0.3 * np.sin(np.arange(start, start + 1024) / 48000 * 2 * np.pi * 440)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            for packet in aus.encode(frame):
                out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)
    if subs is not None:
        packet = av.Packet(b"\x00\x05hello" if path.suffix == ".mp4" else b"hello")
        packet.stream, packet.pts, packet.dts, packet.duration, packet.time_base = subs, 0, 0, 500, TB
        out.mux(packet)
    out.close()
    return pts
