"""Labelling: photo -> class-index map (the segmenter's argmax), the same size as the photo,
tiled above `tile` pixels with logits cross-faded between tiles."""
from __future__ import annotations

import cv2
import numpy as np

from landscape.pipelines.tiling import Progress, round_up, run_tiled
from landscape.runtime.sessions import Model


def label(model: Model, rgb_hwc: np.ndarray, *, tile: int = 512, pad: int = 32, batch: int = 1,
          progress: Progress | None = None) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> (H, W) uint8 class indices."""
    h, w, _ = rgb_hwc.shape
    out = np.empty((h, w), np.uint8)
    name = model.info.inputs[0].name

    def emit(y: int, logits: np.ndarray) -> None:
        out[y : y + logits.shape[1]] = argmax_classes(logits)

    multiple = model.info.size_multiple
    chw = model.to_input_range(rgb_hwc.transpose(2, 0, 1), name)
    run_tiled(chw, lambda b: model.run(**{name: b}), emit, scale=1, tile=round_up(tile, multiple), pad=pad,
              multiple=multiple, batch=batch, progress=progress)
    return out


def argmax_classes(logits: np.ndarray) -> np.ndarray:
    """(K, H, W) -> (H, W) uint8 index of the largest, the first on ties, like `argmax(0)`:
    a running maximum over the class planes in OpenCV, 8-11x numpy's argmax over the first
    axis (3.0 -> 0.27 ms for 8 classes at 256 px), which strides across the planes."""
    logits = np.ascontiguousarray(logits, np.float32)
    best = logits[0].copy()
    index = np.zeros(best.shape, np.uint8)
    k_plane = np.empty(best.shape, np.uint8)
    for k in range(1, logits.shape[0]):
        better = cv2.compare(logits[k], best, cv2.CMP_GT)
        cv2.max(best, logits[k], dst=best)
        k_plane.fill(k)
        index = cv2.copyTo(k_plane, better, index)
    return index


def merge_small_regions(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Regions (4-connected, one class) smaller than `min_pixels` take the class of the nearest
    pixel outside every such region. A segmenter trained on streets scatters specks of road
    and building over rock and water; in a map meant for editing and `translate` they are noise."""
    if min_pixels <= 0:
        return labels
    # One id per region over the whole map (class k's regions numbered on from first[k]), so
    # that the areas are one bincount and the small pixels one lookup, not one per class.
    first = np.zeros(256, np.int32)
    ids = np.zeros(labels.shape, np.int32)
    regions_so_far = 0
    for k in np.flatnonzero(np.bincount(labels.ravel())):
        n, regions = cv2.connectedComponents((labels == k).view(np.uint8), connectivity=4)
        ids += regions
        first[k] = regions_so_far
        regions_so_far += n - 1
    ids += cv2.LUT(labels, first)
    small = (np.bincount(ids.ravel(), minlength=regions_so_far + 1) < min_pixels)[ids]
    if not small.any() or small.all():
        return labels
    # Every pixel learns the id of its nearest kept (zero) pixel; those ids count the kept
    # pixels from 1 in raster order, so the kept pixels' classes in that order map them back.
    _, nearest = cv2.distanceTransformWithLabels(small.view(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    class_of = np.zeros(labels.size - np.count_nonzero(small) + 1, labels.dtype)
    class_of[1:] = labels[~small]
    return class_of[nearest]


def colourise(labels: np.ndarray, palette: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """(H, W) indices -> (H, W, 3) uint8 in the model's palette (OpenCV's table lookup: 6x
    numpy's gather)."""
    table = np.zeros((256, 1, 3), np.uint8)
    table[: len(palette), 0] = palette
    return cv2.LUT(cv2.cvtColor(labels, cv2.COLOR_GRAY2RGB), table)
