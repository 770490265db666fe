"""Inpainting quality inside the holes: an ONNX inpainter against OpenCV's `cv2.inpaint`
(Telea and Navier-Stokes) on the same held-out photos and the same masks, for small (~10%)
and large (~30%) holes, side by side in one table.

Photos: the run's split.json `held_out` list, centre-cropped to --size. Masks: the trainer's
own free-form + rectangle generator, seeded per photo, so every method sees identical holes.
The model runs through the CLI's inpaint pipeline (context windows and compositing included).

    python -m evaluation.inpaint_quality                          # the bundled inpainter
    python -m evaluation.inpaint_quality --model runs/x/inpaint.onnx --split runs/x/split.json
    python -m evaluation.inpaint_quality --size 0 --restore-with-upscaler   # whole photos; see below

With `--size 0` the photos are used whole (612x408 mostly), so a large hole's window is bigger
than the model's native size: the pipeline fills it shrunk and resizes the fill back.
`--restore-with-upscaler` adds a row that brings the fill back with the bundled 4x upscaler
(then an area resize to the window) instead of the pipeline's cubic resize. `--coarse-to-fine`
adds a row where that shrunk fill is only the coarse pass: the holes are then filled again at
full resolution, cell by cell (half the native size, each in a native-size window whose other
hole pixels hold the coarse fill or an earlier cell's), as a second pass would refine it.
`--by-distance` adds PSNR by distance from the hole's edge, where a fill from coarse features
loses to Telea first.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from unittest import mock

import cv2
import numpy as np

from landscape.pipelines import inpaint as pipeline
from landscape.pipelines.inpaint import inpaint_pixels
from landscape.pipelines.upscale import upscale_unit_batch
from landscape.runtime.sessions import BACKENDS, PRECISIONS, bundled_model, choose_device, load_model
from landscape.trainers.data import apply_crop, center_crop, read_rgb
from landscape.trainers.masks import random_mask

HOLES = {"small (~10%)": (0.08, 0.12), "large (~30%)": (0.27, 0.33)}
SHAPES = ("mixed", "thin-strokes", "one-box")


def thin_strokes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Wires, poles and scratches: two to four brush strokes 6-20 px wide, each a few long
    segments across the frame."""
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(2, 5))):
        width = int(rng.integers(6, 21))
        y, x, angle = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(2, 5))):
            angle += rng.uniform(-0.6, 0.6)
            length = rng.uniform(0.15, 0.45) * max(h, w)
            ny, nx = float(np.clip(y + length * np.sin(angle), 0, h - 1)), float(np.clip(x + length * np.cos(angle), 0, w - 1))
            cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 1, width)
            y, x = ny, nx
    return mask > 0


def one_box(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """One rectangle covering 12-25 % of the frame."""
    area, aspect = rng.uniform(0.12, 0.25) * h * w, rng.uniform(0.6, 1.6)
    bh, bw = min(h, int(np.sqrt(area / aspect))), min(w, int(np.sqrt(area * aspect)))
    top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), bool)
    mask[top:top + bh, left:left + bw] = True
    return mask


def holes_of(shapes: str) -> dict:
    """Row label -> (photo shape, rng) -> boolean hole."""
    if shapes == "thin-strokes":
        return {"strokes 6-20 px": lambda h, w, rng: thin_strokes(h, w, rng)}
    if shapes == "one-box":
        return {"one box 12-25%": lambda h, w, rng: one_box(h, w, rng)}
    return {label: (lambda h, w, rng, area=area: random_mask(h, w, rng, area=area, kind="mixed") > 0.5)
            for label, area in HOLES.items()}


def hole_scores(filled: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and mean L1 (0-255 levels) over the hole's pixels only."""
    diff = filled[hole].astype(np.float64) - truth[hole].astype(np.float64)
    mse = max(float((diff**2).mean()), 1e-10)
    return 10 * np.log10(255.0**2 / mse), float(np.abs(diff).mean())


EDGE_BANDS = ((0, 2), (2, 4), (4, 6), (6, 8), (8, 11))  # px from the hole's edge


def edge_bands(hole: np.ndarray) -> np.ndarray:
    """(bands, H, W): the hole's pixels in each band of distance from its edge."""
    distance = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    return np.stack([hole & (distance > near) & (distance <= far) for near, far in EDGE_BANDS])


def band_errors(filled: np.ndarray, truth: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """(bands, 2): summed squared error and pixel count in each of `edge_bands`' bands."""
    err = ((filled.astype(np.float64) - truth.astype(np.float64)) ** 2).mean(axis=-1)
    return np.array([(err[band].sum(), band.sum()) for band in bands])


class UpscalerRestore:
    """OpenCV as the inpaint pipeline sees it, except that the cubic resize of a shrunk fill
    back to its window is done by `upscaler` (then an area resize to the window's size)."""

    def __init__(self, upscaler) -> None:
        self.upscaler = upscaler

    def __getattr__(self, name):
        return getattr(cv2, name)

    def resize(self, src, size, interpolation=None):
        if interpolation == cv2.INTER_CUBIC and src.ndim == 3 and size[0] > src.shape[1]:
            return cv2.resize(upscale_unit_batch(self.upscaler, src[None])[0], size, interpolation=cv2.INTER_AREA)
        return cv2.resize(src, size, interpolation=interpolation)


def coarse_to_fine(model, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`pipeline._fill_window` with a fine pass at full resolution after a shrunk one."""
    native = model.info.native_size
    coarse = FILL_WINDOW(model, rgb, hole)
    if hole.shape[0] <= native[0] and hole.shape[1] <= native[1]:
        return coarse
    canvas = rgb.copy()
    canvas[hole] = coarse[hole]
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    cell_h, cell_w = native[0] // 2, native[1] // 2
    for top in range(int(ys.min()), int(ys.max()) + 1, cell_h):
        for left in range(int(xs.min()), int(xs.max()) + 1, cell_w):
            refill = np.zeros_like(hole)
            refill[top:top + cell_h, left:left + cell_w] = hole[top:top + cell_h, left:left + cell_w]
            if not refill.any():
                continue
            box = pipeline._centred(top + cell_h / 2, left + cell_w / 2, min(h, native[0]), min(w, native[1]), h, w)
            rows, cols = slice(box.top, box.bottom), slice(box.left, box.right)
            fine = FILL_WINDOW(model, canvas[rows, cols], refill[rows, cols])
            canvas[rows, cols][refill[rows, cols]] = fine[refill[rows, cols]]
    return canvas


FILL_WINDOW = pipeline._fill_window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX inpainter (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--split", type=Path, default=Path("runs/inpaint/split.json"))
    parser.add_argument("--size", type=int, default=256, help="centre crop side, pixels (0: whole photos)")
    parser.add_argument("--restore-with-upscaler", action="store_true",
                        help="add a row: shrunk fills brought back by the bundled upscaler instead of a cubic resize")
    parser.add_argument("--coarse-to-fine", action="store_true",
                        help="add a row: shrunk fills refined cell by cell at full resolution (see above)")
    parser.add_argument("--raw-fill", action="store_true",
                        help="add a row: the network's fill as it comes, without the seamless correction at the holes' edges")
    parser.add_argument("--by-distance", action="store_true",
                        help="also PSNR by distance from the hole's edge (0-2, 2-4, 4-6, 6-8, 8-11 px), pooled over the photos")
    parser.add_argument("--limit", type=int, default=0, help="only the first N held-out photos (0: all)")
    parser.add_argument("--shapes", choices=SHAPES, default="mixed", help="holes: mixed strokes and rectangles at ~10 and "
                        "~30 %%, thin strokes 6-20 px wide, or one box of 12-25 %% of the frame")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend, as the CLI's --backend")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the CLI's --precision")
    parser.add_argument("--sheet", type=Path, help="write rows of photo | holes | Telea | this model for the first photos")
    parser.add_argument("--sheet-rows", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    path = args.model or bundled_model("inpaint")
    model = load_model("inpaint", path, choose_device("cpu", args.threads, args.backend, args.precision))
    names = json.loads(args.split.read_text())["held_out"][: args.limit or None]
    photos = [apply_crop(img, center_crop(*img.shape[:2]), args.size) if args.size else img
              for img in (read_rgb(args.data / n) for n in names)]
    methods = {
        "cv2 Telea": lambda img, hole: cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA),
        "cv2 Navier-Stokes": lambda img, hole: cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_NS),
        "this model": lambda img, hole: inpaint_pixels(model, img, hole),
    }
    def with_pipeline(name: str, value):
        """The model through the pipeline with one of its parts swapped for the call."""
        def fill(img, hole):
            with mock.patch.object(pipeline, name, value):
                return inpaint_pixels(model, img, hole)
        return fill

    if args.raw_fill:
        methods["raw fill"] = lambda img, hole: inpaint_pixels(model, img, hole, seamless=False)
    if args.restore_with_upscaler:
        restoring = UpscalerRestore(load_model("upscale", bundled_model("upscale"), model.device))
        methods["this model, upscaler restore"] = with_pipeline("cv2", restoring)
    if args.coarse_to_fine:
        methods["coarse to fine"] = with_pipeline("_fill_window", coarse_to_fine)
    results: dict[str, dict[str, dict[str, float]]] = {}
    by_distance: dict[str, dict[str, np.ndarray]] = {}
    sheet_rows: list[list[np.ndarray]] = []
    for label, make_hole in holes_of(args.shapes).items():
        per_method: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
        bands = by_distance.setdefault(label, {m: np.zeros((len(EDGE_BANDS), 2)) for m in methods})
        for i, photo in enumerate(photos):
            hole = make_hole(*photo.shape[:2], np.random.default_rng(i))
            filled = {method: fill(photo, hole) for method, fill in methods.items()}
            bands_here = edge_bands(hole) if args.by_distance else None
            for method, picture in filled.items():
                per_method[method].append(hole_scores(picture, photo, hole))
                if args.by_distance:
                    bands[method] += band_errors(picture, photo, bands_here)
            if args.sheet and len(sheet_rows) < args.sheet_rows:
                shown = photo.copy()
                shown[hole] = (255, 0, 255)
                sheet_rows.append([photo, shown, filled["cv2 Telea"], filled["this model"]])
        results[label] = {m: {"psnr": float(np.mean([s[0] for s in v])), "l1": float(np.mean([s[1] for s in v]))}
                          for m, v in per_method.items()}

    print(f"Inpainting inside the holes, {len(photos)} held-out photos {f'at {args.size} px' if args.size else 'whole'}; "
          f"model {path.name}")
    print(f"{'holes':<14} {'method':<20} {'PSNR dB':>8} {'L1 (0-255)':>11}")
    for label, rows in results.items():
        for i, (method, r) in enumerate(rows.items()):
            print(f"{label if i == 0 else '':<14} {method:<20} {r['psnr']:8.2f} {r['l1']:11.2f}")
        gain = rows["this model"]["psnr"] - rows["cv2 Telea"]["psnr"]
        print(f"{'':<14} {'model - Telea':<20} {gain:+8.2f}")
    if args.by_distance:
        print("PSNR dB by distance from the hole's edge (px), pooled: " + " ".join(f"{a}-{b}" for a, b in EDGE_BANDS))
        for label, rows in by_distance.items():
            for method, sums in rows.items():
                psnr = 10 * np.log10(255.0**2 / np.maximum(sums[:, 0], 1e-10) * np.maximum(sums[:, 1], 1))
                results[label][method]["psnr_by_distance"] = [float(x) for x in psnr]
                print(f"{label:<14} {method:<20} " + " ".join(f"{x:6.2f}" for x in psnr))
    if args.sheet and sheet_rows:
        width = 360  # each panel, so that four fit a page at a photo's usual 3:2
        panel = lambda x: cv2.resize(x, (width, round(x.shape[0] * width / x.shape[1])), interpolation=cv2.INTER_AREA)  # noqa: E731
        rows = [np.hstack([panel(x) for x in row]) for row in sheet_rows]
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"sheet: {args.sheet} (photo | holes | Telea | this model)")
    print("reproduce: python -m evaluation.inpaint_quality " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"model": str(path), "photos": len(photos), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
