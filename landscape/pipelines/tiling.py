"""Run a fully convolutional model on inputs of any size: pad to the size multiple and crop
back, or cut big inputs into overlapping tiles whose outputs are cross-faded.

Tiles all have one shape (batchable, one cuDNN plan), and finished output rows are handed
on as soon as no later tile touches them, so memory stays bounded by a band of tiles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]  # (N, C, h, w) -> (N, C', h*scale, w*scale)
Emit = Callable[[int, np.ndarray], None]  # (first output row, (C', rows, W*scale))
Progress = Callable[[int], None]  # input pixels whose tiles the model has finished


MAX_CALL_OUTPUT_PIXELS = 2 * 1024 * 1024


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def pad_to_multiple(chw: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad the bottom and right of (C, H, W) up to multiples of `multiple`."""
    _, h, w = chw.shape
    ph, pw = round_up(h, multiple) - h, round_up(w, multiple) - w
    if ph == 0 and pw == 0:
        return chw
    return np.pad(chw, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 1 else "edge")


@dataclass(frozen=True)
class _Axis:
    """Tiling of one axis: `count` cores of `core` pixels, read through windows of `window`
    pixels that start at `starts` (picture coordinates; before 0 or past the end is
    reflection). A window reads `pad` of context around its core, shifted inwards at the
    picture's edges so that it reads real pixels: the picture's border then sees what a
    one-pass run shows it (run_padded)."""

    size: int
    core: int
    pad: int
    count: int
    window: int
    starts: tuple[int, ...]

    @classmethod
    def plan(cls, size: int, tile: int, pad: int, multiple: int) -> "_Axis":
        # The window (core + 2 pad) must be a multiple too: grow the pad, never the core.
        pad = round_up(2 * pad, math.lcm(2, multiple)) // 2
        # Equal cores no bigger than `tile`, as few as fit: a 300 px side with tile 256 is two
        # cores of 152, not 256 + 44 with the rest of the second tile spent on padding.
        count = math.ceil(size / tile)
        core = min(tile, round_up(math.ceil(size / count), multiple))
        count = math.ceil(size / core)
        if count == 1 or size < core + 2 * pad:
            # One window, the axis padded to the multiple on both sides, as run_padded does: no
            # bigger than one tile's window, and no reflected context for the border to see.
            window = round_up(size, multiple)
            return cls(size, window, 0, 1, window, (-((window - size) // 2),))
        window = core + 2 * pad
        starts = tuple(min(max(i * core - pad, 0), size - window) for i in range(count))
        return cls(size, core, pad, count, window, starts)

    @property
    def before(self) -> int:
        """Reflected pixels needed before the picture."""
        return max(0, -self.starts[0])

    @property
    def after(self) -> int:
        return max(0, self.starts[-1] + self.window - self.size)

    def core_size(self, index: int) -> int:
        """Picture pixels of window `index`'s core (the last may be cut by the picture's end)."""
        return min(self.core, self.size - index * self.core)

    def weights(self, index: int, scale: int) -> np.ndarray:
        """Blend weights over window `index`'s output pixels: a linear cross-fade with each
        neighbour, `blend` wide and centred on the core boundary; 0 beyond it; flat at the
        picture's edges. The weights of all windows covering a pixel sum to exactly 1."""
        centres = self.starts[index] * scale + np.arange(self.window * scale, dtype=np.float64) + 0.5
        w = np.ones(self.window * scale, np.float64)
        blend = min(2 * self.pad, self.core) * scale
        if index > 0:
            edge = index * self.core * scale
            w *= np.clip((centres - (edge - blend / 2)) / blend, 0.0, 1.0) if blend else centres >= edge
        if index < self.count - 1:
            edge = (index + 1) * self.core * scale
            w *= np.clip((edge + blend / 2 - centres) / blend, 0.0, 1.0) if blend else centres < edge
        return w.astype(np.float32)


def run_padded(chw: np.ndarray, infer: Infer, *, scale: int, multiple: int) -> np.ndarray:
    """(C, H, W) -> (C', H*scale, W*scale) in one call. The padding that the size multiple
    needs is reflected on both sides, half each, and no more: reflected context beyond it
    cost 1.5-2.25x the compute on small pictures and measured worse on held-out data
    (Stanford val: translate 12.11 -> 12.26 dB, label mIoU 50.4 -> 51.5 %; Set5 30.72 ->
    30.73 dB; docs/PERFORMANCE.md)."""
    _, h, w = chw.shape
    ph, pw = round_up(h, multiple) - h, round_up(w, multiple) - w
    top, left = ph // 2, pw // 2
    if ph or pw:
        chw = np.pad(chw, ((0, 0), (top, ph - top), (left, pw - left)), mode="reflect" if min(h, w) > 1 else "edge")
    out = infer(chw[None])[0]
    return out[:, top * scale : (top + h) * scale, left * scale : (left + w) * scale]


def run_tiled(chw: np.ndarray, infer: Infer, emit: Emit, *, scale: int, tile: int, pad: int,
              multiple: int, batch: int, progress: Progress | None = None) -> None:
    """Process (C, H, W) in overlapping tiles; `emit` receives the output in row bands, top
    to bottom, covering rows 0..H*scale exactly once. tile <= 0 means one piece. `progress`
    hears the picture pixels of each call's tiles as the call returns (H*W in all)."""
    _, h, w = chw.shape
    if tile <= 0 or (h <= tile and w <= tile):
        emit(0, run_padded(chw, infer, scale=scale, multiple=multiple))
        if progress is not None:
            progress(h * w)
        return
    if tile % multiple:
        raise ValueError(f"tile {tile} is not a multiple of the model's size multiple {multiple}")
    ys, xs = _Axis.plan(h, tile, pad, multiple), _Axis.plan(w, tile, pad, multiple)
    # Reflect-pad once, as far as the outermost windows reach past the picture.
    padded = np.pad(chw, ((0, 0), (ys.before, ys.after), (xs.before, xs.after)),
                    mode="reflect" if min(h, w) > 1 else "edge")
    out_w = w * scale
    left = -xs.starts[0] * scale  # band column of the picture's first column
    # Tiles per inference call, capped so that one call's output stays near MAX_CALL_OUTPUT_PIXELS:
    # a network's activations at the output resolution (x4: 16x the input's pixels, times its
    # channels) are what peaks memory, not the picture.
    per_call = max(1, min(batch, MAX_CALL_OUTPUT_PIXELS // (ys.window * xs.window * scale * scale)))
    band: np.ndarray | None = None  # accumulator; row 0 is output row `band_top`
    band_top = ys.starts[0] * scale
    done = 0  # output rows already emitted
    for row in range(ys.count):
        top = ys.starts[row] * scale  # output row of the window's first row
        wy = ys.weights(row, scale)
        if band is not None and top > band_top:
            # Slide up in place: only the overlap with the previous window carries over. Blocks
            # of `shift` rows never overlap their source, so no temporary copy of the band.
            shift, rows_kept = top - band_top, max(0, band.shape[1] - (top - band_top))
            for start in range(0, rows_kept, shift):
                stop = min(start + shift, rows_kept)
                band[:, start:stop] = band[:, start + shift : stop + shift]
            band[:, rows_kept:] = 0
        band_top = top
        y0 = ys.starts[row] + ys.before
        for first in range(0, xs.count, per_call):
            cols = range(first, min(first + per_call, xs.count))
            windows = [padded[:, y0 : y0 + ys.window, xs.starts[c] + xs.before : xs.starts[c] + xs.before + xs.window]
                       for c in cols]
            tiles = infer(np.stack(windows))
            if progress is not None:
                progress(ys.core_size(row) * sum(xs.core_size(c) for c in cols))
            if band is None:
                band = np.zeros((tiles.shape[1], ys.window * scale, (xs.starts[-1] + xs.window - xs.starts[0]) * scale), np.float32)
            for tile_out, col in zip(tiles, cols):
                x0 = (xs.starts[col] - xs.starts[0]) * scale
                band[:, :, x0 : x0 + xs.window * scale] += tile_out * (wy[:, None] * xs.weights(col, scale)[None, :])
        # Rows before the next window's top are final.
        final_end = h * scale if row == ys.count - 1 else min(ys.starts[row + 1] * scale, h * scale)
        if final_end > done:
            rows = band[:, done - band_top : final_end - band_top, left : left + out_w]
            emit(done, rows)
            done = final_end
