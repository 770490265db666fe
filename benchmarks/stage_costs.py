"""What the CLI does around the model for one benchmark picture, step by step, in ms: the work
that competes with ONNX Runtime for the cores when every core already runs the model.

    python -m benchmarks.stage_costs
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2

from benchmarks.harness import write_inputs

from landscape.imaging.codec import decode, encode, from_unit, rgb_unit
from landscape.pipelines.label import colourise, label, merge_small_regions
from landscape.pipelines.translate import labels_from_map, translate
from landscape.runtime.sessions import choose_device, load_model

MIN_REGION_PCT = 0.25  # `landscape label`'s default --min-region
TOLERANCE = 24.0  # `landscape translate`'s default --tolerance


def timed(name: str, fn: Callable[[], object], runs: int = 30):
    result = fn()
    start = time.perf_counter()
    for _ in range(runs):
        fn()
    print(f"  {name:<24} {1000 * (time.perf_counter() - start) / runs:7.2f} ms", flush=True)
    return result


def main() -> int:
    cv2.setNumThreads(1)  # as in a reader or writer thread's share of the machine
    device = choose_device("cpu", 0, "onnxruntime")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs("label", folder / "label", 1)
        write_inputs("translate", folder / "translate", 1)
        labeller, translator = load_model("label", None, device), load_model("translate", None, device)

        print(f"label (one 256 px photo; the model on {device.threads} threads, the rest on one)")
        picture = timed("decode", lambda: decode(folder / "label" / "0000.png", max_pixels=10**8))
        rgb = timed("to float", lambda: rgb_unit(picture.pixels))
        labels = timed("model + argmax", lambda: label(labeller, rgb), 10)
        merged = timed("merge small regions", lambda: merge_small_regions(labels, round(labels.size * MIN_REGION_PCT / 100)))
        coloured = timed("colour", lambda: colourise(merged, labeller.info.palette))
        timed("encode PNG", lambda: encode(coloured, "png"))

        print("translate (one 256 px map)")
        drawn = timed("decode", lambda: decode(folder / "translate" / "0000.png", max_pixels=10**8))
        classes = timed("snap colours to classes", lambda: labels_from_map(drawn.pixels, translator.info.palette, TOLERANCE)[0])
        photo = timed("model", lambda: translate(translator, classes), 10)
        pixels = timed("to uint8", lambda: from_unit(photo))
        timed("encode PNG", lambda: encode(pixels, "png"))
    print("reproduce: python -m benchmarks.stage_costs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
