"""Segmentation map -> landscape photo.

Maps come colour-coded (RGB, the palette in the model's metadata) or as single-channel
class-index images. Colours near a palette entry snap to it and are counted; a map that is
mostly off-palette is refused, since translating it would be translating noise.
"""
from __future__ import annotations

import numpy as np

from landscape.errors import ItemError
from landscape.imaging.codec import to_8bit
from landscape.pipelines.tiling import Progress, round_up, run_tiled
from landscape.runtime.sessions import Model

DEFAULT_TOLERANCE = 24.0  # Euclidean RGB distance within which a colour snaps silently
MAX_OFF_PALETTE = 0.5  # fraction of far-off pixels beyond which a map is refused


def labels_from_map(pixels: np.ndarray, palette: tuple[tuple[int, int, int], ...],
                    tolerance: float = DEFAULT_TOLERANCE) -> tuple[np.ndarray, list[str]]:
    """Decoded map (H, W, C) -> (H, W) class indices and notes on what was snapped."""
    n_classes = len(palette)
    notes: list[str] = []
    if pixels.shape[2] in (1, 2):
        labels = pixels[:, :, 0]
        unknown = np.unique(labels[labels >= n_classes])
        if unknown.size:
            listed = ", ".join(str(int(v)) for v in unknown[:6]) + (", ..." if unknown.size > 6 else "")
            raise ItemError(f"index map holds class id(s) {listed}, outside the model's {n_classes} classes (0..{n_classes - 1})")
        return labels.astype(np.int64), notes
    rgb = to_8bit(pixels[:, :, :3]).astype(np.uint32)
    packed = (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]
    # Most pixels of a map are exact palette colours: one binary search over the palette
    # labels them; distances are worked out only for the other colours.
    colours_rgb = np.asarray(palette, np.uint32)
    codes = (colours_rgb[:, 0] << 16) | (colours_rgb[:, 1] << 8) | colours_rgb[:, 2]
    order = np.argsort(codes, kind="stable")
    slot = np.minimum(np.searchsorted(codes[order], packed), n_classes - 1)
    labels = order[slot]
    off = codes[labels] != packed
    if not off.any():
        return labels, notes
    # Distances per distinct off-palette colour, not per pixel: JPEG'd maps hold a few
    # thousand, so this stays cheap on big maps.
    colours, inverse, counts = np.unique(packed[off], return_inverse=True, return_counts=True)
    colour_rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.float32)
    dist = np.linalg.norm(colour_rgb[:, None, :] - np.asarray(palette, np.float32)[None], axis=2)
    nearest, nearest_dist = dist.argmin(1), dist.min(1)
    total = packed.size
    far = int(counts[nearest_dist > tolerance].sum())
    near = int(counts[nearest_dist <= tolerance].sum())
    if far > MAX_OFF_PALETTE * total:
        raise ItemError(
            f"{100 * far / total:.0f}% of the pixels are far from every palette colour (distance > {tolerance:g}); "
            "not a colour-coded map for this model (see `landscape palette`)"
        )
    if near:
        notes.append(f"{near} px within {tolerance:g} of a palette colour snapped to it")
    if far:
        notes.append(f"{far} px ({100 * far / total:.1f}%) off-palette, mapped to the nearest class")
    labels[off] = nearest[inverse]
    return labels, notes


def onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(H, W) indices -> (C, H, W) float32 one-hot."""
    return (labels[None] == np.arange(n_classes)[:, None, None]).astype(np.float32)


def translate(model: Model, labels: np.ndarray, *, tile: int = 512, pad: int = 32, batch: int = 1,
              progress: Progress | None = None) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) float32 in [0, 1], same size as the map."""
    h, w = labels.shape
    out = np.empty((h, w, 3), np.float32)
    name = model.info.inputs[0].name

    def emit(y: int, rows: np.ndarray) -> None:
        out[y : y + rows.shape[1]] = model.from_output_range(rows).transpose(1, 2, 0)

    multiple = model.info.size_multiple
    run_tiled(onehot(labels, len(model.info.classes)), lambda b: model.run(**{name: b}), emit, scale=1,
              tile=round_up(tile, multiple), pad=pad, multiple=model.info.size_multiple, batch=batch, progress=progress)
    return out
