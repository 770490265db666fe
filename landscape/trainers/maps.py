"""Segmentation maps for pix2pix: class-index PNGs (Stanford Background, COCO-Stuff,
ADE20K, with a table remapping their classes to the landscape palette) or PNGs painted in
the palette's colours. Result: int64 (H, W) class indices, IGNORE where no class applies."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from landscape.trainers.palette import LANDSCAPE_CLASSES, LANDSCAPE_PALETTE

IGNORE = 255
COLOUR_TOLERANCE = 24  # per channel: absorbs JPEG-ish drift in painted maps, far below palette gaps


def _table(pairs: dict[str, tuple[int, ...]], offset: int = 0) -> dict[int, str]:
    return {i - offset: name for name, ids in pairs.items() for i in ids}


# Source class -> landscape class; unlisted classes are ignored (no class in the one-hot map).
PRESETS: dict[str, dict[int, str]] = {
    # Stanford Background: already our classes, in our order; 15 = unknown.
    "stanford": {i: name for i, name in enumerate(LANDSCAPE_CLASSES)},
    # COCO-Stuff 182 classes, label PNGs store id - 1 (ids from the dataset's labels.txt).
    "cocostuff": _table({
        "foreground": tuple(range(1, 92)),  # the 91 "thing" classes: people, vehicles, animals, objects
        "sky": (106, 157, 120),  # clouds, sky-other, fog
        "tree": (94, 97, 129, 142, 169),  # branch, bush, leaves, plant-other, tree
        "road": (111, 125, 126, 136, 140, 147, 149, 154),  # dirt, gravel, ground-other, mud, pavement, railroad, road, sand
        "grass": (119, 124, 134, 145, 163),  # flower, grass, moss, playingfield, straw
        "water": (148, 155, 178, 179),  # river, sea, water-other, waterdrops
        "building": (95, 96, 113, 128, 146, 151, 158, 161, 164, 166, 171, 172, 173, 174, 175, 176, 177, 181),
        "mountain": (127, 135, 150, 159, 162),  # hill, mountain, rock, snow, stone
    }, offset=1),
    # ADE20K SceneParsing 150 classes, 0 = unlabelled; the outdoor classes that matter here.
    "ade20k": _table({
        "sky": (3,), "tree": (5, 18, 73), "road": (7, 12, 14, 47, 53, 55), "grass": (10, 30, 67),
        "water": (22, 27, 61), "building": (1, 2, 26, 33, 49, 62), "mountain": (17, 35, 69),
        "foreground": (13, 21),
    }),
}


def load_table(spec: str) -> np.ndarray:
    """A 256-entry lookup from source index to landscape index, from a preset name or a JSON
    file {"source index": "landscape class name" | null}."""
    if spec in PRESETS:
        mapping = PRESETS[spec]
    else:
        path = Path(spec)
        try:
            raw = json.loads(path.read_text())
            mapping = {int(k): v for k, v in raw.items() if v is not None}
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(f"--class-map {spec}: not a preset ({', '.join(PRESETS)}) nor a readable JSON table ({exc})") from None
    lut = np.full(256, IGNORE, np.uint8)
    for source, name in mapping.items():
        if name not in LANDSCAPE_CLASSES:
            raise ValueError(f"--class-map {spec}: {name!r} is not a landscape class ({', '.join(LANDSCAPE_CLASSES)})")
        if not 0 <= source < 256:
            raise ValueError(f"--class-map {spec}: source index {source} is outside 0..255")
        lut[source] = LANDSCAPE_CLASSES.index(name)
    return lut


def read_labels(path: Path, lut: np.ndarray) -> np.ndarray:
    """Class indices from an index PNG (one channel) or a palette-coloured one (three)."""
    try:
        with Image.open(path) as img:
            mode = img.mode
            # Palette-mode PNGs (Stanford Background, VOC style) store class indices; their
            # palette is only for display.
            raw = np.asarray(img if mode in ("L", "P") else img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"{path}: cannot decode the map ({exc})") from None
    if mode in ("L", "P"):
        return lut[raw].astype(np.int64)
    if mode not in ("RGB", "RGBA"):
        raise ValueError(f"{path}: map mode {mode} is neither an 8-bit index map nor an RGB colour map")
    rgb = raw.astype(np.int16)
    palette = np.asarray(LANDSCAPE_PALETTE, np.int16)
    dist = np.abs(rgb[:, :, None, :] - palette[None, None]).max(-1)  # (H, W, classes)
    labels = dist.argmin(-1)
    labels[dist.min(-1) > COLOUR_TOLERANCE] = IGNORE
    return labels.astype(np.int64)


def onehot(labels_hw: np.ndarray, classes: int) -> np.ndarray:
    """float32 (classes, H, W); ignored pixels are all-zero."""
    out = np.zeros((classes, *labels_hw.shape), np.float32)
    for k in range(classes):
        out[k] = labels_hw == k
    return out


def colourise(labels: "np.ndarray") -> np.ndarray:
    """uint8 RGB picture of a label map, ignored pixels black (for sample grids)."""
    palette = np.vstack([np.asarray(LANDSCAPE_PALETTE, np.uint8), np.zeros((256 - len(LANDSCAPE_PALETTE), 3), np.uint8)])
    return palette[labels.astype(np.uint8)]
