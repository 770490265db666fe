"""bf16 against fp32 on held-out inputs, for the two tasks whose parity is not a quality
figure of its own: the label maps' agreement (pixels of the same class) on Stanford val and on
the held-out landscapes, and the generated pictures' PSNR (generator and the generate --upscale
chain) over 64 seeds. Both precisions run in OpenVINO through the CLI's pipelines.
(Upscale and inpaint: their quality scripts take --precision; see docs/PERFORMANCE.md.)

    python -m evaluation.bf16_parity --json runs/logs/bf16/parity.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from landscape.runtime.cpu import facts
from landscape.imaging.codec import decode, from_unit, rgb_unit
from landscape.pipelines.generate import generate
from landscape.pipelines.label import label
from landscape.pipelines.upscale import upscale_unit_batch
from landscape.runtime.sessions import choose_device, load_model


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stanford", type=Path, default=Path("../shared/data/stanford_background"))
    parser.add_argument("--landscapes", type=Path, default=Path("../shared/data/landscapes"))
    parser.add_argument("--split", type=Path, default=Path("runs/translate/split.json"))
    parser.add_argument("--seeds", type=int, default=64)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not facts().has_bf16:
        raise SystemExit(f"this CPU ({facts().describe()}) has no bf16 units")
    models = {p: {task: load_model(task, None, choose_device("cpu", 0, "openvino", p)) for task in ("label", "generate", "upscale")}
              for p in ("fp32", "bf16")}
    held = json.loads(args.split.read_text())["held_out"]
    photos = [args.stanford / "images" / n.split("/", 1)[1] if n.startswith("stanford/") else args.landscapes / n.split("/", 1)[1]
              for n in held]
    same = total = 0
    for path in photos:
        rgb = rgb_unit(decode(path, max_pixels=10**8).pixels)
        a, b = (label(models[p]["label"], rgb) for p in ("fp32", "bf16"))
        same, total = same + int(np.sum(a == b)), total + a.size
    report = {"cpu": facts().describe(), "label_agreement": same / total, "label_photos": len(photos)}
    seeds = list(range(args.seeds))
    pictures = {p: generate(models[p]["generate"], seeds) for p in ("fp32", "bf16")}
    report["generate_psnr_db"] = min(psnr_u8(from_unit(x), from_unit(y)) for x, y in zip(pictures["fp32"], pictures["bf16"]))
    chained = {p: [upscale_unit_batch(models[p]["upscale"], pictures[p][k:k + 8]) for k in range(0, len(seeds), 8)]
               for p in ("fp32", "bf16")}
    report["generate_upscale_psnr_db"] = min(psnr_u8(from_unit(x), from_unit(y)) for xs, ys in zip(chained["fp32"], chained["bf16"])
                                             for x, y in zip(xs, ys))
    print(f"cpu: {report['cpu']}")
    print(f"label maps: {100 * report['label_agreement']:.3f} % of pixels agree over {len(photos)} held-out photos")
    print(f"generate: worst picture {report['generate_psnr_db']:.1f} dB from fp32 over {len(seeds)} seeds; "
          f"generate --upscale: {report['generate_upscale_psnr_db']:.1f} dB")
    print("reproduce: python -m evaluation.bf16_parity " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
