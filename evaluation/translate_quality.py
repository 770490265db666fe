"""Translator quality on held-out photos: L1 and PSNR of map -> photo against the photo the map
came from, on two sets the translator never trained on (runs/translate/split.json):

- Stanford Background val: its hand-drawn maps;
- the held-out landscape photos: the round trip photo -> `label` -> `translate`, with the
  bundled labeller and the CLI's own small-region cleanup, as a user would run it.

and whether the translator follows its map: the translation of each landscape map, labelled
again by the same labeller, against that map (mIoU over the classes; "map consistency"). A
translator that paints what the map asks for scores high whatever colours it picks.

A map fixes the layout, not the colours or texture, so no translator reaches the photo; the
figures compare translators (and runs) with each other on the same pairs. `--sheet` writes
rows of photo | map | translation for the first landscapes.

    python -m evaluation.translate_quality                  # the bundled models
    python -m evaluation.translate_quality --model runs/translate/translate.onnx --sheet sheet.jpg
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from landscape.imaging.codec import decode, rgb_unit
from landscape.pipelines.label import colourise, label, merge_small_regions
from landscape.pipelines.translate import translate
from landscape.runtime.sessions import BACKENDS, PRECISIONS, bundled_model, choose_device, load_model
from landscape.trainers.data import shrink_to_short_side
from landscape.trainers.maps import load_table
from landscape.trainers.palette import LANDSCAPE_CLASSES

SHORT_SIDE = 256  # the translator's training scale (the GPU plan's compact data, gpu/window.py)
MIN_REGION_PERCENT = 0.25  # `landscape label`'s default
SHEET_PANEL = (240, 160)


def errors(fake: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    mse = float(np.mean((fake - real) ** 2))
    return float(np.mean(np.abs(fake - real))), 10 * np.log10(1 / max(mse, 1e-12))


def map_confusion(given: np.ndarray, found: np.ndarray) -> np.ndarray:
    k = len(LANDSCAPE_CLASSES)
    return np.bincount(given.ravel().astype(np.int64) * k + found.ravel(), minlength=k * k).reshape(k, k)


def miou(confusion: np.ndarray) -> tuple[float, dict[str, float]]:
    """Mean IoU over the classes present in either map, and each present class's IoU."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    present = union > 0
    per_class = {name: float(tp[i] / union[i]) for i, name in enumerate(LANDSCAPE_CLASSES) if present[i]}
    return float((tp[present] / union[present]).mean()), per_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX translate model (default: the bundled one)")
    parser.add_argument("--labeller", type=Path, help="ONNX label model for the round trip (default: the bundled one)")
    parser.add_argument("--split", type=Path, default=Path("runs/translate/split.json"))
    parser.add_argument("--landscapes", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--stanford", type=Path, default=Path("../shared/data/stanford_background"))
    parser.add_argument("--sheet", type=Path, help="write a photo | map | translation sheet here")
    parser.add_argument("--sheet-rows", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend, as the CLI's --backend")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the CLI's --precision")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    device = choose_device("cpu", args.threads, args.backend, args.precision)
    model_path, labeller_path = args.model or bundled_model("translate"), args.labeller or bundled_model("label")
    translator, labeller = load_model("translate", model_path, device), load_model("label", labeller_path, device)
    held = json.loads(args.split.read_text())["held_out"]
    lut = load_table("stanford")
    results: dict[str, list[tuple[float, float]]] = {"stanford_val": [], "landscapes_round_trip": []}
    rows = []
    consistency = np.zeros((len(LANDSCAPE_CLASSES),) * 2, np.int64)
    for name in held:
        group, file = name.split("/", 1)
        if group == "stanford":
            photo = rgb_unit(decode(args.stanford / "images" / file, max_pixels=10**8).pixels)
            with Image.open(args.stanford / "labels" / f"{Path(file).stem}.png") as img:
                labels = lut[np.asarray(img)]
            results["stanford_val"].append(errors(translate(translator, labels), photo))
        else:
            pixels = shrink_to_short_side(decode(args.landscapes / file, max_pixels=10**8).pixels, SHORT_SIDE)
            photo = rgb_unit(pixels)
            labels = label(labeller, photo)
            labels = merge_small_regions(labels, round(labels.size * MIN_REGION_PERCENT / 100))
            fake = translate(translator, labels)
            results["landscapes_round_trip"].append(errors(fake, photo))
            consistency += map_confusion(labels, label(labeller, fake))
            if len(rows) < args.sheet_rows:
                rows.append((pixels, colourise(labels, labeller.info.palette), (fake * 255 + 0.5).astype(np.uint8)))
    summary = {"model": str(model_path), "labeller": str(labeller_path)}
    print(f"Translator {model_path.name} (labeller {labeller_path.name}) on held-out pairs")
    for key, pairs in results.items():
        if pairs:
            l1, psnr = np.mean([p[0] for p in pairs]), np.mean([p[1] for p in pairs])
            summary[key] = {"images": len(pairs), "l1": float(l1), "psnr_db": float(psnr)}
            print(f"  {key:<22} {len(pairs):>3} images   L1 {l1:.4f}   PSNR {psnr:.2f} dB")
    if consistency.sum():
        score, per_class = miou(consistency)
        summary["map_consistency"] = {"miou": score, "iou": per_class}
        print(f"  map consistency (label -> translate -> label) mIoU {100 * score:.1f} %   "
              + "  ".join(f"{k} {100 * v:.0f}" for k, v in per_class.items()))
    if args.sheet and rows:
        # Every panel at the photos' usual 3:2, so that rows line up whatever each photo's shape.
        panel = lambda x: cv2.resize(x, SHEET_PANEL, interpolation=cv2.INTER_AREA)  # noqa: E731
        Image.fromarray(np.vstack([np.hstack([panel(x) for x in r]) for r in rows])).save(args.sheet, quality=88)
        print(f"sheet: {args.sheet}")
    print("reproduce: python -m evaluation.translate_quality " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
