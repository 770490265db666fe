"""Labelling: photo -> class-index map (the segmenter's argmax), the same size as the photo,
tiled above `tile` pixels with logits cross-faded between tiles."""
from __future__ import annotations

import cv2
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


def merge_small_regions(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Regions (4-connected, one class) smaller than `min_pixels` take the class of the nearest
    pixel outside every such region. A segmenter trained on streets scatters specks of road
    and building over rock and water; in a map meant for editing and `translate` they are noise."""
    if min_pixels <= 0:
        return labels
    small = np.zeros(labels.shape, bool)
    for k in np.unique(labels):
        _, regions, stats, _ = cv2.connectedComponentsWithStats((labels == k).astype(np.uint8), connectivity=4)
        tiny = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_pixels) + 1
        if tiny.size:
            small |= np.isin(regions, tiny)
    if not small.any() or small.all():
        return labels
    # Every pixel learns the id of its nearest kept (zero) pixel; ids map back to classes.
    _, nearest = cv2.distanceTransformWithLabels(small.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    class_of = np.zeros(int(nearest.max()) + 1, labels.dtype)
    class_of[nearest[~small]] = labels[~small]
    return class_of[nearest]


def colourise(labels: np.ndarray, palette: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """(H, W) indices -> (H, W, 3) uint8 in the model's palette."""
    return np.asarray(palette, np.uint8)[labels]
