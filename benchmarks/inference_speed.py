"""Inference speed of every pipeline, side by side in one run, on one machine (CPU):

- PyTorch eager on the network (same threads, same calls: batch, shapes, fp32);
- ONNX Runtime on the same weights (exported here), model only, on the very arrays the CLI
  feeds its models for these inputs (recorded from a run of the CLI: padding, tiling and
  batching included);
- ONNX Runtime on the shipped model files, same arrays (what users run);
- the real CLI over a folder, end to end (start the process, decode, infer, encode, write):
  steady-state pictures/s with --jobs 0 (one thread) and the default overlap, its ratio to the
  shipped model-only figure, the start-up seconds paid once per process, the peak RSS;
- FLOPs per picture and the share of this machine's measured matrix-multiply peak that
  PyTorch and ONNX Runtime reach.

The networks have the shipped models' architectures when models ship, else the trainers'
defaults; random weights are drawn for the PyTorch/ONNX Runtime pair (speed does not depend
on their values), so both run the very same weights.

    python -m benchmarks.inference_speed                      # all pipelines, all cores
    python -m benchmarks.inference_speed --pipelines upscale --images 4 --threads 1
    python -m benchmarks.inference_speed --rounds 3     # medians of 3 interleaved rounds, for a shared machine
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.harness import TASKS, ort_runner, per_second, pipeline_names, record_calls, steady_state

from landscape.export.exporter import export_checkpoint
from landscape.runtime.sessions import bundled_dir, choose_device, read_info, read_manifest, session_options
from landscape.trainers.checkpoint import prefixed, save_checkpoint
from landscape.trainers.networks import build_network, config_to_dict, make_config

FAMILY = {"generate": "dcgan", "upscale": "span", "translate": "pix2pix", "inpaint": "glcic", "label": "segmenter"}
PIPELINES = TASKS


def shipped(task: str) -> Path | None:
    for entry in read_manifest():
        if entry["task"] == task and entry.get("default", True):
            return bundled_dir() / entry["file"]
    return None


def network_config(task: str):
    """(family, network config, origin): the shipped model's architecture when one ships, else
    the task's default family's default."""
    path = shipped(task)
    if path is not None:
        info = read_info(path)
        return info.family, make_config(info.family, info.raw["network"]), "shipped"
    return FAMILY[task], make_config(FAMILY[task], {}), "default"


def matmul_peak(threads: int) -> float:
    """Measured fp32 matrix-multiply GFLOP/s with `threads` threads: the ceiling we compare to."""
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return per_second(lambda: a @ b, 1, 2.0) * 2 * 2048**3 / 1e9


class Pipeline:
    """One pipeline's networks, sessions and recorded calls, set up once; `measure_round`
    takes every figure once, so rounds can interleave the pipelines."""

    def __init__(self, name: str, threads: int, images: int, min_seconds: float, cli_seconds: float, tmp: Path) -> None:
        import onnxruntime as ort

        self.name, self.threads, self.images, self.min_seconds, self.tmp = name, threads, images, min_seconds, tmp
        self.cli_seconds = cli_seconds
        tasks = PIPELINES[name]
        self.nets, exported, origins = {}, {}, set()
        for task in tasks:
            torch.manual_seed(0)
            family, config, origin = network_config(task)
            origins.add(origin)
            self.nets[task] = build_network(family, config).eval()
            ckpt = save_checkpoint(tmp / f"{task}.safetensors", prefixed("net", self.nets[task].state_dict()),
                                   {"family": family, "network": config_to_dict(config), "weights": "net", "step": 0,
                                    "data": "random"})
            exported[task] = export_checkpoint(ckpt, tmp / f"{task}.onnx").path
        self.network = "/".join(sorted(origins))
        self.calls = record_calls(name, tmp, models=exported)
        self.torch_calls = [(task, [torch.from_numpy(a) for a in feeds.values()]) for task, feeds in self.calls.calls]
        with torch.inference_mode():
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                for task, args in self.torch_calls:
                    self.nets[task](*args)
        self.gflop = counter.get_total_flops() / 1e9 / self.calls.pictures

        device = choose_device("cpu", threads, "onnxruntime")

        def sessions(paths: dict[str, Path]) -> dict:
            return {t: ort.InferenceSession(str(p), session_options(device, task=t), providers=["CPUExecutionProvider"])
                    for t, p in paths.items()}

        self.exported_sessions = sessions(exported)
        ship = {task: shipped(task) for task in tasks}
        self.shipped_sessions = sessions(ship) if all(ship.values()) else None
        self.cli_models = None if self.shipped_sessions else exported
        self.cli_images = 0  # sized by the first round's model-only rate

    def measure_round(self) -> dict:
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            eager = per_second(lambda: [self.nets[task](*args) for task, args in self.torch_calls], self.calls.pictures,
                               self.min_seconds)
        pictures = self.calls.pictures
        ort_rate = per_second(ort_runner(self.exported_sessions, self.calls), pictures, self.min_seconds)
        shipped_rate = (per_second(ort_runner(self.shipped_sessions, self.calls), pictures, self.min_seconds)
                        if self.shipped_sessions else None)
        # The steady rate is a difference of two wall-clock times: enough pictures that the
        # longer run takes ~cli_seconds more than the shorter, whatever the pipeline's speed.
        self.cli_images = self.cli_images or max(self.images, math.ceil(self.cli_seconds / 2 * (shipped_rate or ort_rate)))
        cli = {jobs: steady_state(self.name, self.tmp, self.cli_images, threads=self.threads, jobs=jobs,
                                  models=self.cli_models)
               for jobs in ("0", "2:2")}
        # Model-only again after the CLI runs, so that the ratio's two sides bracket the same
        # stretch of time on a machine whose speed drifts.
        after = per_second(ort_runner(self.shipped_sessions or self.exported_sessions, self.calls), pictures, self.min_seconds)
        reference = ((shipped_rate or ort_rate) + after) / 2
        return {"torch": eager, "ort": ort_rate, "ort_shipped": shipped_rate, "reference_after": after,
                "cli_share": cli["2:2"].rate / reference, "cli_images": self.cli_images, "cli_jobs0": cli["0"].rate,
                "cli": cli["2:2"].rate, "cli_start_s": cli["2:2"].start, "rss_mb": max(c.rss_mb for c in cli.values())}


def summary(pipeline: Pipeline, rounds: list[dict]) -> dict:
    """Medians over the rounds (peak RSS: the largest), and the ratios of each round."""
    def median(key: str) -> float | None:
        values = [r[key] for r in rounds if r[key] is not None]
        return statistics.median(values) if values else None

    row = {"pipeline": pipeline.name, "network": pipeline.network,
           "calls_per_picture": len(pipeline.calls.calls) / pipeline.calls.pictures, "gflop_per_picture": pipeline.gflop,
           **{key: median(key) for key in ("torch", "ort", "ort_shipped", "cli_jobs0", "cli", "cli_start_s")},
           "rss_mb": max(r["rss_mb"] for r in rounds), "rounds": rounds}
    shares = [r["cli_share"] for r in rounds]
    row["cli_share"] = statistics.median(shares)
    row["cli_share_range"] = (min(shares), max(shares))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated: " + ", ".join(PIPELINES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=8, help="fewest pictures in the shorter CLI run (the longer has 3x)")
    parser.add_argument("--cli-seconds", type=float, default=16.0, help="how much longer the longer CLI run takes, roughly")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per model-only figure")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every figure this many times, pipelines interleaved, and keep the medians")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    names = pipeline_names(parser, args.pipelines, PIPELINES)

    peak = matmul_peak(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        pipelines = []
        for name in names:
            (Path(tmp) / name).mkdir()
            pipelines.append(Pipeline(name, args.threads, args.images, args.seconds, args.cli_seconds, Path(tmp) / name))
        rounds: dict[str, list[dict]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for pipeline in pipelines:
                rounds[pipeline.name].append(pipeline.measure_round())
                print(f"round {round_ + 1}: measured {pipeline.name}", file=sys.stderr, flush=True)
        rows = [summary(pipeline, rounds[pipeline.name]) for pipeline in pipelines]
    print(f"CPU, {args.threads} threads, fp32; measured matmul peak {peak:.0f} GFLOP/s; pictures/s, median of "
          f"{args.rounds} round(s); CLI figures are steady state (start-up separate); CLI/ORT: CLI over the shipped model-only rate taken before and after it, median of the rounds")
    print(f"{'pipeline':<19} {'net':<8} {'GFLOP':>7} {'PyTorch':>8} {'ORT':>8} {'ORT/PT':>7} {'shipped':>8} {'CLI -j0':>8} "
          f"{'CLI':>8} {'CLI/ORT':>8} {'start s':>7} {'RSS MB':>7} {'PT %pk':>7} {'ORT %pk':>7}")
    for r in rows:
        shipped_text = f"{r['ort_shipped']:8.2f}" if r["ort_shipped"] else f"{'-':>8}"
        print(f"{r['pipeline']:<19} {r['network']:<8} {r['gflop_per_picture']:7.2f} {r['torch']:8.2f} {r['ort']:8.2f} "
              f"{r['ort'] / r['torch']:6.2f}x {shipped_text} {r['cli_jobs0']:8.2f} {r['cli']:8.2f} "
              f"{100 * r['cli_share']:7.0f}% {r['cli_start_s']:7.2f} {r['rss_mb']:7.0f} "
              f"{100 * r['torch'] * r['gflop_per_picture'] / peak:6.0f}% {100 * r['ort'] * r['gflop_per_picture'] / peak:6.0f}%")
    print("reproduce: python -m benchmarks.inference_speed " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "peak_gflops": peak, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
