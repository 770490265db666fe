"""Inference speed of every pipeline, side by side in one run, on one machine:

- PyTorch eager on the network (same threads, batch and precision);
- ONNX Runtime on the same weights (exported here, parity-checked), model only, on arrays;
- the real CLI over a folder, end to end (decode, infer, encode, write), with --jobs 0 (one
  thread) and the default overlap, and its ratio to the model-only figure;
- peak RSS of the CLI run; the network's FLOPs per image and the share of this machine's
  measured matrix-multiply peak that ONNX Runtime reaches.

The networks have the bundled models' architectures and sizes when models ship, else the
defaults. Weights are drawn at random for both sides (speed does not depend on their values),
so PyTorch and ONNX Runtime run the very same weights.

    python benchmarks/inference_speed.py                       # all pipelines, CPU, all cores
    python benchmarks/inference_speed.py --pipelines upscale --images 32 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from export.exporter import export_checkpoint
from landscape_cli.runtime import bundled_dir, choose_device, load_model, read_info, read_manifest
from trainers.checkpoint import prefixed, save_checkpoint
from trainers.networks import build_network, config_to_dict, make_config
from trainers.palette import LANDSCAPE_PALETTE

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Pipeline:
    family: str
    task: str
    batch: int
    size: int  # input side in pixels (latent pipelines: output side)
    cli: Callable[[Path, Path], list[str]]  # (input folder, output folder) -> arguments after `landscape`


PIPELINES = {
    "generate": Pipeline("dcgan", "generate", 16, 128, lambda src, out: ["generate", "-n", "{n}", "-o", str(out)]),
    "upscale": Pipeline("esrgan", "upscale", 4, 128, lambda src, out: ["upscale", str(src), "-o", str(out)]),
    "translate": Pipeline("pix2pix", "translate", 1, 256, lambda src, out: ["translate", str(src), "-o", str(out)]),
    "inpaint": Pipeline("glcic", "inpaint", 1, 256, lambda src, out: ["inpaint", str(src), "-o", str(out)]),
    "label": Pipeline("segmenter", "label", 1, 256, lambda src, out: ["label", str(src), "-o", str(out)]),
}


def network_config(p: Pipeline):
    """The bundled model's architecture when one ships, else the family's default."""
    for entry in read_manifest():
        if entry["task"] == p.task:
            return make_config(p.family, read_info(bundled_dir() / entry["file"]).raw["network"]), "bundled"
    return make_config(p.family, {}), "default"


def example(p: Pipeline, config, batch: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    if p.task == "generate":
        return (torch.randn(batch, config.latent_dim, generator=g),)
    if p.task == "translate":
        labels = torch.randint(0, len(config.classes), (batch, p.size // 16, p.size // 16), generator=g)
        labels = labels.repeat_interleave(16, 1).repeat_interleave(16, 2)
        return (torch.nn.functional.one_hot(labels, len(config.classes)).permute(0, 3, 1, 2).float(),)
    image = torch.rand(batch, 3, p.size, p.size, generator=g)
    if p.task == "inpaint":
        mask = torch.zeros(batch, 1, p.size, p.size)
        mask[:, :, p.size // 4 : p.size // 2, p.size // 4 : p.size // 2] = 1
        return image * 2 - 1, mask
    return (image,) if p.task == "upscale" else (image * 2 - 1,)


def per_second(fn: Callable[[], object], images: int, min_seconds: float) -> float:
    fn()  # warm-up: allocation, graph optimisation, first-call costs
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and runs >= 2:
            return runs * images / elapsed


def matmul_peak(threads: int) -> float:
    """Measured fp32 matrix-multiply GFLOP/s with `threads` threads: the ceiling we compare to."""
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return per_second(lambda: a @ b, 1, 2.0) * 2 * 2048**3 / 1e9


def write_inputs(p: Pipeline, folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        if p.task == "translate":
            labels = rng.integers(0, len(LANDSCAPE_PALETTE), (p.size // 16, p.size // 16)).repeat(16, 0).repeat(16, 1)
            pixels = np.asarray(LANDSCAPE_PALETTE, np.uint8)[labels]
        else:
            y, x = np.mgrid[0 : p.size, 0 : p.size]
            pixels = np.stack([x * 255 // p.size, y * 255 // p.size, (x ^ y) & 255], 2).astype(np.uint8)
            pixels = np.clip(pixels + rng.integers(-20, 21, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
        if p.task == "inpaint":
            mask = np.zeros((p.size, p.size), np.uint8)
            mask[p.size // 4 : p.size // 2, p.size // 4 : p.size // 2] = 255
            Image.fromarray(mask).save(folder / f"{i:04d}_mask.png")


def run_cli(args: list[str], model: Path, threads: int) -> tuple[float, float]:
    """(seconds the command reports for its work, peak RSS in MB) of one CLI process."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr); print(r.stdout.strip()); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    cmd = [sys.executable, "-c", probe, sys.executable, "-m", "landscape_cli", *args, "--model", str(model),
           "--device", "cpu", "--threads", str(threads), "--json", "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"CLI failed: {' '.join(args)}\n{done.stderr[-2000:]}")
    *summary, rss_kb = done.stdout.strip().splitlines()
    return json.loads("\n".join(summary))["seconds"], int(rss_kb) / 1024


def measure(name: str, p: Pipeline, threads: int, images: int, min_seconds: float, tmp: Path) -> dict:
    torch.manual_seed(0)
    config, origin = network_config(p)
    net = build_network(p.family, config).eval()
    ckpt = save_checkpoint(tmp / f"{name}.safetensors", prefixed("net", net.state_dict()),
                           {"family": p.family, "network": config_to_dict(config), "weights": "net", "step": 0, "data": "random"})
    onnx_path = export_checkpoint(ckpt, tmp / f"{name}.onnx").path

    torch.set_num_threads(threads)
    inputs = example(p, config, p.batch)
    with torch.inference_mode():
        eager = per_second(lambda: net(*inputs), p.batch, min_seconds)
        one = example(p, config, 1)
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            net(*one)
        gflop = counter.get_total_flops() / 1e9

    model = load_model(p.task, onnx_path, choose_device("cpu", threads))
    feeds = {spec.name: t.numpy() for spec, t in zip(model.info.inputs, inputs)}
    ort_rate = per_second(lambda: model.run(**feeds), p.batch, min_seconds)

    src, rows = tmp / f"{name}-in", {}
    if p.task != "generate":
        write_inputs(p, src, images)
    for jobs in ("0", "2:2"):
        args = [a.replace("{n}", str(images)) for a in p.cli(src, tmp / f"{name}-out-{jobs}")] + ["--jobs", jobs]
        seconds, rss = run_cli(args, onnx_path, threads)
        rows[jobs] = (images / seconds, rss)
    return {"pipeline": name, "network": origin, "batch": p.batch, "gflop_per_image": gflop, "torch": eager, "ort": ort_rate,
            "cli_jobs0": rows["0"][0], "cli": rows["2:2"][0], "rss_mb": max(rows["0"][1], rows["2:2"][1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated: " + ", ".join(PIPELINES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=16, help="pictures per CLI run")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per model-only figure")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    unknown = [n for n in names if n not in PIPELINES]
    if unknown:
        parser.error(f"unknown pipeline(s): {', '.join(unknown)}")

    peak = matmul_peak(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows.append(measure(name, PIPELINES[name], args.threads, args.images, args.seconds, Path(tmp)))
            print(f"measured {name}", file=sys.stderr, flush=True)
    print(f"CPU, {args.threads} threads, fp32; measured matmul peak {peak:.0f} GFLOP/s; images/s")
    head = (f"{'pipeline':<10} {'net':<8} {'batch':>5} {'GFLOP/img':>9} {'PyTorch':>8} {'ORT':>8} {'ORT/PT':>7} "
            f"{'CLI -j0':>8} {'CLI':>8} {'CLI/ORT':>8} {'RSS MB':>7} {'% peak':>7}")
    print(head)
    for r in rows:
        share = 100 * r["ort"] * r["gflop_per_image"] / peak
        print(f"{r['pipeline']:<10} {r['network']:<8} {r['batch']:>5} {r['gflop_per_image']:9.2f} {r['torch']:8.2f} {r['ort']:8.2f} "
              f"{r['ort'] / r['torch']:6.2f}x {r['cli_jobs0']:8.2f} {r['cli']:8.2f} {100 * r['cli'] / r['ort']:7.0f}% "
              f"{r['rss_mb']:7.0f} {share:6.1f}%")
    print("reproduce: python benchmarks/inference_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "peak_gflops": peak, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
