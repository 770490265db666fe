"""The int8 versions of the bundled models, what each precision gives and costs on this CPU's
kind, and the calibration pictures shipped for users' models.

Each bundled model is quantized (landscape.runtime.int8: first/last layers and resampling in
float) on CALIBRATION landscape photos of its training split, unless its int8 IR already ships
(then that IR is what is checked: it is the same file on every CPU); the int8 (and, on CPUs
with the units, bf16) output is checked against fp32 on CHECKED photos of the held-out split
(the split of the runs that trained them: runs/upscale-rrdb-gpu/split.json for the landscape
models, runs/segmenter-r2/split.json for the labeller); then the precisions that passed are
timed side by side (landscape.runtime.precision_rates). With --write:
- a newly quantized model whose check passes is written as landscape/models/<file stem>.int8.{xml,bin}
  and its manifest entry gets an "int8" record (file, sha256 of both files, the verdict); one
  that fails gets the verdict alone;
- the entry's "kinds" gets this CPU kind's record (OpenVINO release, the verdicts, the rates):
  on a CPU of a recorded kind, `--precision auto` takes it instead of checking and measuring on
  the first run (landscape.runtime.sessions.shipped_kind). Run it on each kind of CPU lent.
--pictures writes the pictures that users' models are calibrated on: made by the bundled
generator and upscaler, not photos (those may not be redistributed).

    python -m scripts.int8_bundled --data ../shared/data [--write] [--requantize] [--pictures] [--tasks upscale generate]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from landscape.runtime import bf16_check, calibration, int8, openvino_backend, precision_rates
from landscape.runtime.cpu import facts
from landscape.runtime.model_contract import parse
from landscape.runtime.sessions import bundled_dir, sha256_file

REPO = Path(__file__).resolve().parents[1]
CALIBRATION, CHECKED = 32, 16
SPLITS = {"label": ("runs/segmenter-r2/split.json", "")}  # the rest: landscapes, upscale's split
LANDSCAPE_SPLIT = ("runs/upscale-rrdb-gpu/split.json", "landscapes")
PICTURES = 24  # shipped: calibration.CALIBRATION_COUNT calibrate, the rest are the check's


def photos(data: Path, task: str) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    import cv2

    split_file, folder = SPLITS.get(task, LANDSCAPE_SPLIT)
    split = json.loads((REPO / split_file).read_text())
    chosen = np.random.default_rng(0).choice(split["train"], CALIBRATION, replace=False)

    def read(name: str) -> np.ndarray:  # the labeller's run saw shared/data/stanford_background/images as stanford/
        img = cv2.imread(str(data / folder / name.replace("stanford/", "stanford_background/images/")), cv2.IMREAD_COLOR)
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255

    source = f"{CALIBRATION} photos of the training split, checked on {CHECKED} held-out ({split_file})"
    return [read(n) for n in chosen], [read(n) for n in split["held_out"][:CHECKED]], source


def write_pictures() -> None:
    import cv2

    from landscape.api import Generator

    folder = REPO / "landscape" / "runtime" / "data" / "calibration"
    folder.mkdir(exist_ok=True)
    for seed, picture in enumerate(Generator(precision="fp32")(range(PICTURES), upscale=True)):
        small = cv2.resize(picture, (calibration.SIDE, calibration.SIDE), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"{seed:02d}.jpg"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"{PICTURES} calibration pictures in {folder}")


def main() -> None:
    import openvino

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--requantize", action="store_true", help="quantize again even where an int8 IR ships")
    parser.add_argument("--pictures", action="store_true")
    args = parser.parse_args()
    if args.pictures:
        write_pictures()
    print(f"CPU: {facts().describe()}; OpenVINO {openvino_backend.version()}; {args.threads} threads")
    manifest_path = bundled_dir() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["models"]:
        if args.tasks is not None and entry["task"] not in args.tasks:
            continue
        path = bundled_dir() / entry["file"]
        model, props = openvino_backend.read(path)
        info = parse(props, str(path))
        calibrating, held_out, source = photos(args.data, info.task)
        held_out_calls = calibration.feeds(info, held_out, seed=1)
        shipped = entry.get("int8", {}).get("file")
        if shipped and not args.requantize:
            quantized, made = openvino_backend.core().read_model(str(bundled_dir() / shipped)), False
        else:
            quantized, made = int8.quantize(model, calibration.feeds(info, calibrating, seed=0)), True
        verdict = {**int8.check(model, quantized, info, held_out_calls, args.threads), "calibration": source}
        graphs = {"fp32": model} | ({"int8": quantized} if verdict["passed"] else {})
        kind = {"openvino": openvino_backend.release(), "cpu": facts().model, "int8": verdict}
        if facts().has_bf16:
            kind["bf16"] = bf16_check.measure(model, info, args.threads)
            graphs |= {"bf16": model} if kind["bf16"]["passed"] else {}
        kind["ms"] = precision_rates.measure(graphs, info, args.threads)
        print(f"{entry['file']} on {facts().kind}: {int8.describe(verdict)}; {precision_rates.describe(kind['ms'], info)}; "
              f"auto takes {precision_rates.choose(kind['ms'])}")
        if not args.write:
            continue
        entry.setdefault("kinds", {})[facts().kind] = kind
        if made and verdict["passed"]:
            xml = bundled_dir() / f"{Path(entry['file']).stem}.int8.xml"
            openvino.save_model(quantized, str(xml), compress_to_fp16=False)
            entry["int8"] = {"file": xml.name, "sha256": sha256_file(xml), "bin_sha256": sha256_file(xml.with_suffix(".bin")),
                             "check": verdict}
        elif made:  # the verdict alone: `--precision int8` then falls back without quantizing again
            entry["int8"] = {"check": verdict}
    if args.write:
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
