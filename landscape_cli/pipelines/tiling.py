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
    """Tiling of one axis: `count` cores of `core` pixels, each read with `pad` of context."""

    size: int
    core: int
    pad: int
    count: int

    @classmethod
    def plan(cls, size: int, tile: int, pad: int, multiple: int) -> "_Axis":
        # The window (core + 2 pad) must be a multiple too: grow the pad, never the core.
        pad = round_up(2 * pad, math.lcm(2, multiple)) // 2
        if size <= tile:
            # One core, still read with context: edge pixels must see what a one-pass run shows them.
            return cls(size, round_up(size, multiple), pad, 1)
        # Equal cores no bigger than `tile`, as few as fit: a 300 px side with tile 256 is two
        # cores of 152, not 256 + 44 with the rest of the second tile spent on padding.
        count = math.ceil(size / tile)
        core = min(tile, round_up(math.ceil(size / count), multiple))
        count = math.ceil(size / core)
        return cls(size, core, pad, count)

    @property
    def window(self) -> int:
        return self.core + 2 * self.pad

    def weights(self, index: int, scale: int) -> np.ndarray:
        """Blend weights over a window: a linear cross-fade with each neighbour, centred on
        the core boundary and `blend` wide; 0 on context beyond it; flat at the image edges.
        The weights of all windows covering a pixel sum to exactly 1."""
        w = np.ones(self.window * scale, np.float32)
        blend = min(2 * self.pad, self.core) * scale
        if blend:
            ramp = (np.arange(blend, dtype=np.float32) + 0.5) / blend
            start = self.pad * scale - blend // 2  # where the cross-fade with the previous tile begins
            end = (self.pad + self.core) * scale - blend // 2  # ... with the next tile
            if index > 0:
                w[:start] = 0.0
                w[start : start + blend] = ramp
            if index < self.count - 1:
                w[end : end + blend] = ramp[::-1]
                w[end + blend :] = 0.0
        return w


def run_padded(chw: np.ndarray, infer: Infer, *, scale: int, multiple: int, pad: int = 0) -> np.ndarray:
    """(C, H, W) -> (C', H*scale, W*scale) in one call. `pad` pixels of reflected context
    on every side give border pixels the same surroundings as a tiled run gives them."""
    _, h, w = chw.shape
    if pad:
        chw = np.pad(chw, ((0, 0), (pad, pad), (pad, pad)), mode="reflect" if min(h, w) > 1 else "edge")
    out = infer(pad_to_multiple(chw, multiple)[None])[0]
    return out[:, pad * scale : (pad + h) * scale, pad * scale : (pad + w) * scale]


def run_tiled(chw: np.ndarray, infer: Infer, emit: Emit, *, scale: int, tile: int, pad: int,
              multiple: int, batch: int) -> None:
    """Process (C, H, W) in overlapping tiles; `emit` receives the output in row bands, top
    to bottom, covering rows 0..H*scale exactly once. tile <= 0 means one piece."""
    _, h, w = chw.shape
    if tile <= 0 or (h <= tile and w <= tile):
        emit(0, run_padded(chw, infer, scale=scale, multiple=multiple, pad=pad))
        return
    if tile % multiple:
        raise ValueError(f"tile {tile} is not a multiple of the model's size multiple {multiple}")
    ys, xs = _Axis.plan(h, tile, pad, multiple), _Axis.plan(w, tile, pad, multiple)
    # Reflect-pad once so that every window, edge ones included, has the same shape.
    padded = np.pad(
        chw,
        ((0, 0), (ys.pad, ys.pad + ys.count * ys.core - h), (xs.pad, xs.pad + xs.count * xs.core - w)),
        mode="reflect" if min(h, w) > 1 else "edge",
    )
    out_w = w * scale
    # Tiles per inference call, capped so that one call's output stays near MAX_CALL_OUTPUT_PIXELS:
    # a network's activations at the output resolution (x4: 16x the input's pixels, times its
    # channels) are what peaks memory, not the picture.
    per_call = max(1, min(batch, MAX_CALL_OUTPUT_PIXELS // (ys.window * xs.window * scale * scale)))
    band: np.ndarray | None = None  # accumulator; row 0 is output row `band_top`
    band_top = -ys.pad * scale
    done = 0  # output rows already emitted
    for row in range(ys.count):
        top = (row * ys.core - ys.pad) * scale  # output row of the window's first row
        wy = ys.weights(row, scale)
        if band is not None:
            # Slide up in place: only the overlap with the previous window carries over. Blocks
            # of `shift` rows never overlap their source, so no temporary copy of the band.
            shift, rows_kept = top - band_top, band.shape[1] - (top - band_top)
            for start in range(0, rows_kept, shift):
                stop = min(start + shift, rows_kept)
                band[:, start:stop] = band[:, start + shift : stop + shift]
            band[:, rows_kept:] = 0
        band_top = top
        for first in range(0, xs.count, per_call):
            cols = range(first, min(first + per_call, xs.count))
            windows = [padded[:, row * ys.core : row * ys.core + ys.window, col * xs.core : col * xs.core + xs.window]
                       for col in cols]
            tiles = infer(np.stack(windows))
            if band is None:
                band = np.zeros((tiles.shape[1], ys.window * scale, (xs.count * xs.core + 2 * xs.pad) * scale), np.float32)
            for tile_out, col in zip(tiles, cols):
                x0 = col * xs.core * scale
                band[:, :, x0 : x0 + xs.window * scale] += tile_out * (wy[:, None] * xs.weights(col, scale)[None, :])
        # Rows before the next window's top are final.
        final_end = h * scale if row == ys.count - 1 else ((row + 1) * ys.core - ys.pad) * scale
        final_end = min(final_end, h * scale)
        if final_end > done:
            rows = band[:, done - band_top : final_end - band_top, xs.pad * scale : xs.pad * scale + out_w]
            emit(done, rows)
            done = final_end
