"""Labeller quality on the Stanford Background validation split: pixel accuracy, mean IoU
and per-class IoU of an ONNX `label` model, on whole images through the CLI's own pipeline
(padding and tiling included). Pixels labelled unknown (15) are not counted.

    python -m evaluation.label_quality                       # the bundled labeller
    python -m evaluation.label_quality --model runs/seg/label.onnx
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from landscape.imaging.codec import decode, rgb_unit
from landscape.pipelines.label import label
from landscape.runtime.sessions import BACKENDS, PRECISIONS, bundled_model, choose_device, load_model
from landscape.trainers.maps import load_table
from landscape.trainers.palette import LANDSCAPE_CLASSES
from landscape.trainers.segmenter import confusion, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX label model (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/stanford_background"))
    parser.add_argument("--split", default="val", help="splits/<name>.txt under --data")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend, as the CLI's --backend")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the CLI's --precision")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    path = args.model or bundled_model("label")
    model = load_model("label", path, choose_device("cpu", args.threads, args.backend, args.precision))
    stems = [s.strip() for s in (args.data / "splits" / f"{args.split}.txt").read_text().splitlines() if s.strip()]
    lut = load_table("stanford")
    classes = len(LANDSCAPE_CLASSES)
    total = torch.zeros(classes, classes, dtype=torch.int64)
    for stem in stems:
        pixels = decode(args.data / "images" / f"{stem}.jpg", max_pixels=10**8).pixels
        pred = label(model, rgb_unit(pixels))
        with Image.open(args.data / "labels" / f"{stem}.png") as img:
            truth = lut[np.asarray(img)]
        total += confusion(torch.from_numpy(pred.astype(np.int64)).flatten(), torch.from_numpy(truth.astype(np.int64)).flatten(), classes)
    result = scores(total)
    print(f"Labeller on Stanford Background '{args.split}' ({len(stems)} images, whole images); model {path.name}")
    print(f"pixel accuracy {100 * result['pixel_accuracy']:.1f}%   mIoU {100 * result['miou']:.1f}%")
    print("  ".join(f"{name} {100 * result[f'iou_{name}']:.1f}" for name in LANDSCAPE_CLASSES if f"iou_{name}" in result))
    print("reproduce: python -m evaluation.label_quality " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"model": str(path), "images": len(stems), **result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
