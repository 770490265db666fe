"""Super-resolution of pictures of any size and mode, tiled when big, by any factor.

Gray pictures are upscaled as RGB and brought back to gray; alpha is upscaled on its own
through the same model; 16-bit stays 16-bit. A factor the models do not make themselves runs
the fewest passes that reach it and is resampled to the exact size: area averaging when
shrinking, Lanczos when growing (Real-ESRGAN's --outscale does the same).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from landscape.imaging.codec import LUMA_WEIGHTS, from_unit, max_value, rgb_pixels, to_unit
from landscape.pipelines.tiling import Progress, run_tiled
from landscape.runtime.sessions import Model


EMIT_ROWS = 64
# On the CPU, the input pixels of one batched call (two 128 px pictures): a batch of 8 runs no
# faster per picture (99 against 98 ms in int8, 175 against 174 in bf16) and holds 8 pictures'
# 4x activations at once: the main job's peak was 1.05 GB against 0.41 GB
# (docs/PERFORMANCE.md, "Memory: the main job").
CPU_CALL_PIXELS = 2 * 128 * 128
MAX_PASSES, MAX_SCALE = 4, 16


def parse_factor(value: object, option: str = "--scale") -> float | None:
    """A total factor as given (a number, or its text on the command line) -> a float in
    [1, MAX_SCALE], or a usage error in one line; None stays None (the model's own factor)."""
    from landscape.errors import UsageError

    if value is None:
        return None
    try:
        factor = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise UsageError(f"{option} {value!r}: not a number (e.g. 2, 3, 1.5)") from None
    if not math.isfinite(factor) or not 1 <= factor <= MAX_SCALE:
        raise UsageError(f"{option} {value}: the factor must be a number from 1 to {MAX_SCALE}")
    return factor


def plan_passes(factor: float, scales: Sequence[int]) -> tuple[int, ...]:
    """The models' factors to run, in order, for a total `factor`: the fewest passes whose
    product reaches it and, of those, the smallest product (the least to shrink afterwards),
    smaller factors first (x2 then x4 feeds the x4 model a quarter of the pixels x4 then x2
    would). Models that do not enlarge (x1) run once, and the resize makes the factor."""
    enlarging = sorted({s for s in scales if s > 1})
    if not enlarging:
        return (min(scales),)
    for count in range(1, MAX_PASSES + 1):
        reaching = [c for c in itertools.combinations_with_replacement(enlarging, count) if math.prod(c) >= factor]
        if reaching:
            return min(reaching, key=lambda c: (math.prod(c), c))
    return (enlarging[-1],) * MAX_PASSES


def target_size(height: int, width: int, factor: float) -> tuple[int, int]:
    """round(factor x side), halves up, at least 1."""
    return max(1, math.floor(height * factor + 0.5)), max(1, math.floor(width * factor + 0.5))


def resample(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W[, C]) -> `size`: area averaging when it shrinks, Lanczos when it grows; the same
    dtype, floats kept in [0, 1]."""
    import cv2

    if pixels.shape[:2] == size:
        return pixels
    shrinking = size[0] * size[1] < pixels.shape[0] * pixels.shape[1]
    out = cv2.resize(pixels, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
    if out.ndim < pixels.ndim:  # OpenCV drops a single channel's axis
        out = out[:, :, None]
    return np.clip(out, 0.0, 1.0, out=out) if out.dtype.kind == "f" else out


@dataclass(frozen=True)
class TileSettings:
    tile: int = 256  # input pixels per tile side; 0 = whole image in one piece
    pad: int = 16  # context each tile reads beyond its core (overlap = 2 * pad)
    batch: int = 4


def upscale_unit_batch(model: Model, images_nhwc: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) in [0, 1] -> (N, sH, sW, 3) in [0, 1], untiled (small images whose sides
    are multiples of the model's size multiple)."""
    name = model.info.inputs[0].name
    n, h, w, _ = images_nhwc.shape
    per_call = max(1, CPU_CALL_PIXELS // (h * w)) if model.device.name == "cpu" else n
    outs = [model.run(**{name: model.to_input_range(images_nhwc[i : i + per_call].transpose(0, 3, 1, 2), name)})
            for i in range(0, n, per_call)]
    return model.from_output_range(np.concatenate(outs) if len(outs) > 1 else outs[0]).transpose(0, 2, 3, 1)


def upscale_rgb(model: Model, rgb_hwc: np.ndarray, dtype: np.dtype, tiles: TileSettings,
                progress: Progress | None = None) -> np.ndarray:
    """(H, W, 3) float in [0, 1] or uint8/uint16 -> (sH, sW, 3) of `dtype`. Integer input is
    converted tile by tile and the output quantised band by band, so that no float copy of
    a big picture exists whole, in or out."""
    scale = model.info.scale or 4
    h, w, _ = rgb_hwc.shape
    name = model.info.inputs[0].name
    out = np.empty((h * scale, w * scale, 3), dtype)
    unit = (lambda x: x) if rgb_hwc.dtype.kind == "f" else to_unit

    def emit(y: int, rows: np.ndarray) -> None:
        # A few rows at a time: the float temporaries of a whole band of a 16000 px wide
        # output would be hundreds of MB.
        for start in range(0, rows.shape[1], EMIT_ROWS):
            chunk = rows[:, start : start + EMIT_ROWS]
            out[y + start : y + start + chunk.shape[1]] = from_unit(model.from_output_range(chunk).transpose(1, 2, 0), dtype)

    run_tiled(rgb_hwc.transpose(2, 0, 1), lambda batch: model.run(**{name: model.to_input_range(unit(batch), name)}), emit,
              scale=scale, tile=tiles.tile, pad=tiles.pad, multiple=model.info.size_multiple, batch=tiles.batch,
              progress=progress)
    return out


def work(height: int, width: int, channels: int, passes: Sequence[int]) -> int:
    """Input pixels the models see for a picture: each pass's input, twice with alpha (the
    alpha plane goes through the model on its own). The progress bar's unit."""
    grown = itertools.accumulate(passes[:-1], lambda size, s: size * s * s, initial=height * width)
    return sum(grown) * (2 if channels in (2, 4) else 1)


def upscale_pixels(models: Sequence[Model], pixels: np.ndarray, tiles: TileSettings, size: tuple[int, int] | None = None,
                   progress: Progress | None = None) -> np.ndarray:
    """Decoded picture (H, W, C) uint8/uint16 -> through each model in turn, then resampled to
    `size` (None: as the models leave it); same dtype and channels."""
    for model in models:
        channels = pixels.shape[2]
        up = upscale_rgb(model, rgb_pixels(pixels), pixels.dtype, tiles, progress)
        if channels in (1, 2):
            # Luma of the upscaled RGB rather than one channel, in case the model tinted the gray.
            luma = up.astype(np.float32) @ LUMA_WEIGHTS
            parts = [from_unit(luma[:, :, None] / np.float32(max_value(pixels.dtype)), pixels.dtype)]
        else:
            parts = [up]
        if channels in (2, 4):
            parts.append(upscale_rgb(model, np.repeat(pixels[:, :, -1:], 3, axis=2), pixels.dtype, tiles, progress)[:, :, :1])
        pixels = np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
    return pixels if size is None else resample(pixels, size)
