"""What the networks can do on a CUDA GPU, side by side in one run: PyTorch fp32 eager (the
baseline a user would write), fp16 with channels-last, and the same replayed as a CUDA graph,
with FLOPs per image, the share of the card's measured fp16 matrix peak, and peak GPU memory.

    python benchmarks/gpu_torch.py                  # every pipeline, default batches
    python benchmarks/gpu_torch.py --pipelines upscale --batch 16

The architectures are the bundled models' (else the families' defaults), as in
inference_speed.py; weights are random, since speed does not depend on their values. The
fp16 error against fp32 on the same inputs is printed so that the speed is not bought with a
wrong answer.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_runs import record_calls  # noqa: E402
from inference_speed import FAMILY, network_config  # noqa: E402
from trainers.networks import build_network  # noqa: E402

BATCHES = {"generate": 64, "upscale": 8, "translate": 16, "inpaint": 8, "label": 16}


def timed(fn, min_seconds: float) -> float:
    """Seconds per call: median of event-timed repeats after warm-up."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times, deadline = [], time.perf_counter() + min_seconds
    while time.perf_counter() < deadline or len(times) < 5:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return sorted(times)[len(times) // 2]


def fp16_peak() -> float:
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.float16) for _ in range(2))
    return 2 * 8192**3 / timed(lambda: a @ b, 1.0)


def example(task: str, batch: int) -> list[torch.Tensor]:
    """`batch` copies of what the CLI feeds the task's bundled model for the benchmarks' input
    (cli_runs.record_calls), in the order of the network's arguments."""
    with tempfile.TemporaryDirectory() as tmp:
        _, feeds = record_calls(task, Path(tmp)).calls[0]
    return [torch.from_numpy(np.repeat(a[:1], batch, 0)) for a in feeds.values()]


def graphed(net, inputs):
    static = [x.clone() for x in inputs]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            net(*static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        net(*static)
    return graph.replay


def measure(name: str, batch: int, min_seconds: float, peak: float) -> dict:
    config, origin = network_config(name)
    net32 = build_network(FAMILY[name], config).eval().cuda()
    inputs32 = [x.cuda() for x in example(name, batch)]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net32(*[x[:1] for x in inputs32])
    flops = counter.get_total_flops()
    row = {"pipeline": name, "network": origin, "batch": batch, "gflop_per_image": flops / 1e9}
    with torch.no_grad():
        torch.cuda.reset_peak_memory_stats()
        row["fp32_img_s"] = batch / timed(lambda: net32(*inputs32), min_seconds)
        ref = net32(*inputs32).float()
        net16 = build_network(FAMILY[name], config).eval().cuda()
        net16.load_state_dict(net32.state_dict())
        net16 = net16.half().to(memory_format=torch.channels_last)
        inputs16 = [x.half().contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x.half() for x in inputs32]
        row["fp16_img_s"] = batch / timed(lambda: net16(*inputs16), min_seconds)
        out16 = net16(*inputs16).float()
        row["fp16_rel_err"] = float((out16 - ref).norm() / ref.norm().clamp_min(1e-12))
        row["graph_img_s"] = batch / timed(graphed(net16, inputs16), min_seconds)
        row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    row["speedup"] = row["graph_img_s"] / row["fp32_img_s"]
    row["share_of_fp16_peak"] = row["graph_img_s"] * flops / peak
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", nargs="+", default=list(BATCHES), choices=list(BATCHES))
    parser.add_argument("--batch", type=int, help="one batch size for every pipeline (default: per pipeline)")
    parser.add_argument("--seconds", type=float, default=1.0, help="least timing time per measurement")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_torch.py: no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN search its algorithms
    peak = fp16_peak()
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; measured fp16 matmul peak "
          f"{peak / 1e12:.0f} TFLOP/s (8192^3)")
    print(f"{'pipeline':<10} {'net':<8} {'batch':>5} {'GFLOP/img':>9} {'fp32 img/s':>10} {'fp16 img/s':>10} "
          f"{'+graph img/s':>12} {'x fp32':>7} {'% peak':>7} {'fp16 err':>9} {'GPU MB':>7}")
    for name in args.pipelines:
        r = measure(name, args.batch or BATCHES[name], args.seconds, peak)
        print(f"{r['pipeline']:<10} {r['network']:<8} {r['batch']:>5} {r['gflop_per_image']:>9.2f} {r['fp32_img_s']:>10.0f} "
              f"{r['fp16_img_s']:>10.0f} {r['graph_img_s']:>12.0f} {r['speedup']:>7.2f} {100 * r['share_of_fp16_peak']:>6.1f}% "
              f"{r['fp16_rel_err']:>9.1e} {r['peak_gpu_mb']:>7.0f}", flush=True)
    print(f"reproduce: python benchmarks/gpu_torch.py{' --batch ' + str(args.batch) if args.batch else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
