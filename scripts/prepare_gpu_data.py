"""A resized copy of the training data small enough to travel to a lent GPU machine (the
working tree that travels is capped at 64 MiB): landscapes at 256 px on the short side,
the Stanford Background pairs as they are, and the held-out list every model shares.

    python scripts/prepare_gpu_data.py ../shared/data .gpu_data

The held-out list is the 73 landscape photos the shipped generator and upscaler never saw
(runs/generate-128/split.json) plus Stanford's official val split, so every figure for every
model comes from the same unseen photos.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.data import shrink_to_short_side  # noqa: E402

SHORT_SIDE = 256
JPEG_QUALITY = 85


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the shared data folder")
    parser.add_argument("out", type=Path, help="new folder for the copy")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    land_out = args.out / "photos" / "landscapes"
    land_out.mkdir(parents=True)
    for path in sorted((args.data / "landscapes").iterdir()):
        img = shrink_to_short_side(cv2.imread(str(path), cv2.IMREAD_COLOR), SHORT_SIDE)
        cv2.imwrite(str(land_out / path.name), img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    stanford = args.data / "stanford_background"
    shutil.copytree(stanford / "images", args.out / "photos" / "stanford")
    shutil.copytree(stanford / "labels", args.out / "maps" / "stanford")
    held_landscapes = json.loads((root / "runs" / "generate-128" / "split.json").read_text())["held_out"]
    val = (stanford / "splits" / "val.txt").read_text().split()
    (args.out / "landscapes_held_out.txt").write_text("\n".join(held_landscapes) + "\n")
    (args.out / "stanford_val.txt").write_text("\n".join(val) + "\n")
    (args.out / "held_out_stems.txt").write_text("\n".join([Path(n).stem for n in held_landscapes] + val) + "\n")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
