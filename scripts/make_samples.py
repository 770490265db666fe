"""Make the files in samples/: colour-coded maps and masks drawn here from seeded noise, and
photos made by the bundled generator and upscaler. Nothing comes from any data set.
Run: python -m scripts.make_samples   (rewrites samples/{maps,photos,masks} and
docs/images/samples.jpg)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from landscape.trainers.palette import LANDSCAPE_CLASSES, LANDSCAPE_PALETTE

ROOT = Path(__file__).resolve().parents[1] / "samples"
W, H = 320, 240
CLASS = {name: i for i, name in enumerate(LANDSCAPE_CLASSES)}
PHOTO_SEEDS = [3, 7, 12]


def ridge(rng: np.random.Generator, width: int, base: float, roughness: float) -> np.ndarray:
    """A 1-D mountain profile by midpoint displacement: heights (rows) per column."""
    n = 1
    heights = np.array([base, base], np.float64)
    amp = roughness
    while n < width:
        mids = (heights[:-1] + heights[1:]) / 2 + rng.normal(0, amp, len(heights) - 1)
        out = np.empty(len(heights) + len(mids))
        out[0::2], out[1::2] = heights, mids
        heights, n, amp = out, n * 2, amp * 0.55
    return np.interp(np.linspace(0, len(heights) - 1, width), np.arange(len(heights)), heights)


def paint(labels: np.ndarray) -> np.ndarray:
    return np.asarray(LANDSCAPE_PALETTE, np.uint8)[labels]


def scene_lake(rng: np.random.Generator) -> np.ndarray:
    labels = np.full((H, W), CLASS["sky"], np.uint8)
    rows = np.arange(H)[:, None]
    labels[rows >= ridge(rng, W, 95, 40)[None]] = CLASS["mountain"]
    labels[150:] = CLASS["water"]
    return labels


def scene_forest_field(rng: np.random.Generator) -> np.ndarray:
    labels = np.full((H, W), CLASS["sky"], np.uint8)
    rows = np.arange(H)[:, None]
    labels[rows >= ridge(rng, W, 110, 12)[None] - np.abs(rng.normal(0, 10, W)).cumsum() % 25] = CLASS["tree"]
    labels[rows >= ridge(rng, W, 165, 6)[None]] = CLASS["grass"]
    return labels


def scene_valley_road(rng: np.random.Generator) -> np.ndarray:
    labels = scene_lake(rng)
    labels[labels == CLASS["water"]] = CLASS["grass"]
    cols = np.arange(W)[None, :]
    rows = np.arange(H)[:, None]
    half = (rows - 150) * 0.45
    labels[(rows >= 150) & (np.abs(cols - W / 2 - (rows - 150) * 0.3) < half)] = CLASS["road"]
    return labels


def generated_photos(seeds: list[int]) -> list[np.ndarray]:
    """Pictures from the bundled generator and upscaler (512x512), centre-cropped to 4:3 and
    resized to the samples' size: the project's own output, never a photo from a data set."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "landscape", "generate", "--seeds", ",".join(map(str, seeds)), "--upscale",
               "-o", tmp, "--quiet"]
        written = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
        photos = []
        for path in written:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            side = img.shape[1]
            top = (img.shape[0] - side * H // W) // 2
            img = cv2.resize(img[top : top + side * H // W], (W, H), interpolation=cv2.INTER_AREA)
            photos.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        return photos


def mask_for(rng: np.random.Generator) -> np.ndarray:
    """White holes: one rectangle and one free-form stroke."""
    mask = np.zeros((H, W), np.uint8)
    x, y = int(rng.integers(30, W - 110)), int(rng.integers(30, H - 90))
    cv2.rectangle(mask, (x, y), (x + 60, y + 45), 255, -1)
    points = np.cumsum(rng.normal(0, 14, (8, 2)), axis=0) + [W * 0.65, H * 0.6]
    cv2.polylines(mask, [points.astype(np.int32)], False, 255, thickness=11)
    return mask


def save(path: Path, rgb_or_gray: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> None:
    scenes = {"lake": scene_lake, "forest_field": scene_forest_field, "valley_road": scene_valley_road}
    photos = generated_photos(PHOTO_SEEDS)
    for i, (name, scene) in enumerate(scenes.items()):
        rng = np.random.default_rng(100 + i)
        labels = scene(rng)
        save(ROOT / "maps" / f"{name}.png", paint(labels))
        save(ROOT / "photos" / f"{name}.png", photos[i])
        save(ROOT / "masks" / f"{name}.png", mask_for(rng))
    # The same lake as a single-channel class-index map, the ADE20K/COCO-Stuff style.
    save(ROOT / "maps" / "lake_index.png", scene_lake(np.random.default_rng(100)))
    write_sheet(list(scenes))


def write_sheet(names: list[str]) -> None:
    """docs/images/samples.jpg: map | photo | mask, one row per scene, for the README."""
    rows = []
    for name in names:
        mask = cv2.cvtColor(cv2.imread(str(ROOT / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)
        rows.append(np.hstack([cv2.imread(str(ROOT / "maps" / f"{name}.png")), cv2.imread(str(ROOT / "photos" / f"{name}.png")), mask]))
    sheet = np.vstack(rows)
    sheet = cv2.resize(sheet, (sheet.shape[1] * 2 // 3, sheet.shape[0] * 2 // 3), interpolation=cv2.INTER_AREA)
    out = ROOT.parent / "docs" / "images" / "samples.jpg"
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])


if __name__ == "__main__":
    main()
