"""x4 super-resolution quality of an ONNX upscaler against bicubic, as SR papers report it:
PSNR and SSIM on the Y channel (BT.601) with a 4-pixel border cropped.

Two sets, side by side in one table:
- Set5 x4 (the LR files given with it, MATLAB bicubic), next to the published figures for
  bicubic, SRCNN and VDSR;
- held-out landscape photos (the run's split.json names them), whole images cropped to a
  multiple of 4 and downscaled with the same antialiased bicubic the trainer uses.

The model runs through the CLI's own upscale pipeline (tiles included), so the figure is
what `landscape upscale` gives.

    python -m evaluation.upscale_quality                              # the bundled upscaler
    python -m evaluation.upscale_quality --model runs/x/upscale.onnx --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from landscape.pipelines.upscale import TileSettings, upscale_pixels
from landscape.runtime.sessions import BACKENDS, PRECISIONS, bundled_model, choose_device, load_model
from landscape.trainers.degrade import bicubic_down
from landscape.trainers.metrics import psnr, ssim, to_y

SCALE = 4
BORDER = 4
# Set5 x4, Y-PSNR in dB, as published (Kim et al., VDSR, CVPR 2016, Table 3).
PUBLISHED_SET5 = {"bicubic": 28.42, "SRCNN": 30.48, "VDSR": 31.35}


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def bicubic_up(lr: np.ndarray) -> np.ndarray:
    """Pillow's bicubic (a = -0.5, MATLAB's kernel) to 4x: the baseline of the published table."""
    h, w = lr.shape[:2]
    return np.asarray(Image.fromarray(lr).resize((w * SCALE, h * SCALE), Image.BICUBIC))


def y_scores(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    as_y = lambda a: to_y(torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].double() / 255.0)  # noqa: E731
    p, t = as_y(pred), as_y(target)
    return psnr(p, t, border=BORDER), ssim(p, t, border=BORDER)


def evaluate(pairs: list[tuple[str, np.ndarray, np.ndarray]], model) -> dict[str, dict[str, float]]:
    """pairs of (name, lr, hr) -> mean Y-PSNR/SSIM of the model and of bicubic."""
    scores = {"bicubic": [], "model": []}
    for _, lr, hr in pairs:
        hr = hr[: lr.shape[0] * SCALE, : lr.shape[1] * SCALE]
        scores["bicubic"].append(y_scores(bicubic_up(lr), hr))
        scores["model"].append(y_scores(upscale_pixels(model, lr, TileSettings()), hr))
    return {k: {"psnr": float(np.mean([s[0] for s in v])), "ssim": float(np.mean([s[1] for s in v])), "images": len(v)}
            for k, v in scores.items()}


def set5_pairs(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    pairs = []
    for hr_path in sorted((root / "hr").glob("*_HR.png")):
        lr_path = root / "lr" / hr_path.name.replace("_HR", "_LR")
        pairs.append((hr_path.stem, read_rgb(lr_path), read_rgb(hr_path)))
    if not pairs:
        raise SystemExit(f"{root}: no *_HR.png files under hr/")
    return pairs


def landscape_pairs(root: Path, split: Path, limit: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    names = json.loads(split.read_text())["held_out"][:limit or None]
    pairs = []
    for name in names:
        hr = read_rgb(root / name)
        h, w = (hr.shape[0] // SCALE) * SCALE, (hr.shape[1] // SCALE) * SCALE
        hr = np.ascontiguousarray(hr[:h, :w])
        pairs.append((name, bicubic_down(hr, SCALE), hr))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX upscaler (default: the bundled one)")
    parser.add_argument("--set5", type=Path, default=Path("../shared/data/sr_set5_x4"))
    parser.add_argument("--landscapes", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--split", type=Path, default=Path("runs/upscale-rrdb/split.json"),
                        help="split.json of the training run: its held_out list is evaluated")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N held-out photos (0: all)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend, as the CLI's --backend")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the CLI's --precision")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    path = args.model or bundled_model("upscale")
    model = load_model("upscale", path, choose_device("cpu", args.threads, args.backend, args.precision))
    results = {"model": str(path), "set5": evaluate(set5_pairs(args.set5), model)}
    if args.split.exists():
        results["landscapes_held_out"] = evaluate(landscape_pairs(args.landscapes, args.split, args.limit), model)
    else:
        print(f"{args.split}: no split file; the landscape figures are skipped", file=sys.stderr)

    print(f"x4 super-resolution, Y channel, {BORDER}-px border cropped; model {path.name}")
    print(f"{'set':<22} {'method':<20} {'PSNR dB':>8} {'SSIM':>7}")
    for name, label in (("set5", "Set5"), ("landscapes_held_out", "landscapes held-out")):
        if name not in results:
            continue
        r = results[name]
        label = f"{label} ({r['model']['images']})"
        print(f"{label:<22} {'bicubic':<20} {r['bicubic']['psnr']:8.2f} {r['bicubic']['ssim']:7.4f}")
        if name == "set5":
            for method, value in PUBLISHED_SET5.items():
                print(f"{'':<22} {method + ' (published)':<20} {value:8.2f} {'':>7}")
        print(f"{'':<22} {'this model':<20} {r['model']['psnr']:8.2f} {r['model']['ssim']:7.4f}")
    print("reproduce: python -m evaluation.upscale_quality " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
