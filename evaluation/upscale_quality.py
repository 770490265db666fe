"""Super-resolution quality of an ONNX upscaler (or the bundled set) against bicubic, as SR
papers report it: PSNR and SSIM on the Y channel (BT.601) with a border of the factor's width
cropped.

Two sets, side by side in one table:
- Set5: at x4 the LR files given with it (MATLAB bicubic), next to the published figures for
  bicubic, SRCNN and VDSR; at other factors (--scale 2, 3, ...) the HR images cropped to a
  multiple of the factor and downscaled with the antialiased bicubic the trainer uses;
- held-out landscape photos (the run's split.json names them), whole images cropped to a
  multiple of the factor and downscaled the same way; `--centre N` takes their N-pixel square
  centres instead (the protocol of the figures issue 44 quotes for ncnn: 256).

The upscaler runs through `landscape upscale`'s own code (landscape.api.Upscaler: its passes,
the resize to the exact size, tiles), so the figure is what the command gives.

    python -m evaluation.upscale_quality                              # the bundled upscaler, x4
    python -m evaluation.upscale_quality --scale 3                    # the bundled set at x3 (x4, then area)
    python -m evaluation.upscale_quality --centre 256                 # the landscapes' 256 px centres
    python -m evaluation.upscale_quality --model runs/x/upscale.onnx --json out.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from landscape.runtime.cpu import facts
from landscape.runtime.sessions import BACKENDS, PRECISIONS
from landscape.trainers.metrics import psnr, ssim, to_y

# Set5 x4, Y-PSNR in dB, as published (Kim et al., VDSR, CVPR 2016, Table 3).
PUBLISHED_SET5 = {"bicubic": 28.42, "SRCNN": 30.48, "VDSR": 31.35}


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def bicubic_up(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pillow's bicubic (a = -0.5, MATLAB's kernel) to (h, w): the baseline of the published table."""
    return np.asarray(Image.fromarray(lr).resize((size[1], size[0]), Image.BICUBIC))


def downscale(hr: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(hr cropped so that factor x its low-resolution size is its size, that low-resolution
    picture by antialiased bicubic)."""
    step = exact_step(factor)
    h, w = (hr.shape[0] // step[0]) * step[0], (hr.shape[1] // step[0]) * step[0]
    hr = np.ascontiguousarray(hr[:h, :w])
    lr_size = (h * step[1] // step[0], w * step[1] // step[0])
    return hr, np.asarray(Image.fromarray(hr).resize((lr_size[1], lr_size[0]), Image.BICUBIC))


def exact_step(factor: float) -> tuple[int, int]:
    """(HR pixels, LR pixels) of one exact step of the factor: 3 -> (3, 1), 1.5 -> (3, 2)."""
    from fractions import Fraction

    f = Fraction(factor).limit_denominator(16)
    return f.numerator, f.denominator


def y_scores(pred: np.ndarray, target: np.ndarray, border: int) -> tuple[float, float]:
    as_y = lambda a: to_y(torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].double() / 255.0)  # noqa: E731
    p, t = as_y(pred), as_y(target)
    return psnr(p, t, border=border), ssim(p, t, border=border)


def evaluate(pairs: list[tuple[str, np.ndarray, np.ndarray]], upscaler) -> dict[str, dict[str, float]]:
    """pairs of (name, lr, hr) -> mean Y-PSNR/SSIM of the upscaler and of bicubic."""
    border = math.ceil(upscaler.scale)
    scores = {"bicubic": [], "model": []}
    for _, lr, hr in pairs:
        made = upscaler.upscale_pixels(lr)
        hr = hr[: made.shape[0], : made.shape[1]]
        scores["bicubic"].append(y_scores(bicubic_up(lr, hr.shape[:2]), hr, border))
        scores["model"].append(y_scores(made, hr, border))
    return {k: {"psnr": float(np.mean([s[0] for s in v])), "ssim": float(np.mean([s[1] for s in v])), "images": len(v)}
            for k, v in scores.items()}


def set5_pairs(root: Path, factor: float) -> list[tuple[str, np.ndarray, np.ndarray]]:
    pairs = []
    for hr_path in sorted((root / "hr").glob("*_HR.png")):
        if factor == 4:
            pairs.append((hr_path.stem, read_rgb(root / "lr" / hr_path.name.replace("_HR", "_LR")), read_rgb(hr_path)))
        else:
            hr, lr = downscale(read_rgb(hr_path), factor)
            pairs.append((hr_path.stem, lr, hr))
    if not pairs:
        raise SystemExit(f"{root}: no *_HR.png files under hr/")
    return pairs


def landscape_pairs(root: Path, split: Path, limit: int, factor: float,
                    centre: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    names = json.loads(split.read_text())["held_out"][:limit or None]
    pairs = []
    for name in names:
        hr, lr = downscale(centre_of(read_rgb(root / name), centre), factor)
        pairs.append((name, lr, hr))
    return pairs


def centre_of(picture: np.ndarray, side: int) -> np.ndarray:
    """The picture's centre square of `side` pixels (smaller where the picture is); 0: the whole picture."""
    if not side:
        return picture
    h, w = picture.shape[:2]
    side = min(side, h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(picture[top:top + side, left:left + side])


def main(argv: list[str] | None = None) -> int:
    from landscape.api import Upscaler

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="ONNX upscaler (default: the bundled set)")
    parser.add_argument("--scale", type=float, default=None, help="the factor, as `landscape upscale --scale` (default: the model's own)")
    parser.add_argument("--set5", type=Path, default=Path("../shared/data/sr_set5_x4"))
    parser.add_argument("--landscapes", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--split", type=Path, default=Path("runs/upscale-rrdb/split.json"),
                        help="split.json of the training run: its held_out list is evaluated")
    parser.add_argument("--centre", type=int, default=0, metavar="N",
                        help="evaluate the held-out photos' N-pixel square centres (0: the whole photos)")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N held-out photos (0: all)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend, as the CLI's --backend")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as the CLI's --precision")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    upscaler = Upscaler(args.model, scale=args.scale, device="cpu", threads=args.threads, backend=args.backend,
                        precision=args.precision, max_pixels=10**9)
    results = {"model": str(args.model or "bundled"), "scale": upscaler.scale, "passes": list(upscaler.plan),
               "precisions": [m.precision for m in upscaler.models], "landscape_centre": args.centre, "cpu": facts().describe(),
               "set5": evaluate(set5_pairs(args.set5, upscaler.scale), upscaler)}
    if args.split.exists():
        results["landscapes_held_out"] = evaluate(landscape_pairs(args.landscapes, args.split, args.limit, upscaler.scale, args.centre), upscaler)
    else:
        print(f"{args.split}: no split file; the landscape figures are skipped", file=sys.stderr)

    print(f"x{upscaler.scale} super-resolution (passes {', '.join(f'x{p}' for p in upscaler.plan)}, "
          f"{'/'.join(results['precisions'])}), Y channel, {math.ceil(upscaler.scale)}-px border cropped; "
          f"model {results['model']}; CPU {results['cpu']}")
    print(f"{'set':<33} {'method':<20} {'PSNR dB':>8} {'SSIM':>7}")
    held_out = f"landscapes, {args.centre} px centres" if args.centre else "landscapes held-out"
    for name, label in (("set5", "Set5"), ("landscapes_held_out", held_out)):
        if name not in results:
            continue
        r = results[name]
        label = f"{label} ({r['model']['images']})"
        print(f"{label:<33} {'bicubic':<20} {r['bicubic']['psnr']:8.2f} {r['bicubic']['ssim']:7.4f}")
        if name == "set5" and upscaler.scale == 4:
            for method, value in PUBLISHED_SET5.items():
                print(f"{'':<33} {method + ' (published)':<20} {value:8.2f} {'':>7}")
        gain = r["model"]["psnr"] - r["bicubic"]["psnr"]
        print(f"{'':<33} {'this model':<20} {r['model']['psnr']:8.2f} {r['model']['ssim']:7.4f}  ({gain:+.2f} dB)")
    print("reproduce: python -m evaluation.upscale_quality " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
