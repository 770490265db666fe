"""Fills at 100 % zoom: 200 px crops around the hole of held-out photos, for texture a
downscaled sheet hides (a grid, streaks). Columns: photo | holes | Telea | each model given
(with --raw-fill: its fill as the network gives it, then the seamless one the CLI writes).

    python -m evaluation.inpaint_zoom --shapes one-box --models old.onnx landscape/models/inpaint.onnx -o zoom.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np


import landscape
from evaluation.inpaint_quality import one_box, thin_strokes

CROP = 200
SHAPES = {"one-box": one_box, "thin-strokes": thin_strokes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--shapes", choices=tuple(SHAPES), default="one-box")
    parser.add_argument("--photos", type=int, nargs="+", default=[1, 4, 7], help="indices into the held-out list")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--split", type=Path, default=Path("runs/inpaint/split.json"))
    parser.add_argument("--raw-fill", action="store_true", help="also each model's fill without the seamless correction")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    names = json.loads(args.split.read_text())["held_out"]
    columns = [(f"{m}{'' if seamless else ', raw'}", landscape.Inpainter(m, seamless=seamless))
               for m in args.models for seamless in ((False, True) if args.raw_fill else (True,))]
    rows = []
    for i in args.photos:
        photo = landscape.read(args.data / names[i])[:, :, :3]
        hole = SHAPES[args.shapes](*photo.shape[:2], np.random.default_rng(i))  # the masks inpaint_quality.py draws
        ys, xs = np.nonzero(hole)
        top = int(np.clip((ys.min() + ys.max()) // 2 - CROP // 2, 0, photo.shape[0] - CROP))
        left = int(np.clip((xs.min() + xs.max()) // 2 - CROP // 2, 0, photo.shape[1] - CROP))
        shown = photo.copy()
        shown[hole] = (255, 0, 255)
        panels = [photo, shown, cv2.inpaint(photo, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)]
        panels += [inpaint(photo, hole) for _, inpaint in columns]
        rows.append(np.hstack([p[top:top + CROP, left:left + CROP] for p in panels]))
    landscape.write(args.output, np.vstack(rows))
    print(f"{args.output}: photo | holes | Telea | {' | '.join(name for name, _ in columns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
