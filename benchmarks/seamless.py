"""What the seamless correction costs: `landscape inpaint`'s pipeline on photo-sized pictures
with --raw-fill and with the default seamless fill, side by side in one run, and the
correction's own solve (seamless.py) on the same holes.

Holes: thin strokes (three wires 12 px wide across the frame, filled at full resolution along
their length) and one box of 20 % of the frame (filled shrunk, then bent at full resolution).

    python -m benchmarks.seamless                  # 12 and 3 megapixels
    python -m benchmarks.seamless --sides 4000x3000 --runs 3
"""
from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from benchmarks.harness import best_of
from landscape.runtime.cpu import facts
from landscape.imaging.codec import rgb_unit
from landscape.pipelines.inpaint import inpaint_pixels
from landscape.pipelines.seamless import seamless_fill
from landscape.runtime.sessions import choose_device, load_model


def picture(h: int, w: int) -> np.ndarray:
    """A smooth sky-to-ground gradient with texture, so the fills and the correction do real work."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base = np.stack([0.4 + 0.3 * yy / h, 0.6 - 0.2 * yy / h + 0.1 * np.sin(xx / 97), 0.8 - 0.5 * yy / h], -1)
    noise = cv2.GaussianBlur(rng.normal(0, 0.08, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return (np.clip(base + noise, 0, 1) * 255).astype(np.uint8)


def holes(h: int, w: int) -> dict[str, np.ndarray]:
    strokes = np.zeros((h, w), np.uint8)
    for i in range(3):
        cv2.line(strokes, (0, int(h * (0.2 + 0.3 * i))), (w - 1, int(h * (0.35 + 0.25 * i))), 1, 12)
    box = np.zeros((h, w), bool)
    bh, bw = int(h * 0.45), int(w * 0.45)  # 20 % of the frame
    box[h // 4:h // 4 + bh, w // 3:w // 3 + bw] = True
    return {"strokes 12 px": strokes > 0, "box 20 %": box}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", nargs="+", default=["4000x3000", "2000x1500"], help="WIDTHxHEIGHT of the pictures")
    parser.add_argument("--runs", type=int, default=3, help="best of this many")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    model = load_model("inpaint", None, choose_device("cpu", args.threads))
    print(f"CPU: {facts().describe()}; inference on {model.device.threads} threads; the correction in NumPy on one")
    print(f"{'picture':<10} {'holes':<14} {'hole px':>9} {'raw fill s':>11} {'seamless s':>11} {'ratio':>6} {'solve s':>8}")
    for side in args.sides:
        w, h = (int(v) for v in side.split("x"))
        pixels = picture(h, w)
        for name, hole in holes(h, w).items():
            raw = best_of(args.runs, lambda: inpaint_pixels(model, pixels, hole, seamless=False))
            seamless = best_of(args.runs, lambda: inpaint_pixels(model, pixels, hole))
            known = rgb_unit(pixels)
            fill = np.clip(known + 0.05, 0, 1)
            solve = best_of(args.runs, lambda: seamless_fill(fill, known, hole))  # in place: the same work each run
            print(f"{side:<10} {name:<14} {int(hole.sum()):>9} {raw:>11.2f} {seamless:>11.2f} {seamless / raw:>6.2f} {solve:>8.2f}",
                  flush=True)
    print("reproduce: python -m benchmarks.seamless " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
