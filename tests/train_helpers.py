"""Tiny training data and a helper that runs a trainer in-process on it."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from tests.conftest import write_png
from landscape.trainers.palette import LANDSCAPE_PALETTE

# Widths and sizes small enough for a step in milliseconds; the same code paths as full size.
TINY_ARGS = {
    "dcgan": ["--resolution", "16", "--latent-dim", "8", "--g-width", "4", "--d-width", "4"],
    "pix2pix": ["--resolution", "32", "--num-downs", "3", "--g-width", "4", "--d-width", "4", "--d-layers", "2"],
    "glcic": ["--resolution", "32", "--g-width", "4", "--d-width", "4", "--dilations", "2", "4"],
    "esrgan": ["--resolution", "8", "--eval-size", "32", "--num-feat", "8", "--num-grow-ch", "4", "--num-block", "1"],
    "segmenter": ["--resolution", "32", "--num-downs", "3", "--width", "4"],
    "span": ["--arch", "span", "--scale", "2", "--resolution", "8", "--eval-size", "32", "--feature-channels", "4"],
}
# Families trained by another family's trainer (SPAN by the super-resolution trainer, --arch span).
TRAINER_OF = {"span": "esrgan"}
# The precision and layout are pinned so that the tests' figures do not depend on the CPU they
# run on (auto picks bf16 and channels_last on CPUs with bf16 units); tests of those pass their own.
COMMON = ["--batch-size", "4", "--workers", "0", "--log-every", "1", "--checkpoint-every", "1", "--keep-last", "20",
          "--sample-every", "0", "--eval-every", "0", "--samples", "2", "--holdout", "0.2",
          "--amp", "none", "--memory-format", "contiguous", "--device-data", "off"]


def landscape_like(h: int, w: int, seed: int) -> np.ndarray:
    """Sky over a horizon over ground, with noise: structure a network can start to learn."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    horizon = int(rng.uniform(0.3, 0.7) * h)
    img[:horizon] = rng.uniform([60, 120, 200], [140, 190, 255])
    img[horizon:] = rng.uniform([20, 60, 10], [90, 160, 70])
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_photos(folder: Path, count: int = 12) -> Path:
    for i in range(count):
        h, w = 40 + (i % 3) * 8, 48 + (i % 4) * 6
        write_png(folder / ("sub" if i % 2 else ".") / f"img{i:02d}.png", landscape_like(h, w, i))
    return folder


def make_pairs(root: Path, count: int = 12, colour: bool = False) -> tuple[Path, Path]:
    photos, maps = root / "photos", root / "maps"
    for i in range(count):
        img = landscape_like(40, 48, i)
        labels = np.where(img[:, :, 2] > 150, 0, 3).astype(np.uint8)  # sky / grass
        write_png(photos / f"p{i:02d}.png", img)
        if colour:
            write_png(maps / f"p{i:02d}.png", np.asarray(LANDSCAPE_PALETTE, np.uint8)[labels])
        else:
            write_png(maps / f"p{i:02d}.png", labels)
    return photos, maps


def run_trainer(family: str, data: Path, out: Path, *extra: str, steps: int = 3) -> tuple[int, Path]:
    trainer = importlib.import_module(f"landscape.trainers.{TRAINER_OF.get(family, family)}")
    argv = ["--data", str(data), "--out", str(out), "--steps", str(steps), *TINY_ARGS[family], *COMMON, *extra]
    return trainer.main(argv), out


def train_records(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]


def losses_only(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in records]
