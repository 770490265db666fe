"""Inputs for int8: the calibration calls that post-training quantization measures activation
ranges on, and the held-out calls of the int8 check. Each is one model call shaped like the
model's work, built from pictures (float RGB in [0, 1], H x W x 3) and a seed.

Where the pictures come from: the bundled models were quantized on landscape photos of their
training split and checked on the held-out split (`scripts/int8_bundled.py`); those photos may
not be redistributed, so a user's model is calibrated on pictures the bundled models made,
shipped in `landscape/runtime/data/calibration/` (the first CALIBRATION_COUNT calibrate, the
rest are held out for the check).
"""
from __future__ import annotations

from importlib import resources

import numpy as np

from landscape.runtime.model_contract import ModelInfo

CALIBRATION_COUNT = 16  # of the shipped pictures; the others are the check's
SIDE = 256  # pixels a side of a calibration call (an upscaler's input is SIDE / scale)


def shipped_pictures() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(calibration, held_out) pictures made by the bundled models."""
    from PIL import Image

    folder = resources.files("landscape.runtime") / "data" / "calibration"
    pictures = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jpg"):
            with entry.open("rb") as f, Image.open(f) as img:
                pictures.append(np.asarray(img.convert("RGB"), np.float32) / 255)
    return pictures[:CALIBRATION_COUNT], pictures[CALIBRATION_COUNT:]


def _side(info: ModelInfo, side: int) -> int:
    return max(info.size_multiple, side // info.size_multiple * info.size_multiple, info.min_side)


def _square(picture: np.ndarray, side: int) -> np.ndarray:
    """The picture's centre square at side x side (area-resampled down, bilinear up)."""
    import cv2

    h, w = picture.shape[:2]
    short = min(h, w)
    crop = picture[(h - short) // 2 : (h - short) // 2 + short, (w - short) // 2 : (w - short) // 2 + short]
    interpolation = cv2.INTER_AREA if short > side else cv2.INTER_LINEAR
    return cv2.resize(crop, (side, side), interpolation=interpolation)


def _mask(rng: np.random.Generator, side: int) -> np.ndarray:
    """A box of 6-25 % of the picture and a stroke across it: 1 = hole."""
    mask = np.zeros((side, side), np.float32)
    bh, bw = (int(rng.integers(side // 4, side // 2)) for _ in range(2))
    top, left = int(rng.integers(0, side - bh)), int(rng.integers(0, side - bw))
    mask[top : top + bh, left : left + bw] = 1
    row, width = int(rng.integers(0, side - 8)), int(rng.integers(3, 9))
    mask[row : row + width, side // 10 : side - side // 10] = 1
    return mask


def _label_map(rng: np.random.Generator, classes: int, side: int) -> np.ndarray:
    """One-hot map of horizontal bands with ragged edges, as a landscape's sky, hills, water."""
    bands = np.sort(rng.integers(0, side, classes - 1))
    edges = bands[:, None] + rng.integers(-side // 16, side // 16 + 1, (classes - 1, side)).cumsum(1) // 8
    rows = np.arange(side)[:, None, None]
    labels = (rows > edges[None].transpose(0, 2, 1)).sum(-1) if classes > 1 else np.zeros((side, side), int)
    order = rng.permutation(classes)
    return np.eye(classes, dtype=np.float32)[order[labels]].transpose(2, 0, 1)


def feeds(info: ModelInfo, pictures: list[np.ndarray], seed: int, side: int = SIDE) -> list[dict[str, np.ndarray]]:
    """One call's inputs per picture (generate: per picture, a batch of 4 latents), in the
    model's input ranges."""
    rng = np.random.default_rng(seed)
    calls = []
    for picture in pictures:
        if info.task == "generate":
            calls.append({info.inputs[0].name: rng.standard_normal((4, info.latent_dim or 0), dtype=np.float32)})
            continue
        if info.task == "translate":
            value = _label_map(rng, len(info.classes), _side(info, side))[None]
            calls.append({info.inputs[0].name: value})
            continue
        size = _side(info, side // (info.scale or 1) if info.task == "upscale" else side)
        photo = _square(picture, size).transpose(2, 0, 1)[None]
        low, high = info.inputs[0].range or (0.0, 1.0)
        call = {info.inputs[0].name: (photo * (high - low) + low).astype(np.float32)}
        if info.task == "inpaint":
            call[info.inputs[-1].name] = _mask(rng, size)[None, None]
        calls.append(call)
    return calls
