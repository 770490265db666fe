"""Labelling: photo -> class-index map (the segmenter's argmax), the same size as the photo,
tiled above `tile` pixels with logits cross-faded between tiles."""
from __future__ import annotations

import numpy as np

from landscape_cli.pipelines.tiling import round_up, run_tiled
from landscape_cli.runtime import Model


def label(model: Model, rgb_hwc: np.ndarray, *, tile: int = 512, pad: int = 32, batch: int = 1) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> (H, W) uint8 class indices."""
    h, w, _ = rgb_hwc.shape
    out = np.empty((h, w), np.uint8)
    name = model.info.inputs[0].name

    def emit(y: int, logits: np.ndarray) -> None:
        out[y : y + logits.shape[1]] = logits.argmax(0)

    multiple = model.info.size_multiple
    chw = model.to_input_range(rgb_hwc.transpose(2, 0, 1), name)
    run_tiled(chw, lambda b: model.run(**{name: b}), emit, scale=1, tile=round_up(tile, multiple), pad=pad,
              multiple=multiple, batch=batch)
    return out


def colourise(labels: np.ndarray, palette: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """(H, W) indices -> (H, W, 3) uint8 in the model's palette."""
    return np.asarray(palette, np.uint8)[labels]
