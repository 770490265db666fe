"""x4 super-resolution of pictures of any size and mode, tiled when big.

Gray pictures are upscaled as RGB and brought back to gray; alpha is upscaled on its own
through the same model; 16-bit stays 16-bit. `passes=2` chains the model for x16.
"""
from __future__ import annotations

from dataclasses import dataclass

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
MAX_PASSES, MAX_SCALE = 3, 16


def allowed_scales(model_scale: int) -> list[int]:
    """The total factors a model of this scale reaches: its powers, up to three passes and
    16x (x2: 2, 4, 8; x3: 3, 9; x4: 4, 16; x8: 8; x1: 1)."""
    if model_scale <= 1:
        return [1]
    return [model_scale**k for k in range(1, MAX_PASSES + 1) if model_scale**k <= MAX_SCALE]


def passes_for(total: int | None, model_scale: int, option: str = "--scale") -> int:
    """Passes of the model that give `total` (None: one pass), or a usage error naming the
    factors this model allows."""
    from landscape.errors import UsageError

    allowed = allowed_scales(model_scale)
    if total is None:
        return 1
    if total not in allowed:
        raise UsageError(f"{option} {total}: this x{model_scale} model gives {', '.join(map(str, allowed))}")
    return allowed.index(total) + 1


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


def work(height: int, width: int, channels: int, scale: int, passes: int) -> int:
    """Input pixels the model sees for a picture: each pass's input, twice with alpha (the
    alpha plane goes through the model on its own). The progress bar's unit."""
    return sum(height * width * scale ** (2 * k) for k in range(passes)) * (2 if channels in (2, 4) else 1)


def upscale_pixels(model: Model, pixels: np.ndarray, tiles: TileSettings, passes: int = 1,
                   progress: Progress | None = None) -> np.ndarray:
    """Decoded picture (H, W, C) uint8/uint16 -> (s^passes H, s^passes W, C), same dtype."""
    for _ in range(passes):
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
    return pixels
