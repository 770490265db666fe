"""Random hole masks for inpainting: free-form brush strokes and rectangles until the hole
covers a drawn share of the image. float32 (H, W), 1 = hole."""
from __future__ import annotations

import math

import cv2
import numpy as np

MASK_KINDS = ("strokes", "rectangles", "mixed")


def _stroke(mask: np.ndarray, rng: np.random.Generator) -> None:
    h, w = mask.shape
    y, x = float(rng.uniform(0, h)), float(rng.uniform(0, w))
    width = int(rng.uniform(0.03, 0.1) * min(h, w)) + 1
    angle = rng.uniform(0, 2 * math.pi)
    for _ in range(int(rng.integers(4, 12))):
        angle += rng.uniform(-1.0, 1.0)  # a brush wanders, it does not zig-zag at random
        length = rng.uniform(0.05, 0.25) * max(h, w)
        ny = float(np.clip(y + length * math.sin(angle), 0, h - 1))
        nx = float(np.clip(x + length * math.cos(angle), 0, w - 1))
        cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 1.0, width)
        cv2.circle(mask, (int(nx), int(ny)), width // 2, 1.0, -1)  # round joints
        y, x = ny, nx


def _rectangle(mask: np.ndarray, rng: np.random.Generator) -> None:
    h, w = mask.shape
    rh, rw = int(rng.uniform(0.1, 0.5) * h) + 1, int(rng.uniform(0.1, 0.5) * w) + 1
    y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
    mask[y : y + rh, x : x + rw] = 1.0


def random_mask(h: int, w: int, rng: np.random.Generator, *, area: tuple[float, float], kind: str) -> np.ndarray:
    """Shapes are added until the hole covers a share drawn uniformly from `area`; the last
    shape may overshoot it a little, never past the upper bound by more than one shape."""
    target = rng.uniform(*area)
    mask = np.zeros((h, w), np.float32)
    for _ in range(200):
        if mask.mean() >= target:
            break
        use_stroke = kind == "strokes" or (kind == "mixed" and rng.random() < 0.5)
        (_stroke if use_stroke else _rectangle)(mask, rng)
    return mask


def hole_box(mask_hw: np.ndarray | "object", size: int) -> tuple[int, int]:
    """Top-left corner of the `size` x `size` window centred on the hole's bounding box,
    kept inside the image: where GLCIC's local discriminator looks."""
    ys, xs = np.nonzero(np.asarray(mask_hw))
    h, w = mask_hw.shape[-2:]
    if len(ys) == 0:
        return (h - size) // 2, (w - size) // 2
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    return int(np.clip(cy - size // 2, 0, h - size)), int(np.clip(cx - size // 2, 0, w - size))
