"""Training throughput of the GPU plan's five recipes (gpu/window.py), through the real
trainers: images/s of each alone on the device, then of all five sharing it, with the share
of the bf16 matrix-product rate measured in the same run.

    python -m benchmarks.train_throughput --out DIR                 # CUDA: the plan's recipes
    python -m benchmarks.train_throughput --out DIR --tiny --seconds 5   # the CPU rehearsal

Each trainer runs in its own process for --seconds of training (--max-minutes) on synthetic
320x240 photos and maps, with its data on the device on CUDA; the rate is the mean of its
logged images/s after the first record (which holds the warm-up). The share of peak counts
3x the forward FLOPs of the networks a step trains (forward, and backward at twice the
forward), once per training image: a floor for the GANs, whose discriminators run more than
once per image.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from benchmarks.harness import flops
from gpu.window import COMMON, PLAN, matmul_rate, recipe


def synthetic(root: Path, count: int) -> tuple[Path, Path]:
    """Smooth random 320x240 photos and 8-class index maps with the same stems."""
    import cv2

    photos, maps = root / "photos", root / "maps"
    photos.mkdir(parents=True), maps.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        img = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
        cv2.imwrite(str(photos / f"{i:03d}.jpg"), img)
        cv2.imwrite(str(maps / f"{i:03d}.png"), (img[:, :, 0] // 32).astype(np.uint8))
    return photos, maps


def forward_flops(t, tiny: bool) -> float:
    """Forward FLOPs per image of the networks a step of `t` trains."""
    from landscape.trainers.networks.dcgan import DCGANDiscriminator, build_generator
    from landscape.trainers.networks.span import SPANNet
    from landscape.trainers.networks.glcic import CompletionNetwork, ContextDiscriminator, ContextDiscriminatorConfig
    from landscape.trainers.networks.pix2pix import PatchGAN, PatchGANConfig, UNetGenerator
    from landscape.trainers.networks.segmenter import UNetSegmenter

    c = recipe(t, tiny)
    r = c.resolution
    if t.family == "dcgan":
        nets = [(build_generator(c.generator()), (torch.randn(1, c.latent_dim),)),
                (DCGANDiscriminator(config=c.discriminator()), (torch.randn(1, 3, r, r),))]
    elif t.family == "span":
        nets = [(SPANNet(config=c.generator()), (torch.rand(1, 3, r, r),))]
    elif t.family == "pix2pix":
        nets = [(UNetGenerator(config=c.generator()), (torch.rand(1, 8, r, r),)),
                (PatchGAN(config=PatchGANConfig(width=c.d_width, layers=c.d_layers, scales=c.d_scales)), (torch.rand(1, 8, r, r), torch.rand(1, 3, r, r)))]
    elif t.family == "glcic":
        d = ContextDiscriminator(config=ContextDiscriminatorConfig(resolution=r, local_resolution=r // 2, width=c.d_width))
        nets = [(CompletionNetwork(config=c.generator()), (torch.rand(1, 3, r, r), torch.zeros(1, 1, r, r))),
                (d, (torch.rand(1, 3, r, r), torch.rand(1, 3, r // 2, r // 2)))]
    else:
        nets = [(UNetSegmenter(config=c.network()), (torch.rand(1, 3, r, r),))]
    return sum(flops(lambda: net.eval()(*inputs)) for net, inputs in nets)


def launch(t, photos: Path, maps: Path, out: Path, seconds: float, tiny: bool, cuda: bool) -> subprocess.Popen:
    data = ["--data", str(photos)] + (["--maps", str(maps), "--class-map", "stanford"] if "--maps" in t.data else [])
    argv = [sys.executable, "-m", t.module, *data, *t.args, *COMMON, *(t.tiny if tiny else ()),
            "--out", str(out), "--max-minutes", f"{seconds / 60:.3f}", "--log-every", "5" if tiny else "20",
            "--eval-every", "0", "--sample-every", "0", "--checkpoint-every", "0", "--device", "cuda" if cuda else "cpu"]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "w"))


def rate(run: Path) -> float | None:
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        return None
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    timed = [r["images_per_s"] for r in records if r["kind"] == "train"][1:]
    return float(np.mean(timed)) if timed else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for train_throughput.json and the runs")
    parser.add_argument("--seconds", type=float, default=12, help="training time of each measurement")
    parser.add_argument("--tiny", action="store_true", help="the rehearsal's recipes, on the CPU")
    parser.add_argument("--modes", default="alone,shared", help="alone, shared or both (comma-separated)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.tiny
    dev = torch.device("cuda" if cuda else "cpu")
    peak = matmul_rate(dev, torch.bfloat16 if cuda else torch.float32, 8192 if cuda else 512)
    result = {"device": torch.cuda.get_device_name() if cuda else "cpu", "peak_flops": peak, "seconds": args.seconds,
              "families": {t.family: {"train_flops_per_image": 3 * forward_flops(t, args.tiny)} for t in PLAN}}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        photos, maps = synthetic(Path(tmp), 96)
        for mode in args.modes.split(","):
            batches = [[t] for t in PLAN] if mode == "alone" else [list(PLAN)]
            start = time.monotonic()
            for group in batches:
                procs = {t: launch(t, photos, maps, args.out / f"{mode}-{t.run}", args.seconds, args.tiny, cuda) for t in group}
                for t, proc in procs.items():
                    proc.wait()
                    figure = rate(args.out / f"{mode}-{t.run}")
                    entry = result["families"][t.family]
                    entry[f"{mode}_img_s"] = figure
                    entry[f"{mode}_share_of_peak"] = figure * entry["train_flops_per_image"] / peak if figure else None
            result[f"{mode}_wall_s"] = time.monotonic() - start
            (args.out / "train_throughput.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"| family | train GFLOP/img | alone img/s | alone % peak | shared img/s | shared % peak |  ({result['device']}, "
          f"peak {peak / 1e12:.1f} TFLOP/s)")
    print("|---|---|---|---|---|---|")
    for family, e in result["families"].items():
        cells = [f"{e.get(k):.1f}" if e.get(k) else "-" for k in ("alone_img_s",)]
        cells.append(f"{100 * e['alone_share_of_peak']:.1f} %" if e.get("alone_share_of_peak") else "-")
        cells.append(f"{e['shared_img_s']:.1f}" if e.get("shared_img_s") else "-")
        cells.append(f"{100 * e['shared_share_of_peak']:.1f} %" if e.get("shared_share_of_peak") else "-")
        print(f"| {family} | {e['train_flops_per_image'] / 1e9:.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
