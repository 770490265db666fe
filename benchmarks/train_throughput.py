"""Training throughput (images/s) of each family at its default network size, measured
through the real trainers (data loading included), and on CUDA the gain of bf16 AMP +
channels_last over fp32 + contiguous, side by side in one run.

    python benchmarks/train_throughput.py                      # synthetic 320x240 photos
    python benchmarks/train_throughput.py --data ../shared/data/landscapes --steps 20
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

FAMILIES = {
    # family: (extra options, CUDA batch size; a quarter on the CPU) -- networks at their default widths
    "dcgan": (["--resolution", "128"], 32),
    "pix2pix": (["--resolution", "256"], 8),
    "glcic": (["--resolution", "256", "--phase-ratios", "0", "0"], 8),  # joint phase: the costliest
    "esrgan": (["--resolution", "32"], 16),
}


def synthetic_pairs(root: Path, count: int) -> tuple[Path, Path]:
    """Smooth random 320x240 photos and 8-class index maps with the same stems."""
    import cv2

    photos, maps = root / "photos", root / "maps"
    photos.mkdir(), maps.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        img = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
        cv2.imwrite(str(photos / f"{i:03d}.png"), img)
        cv2.imwrite(str(maps / f"{i:03d}.png"), (img[:, :, 0] // 32).astype(np.uint8))
    return photos, maps


def batch_size(family: str) -> int:
    batch = FAMILIES[family][1]
    return batch if torch.cuda.is_available() else max(2, batch // 4)


def measure(family: str, data: Path, maps: Path | None, out: Path, steps: int, warmup: int, precision: list[str], workers: int) -> float:
    extra, batch = FAMILIES[family][0], batch_size(family)
    argv = ["--data", str(data), "--out", str(out), "--steps", str(warmup + steps), "--batch-size", str(batch),
            "--log-every", str(warmup), "--sample-every", "0", "--eval-every", "0", "--checkpoint-every", "0",
            "--holdout", "0.03", "--samples", "1", "--workers", str(workers), *extra, *precision]
    if family == "pix2pix":
        argv += ["--maps", str(maps)]
    trainer = importlib.import_module(f"trainers.{family}")
    with contextlib.redirect_stdout(io.StringIO()):
        code = trainer.main(argv)
    if code != 0:
        raise SystemExit(f"{family}: trainer exited {code}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r["images_per_s"] for r in records if r["kind"] == "train"][1:]  # the first record holds the warm-up
    return float(np.mean(timed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="image folder (default: synthetic photos)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per family (after warm-up)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    variants = {"fp32": ["--amp", "none", "--memory-format", "contiguous"]}
    if cuda:
        variants["bf16+channels_last"] = ["--amp", "bf16", "--memory-format", "channels_last"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos, maps = synthetic_pairs(tmp, 64) if args.data is None else (args.data, None)
        device = torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
        print(f"# training throughput, images/s, on {device}, torch {torch.__version__}")
        print(f"# command: python {' '.join(sys.argv)}")
        print("| family | batch | " + " | ".join(variants) + (" | gain |" if cuda else " |"))
        print("|---|---|" + "---|" * len(variants) + ("---|" if cuda else ""))
        for family in args.families:
            if family == "pix2pix" and maps is None:
                continue  # a user folder has no paired maps
            rates = {name: measure(family, photos, maps, tmp / f"{family}-{i}", args.steps, args.warmup, flags, args.workers)
                     for i, (name, flags) in enumerate(variants.items())}
            row = f"| {family} | {batch_size(family)} | " + " | ".join(f"{r:.1f}" for r in rates.values())
            row += f" | {rates['bf16+channels_last'] / rates['fp32']:.2f}x |" if cuda else " |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
