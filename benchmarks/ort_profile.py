"""Where ONNX Runtime spends a shipped model's time on this CPU: per operator type, its share
of the kernels' time, with ONNX Runtime's own MatMul peak beside it. The calls are the ones
the CLI makes for the benchmark's inputs.

    python -m benchmarks.ort_profile upscale
    python -m benchmarks.ort_profile translate --runs 5
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.harness import record_calls

from landscape.runtime.sessions import bundled_model, choose_device, session_options


def matmul_gflops(threads: int) -> float:
    """The ceiling of ONNX Runtime's own kernels (MLAS) here: one 2048^3 MatMul."""
    import time

    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = 2048
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    feeds = {"a": a, "b": a}
    session.run(None, feeds)
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < 2:
        session.run(None, feeds)
        runs += 1
    return runs * 2 * n**3 / (time.perf_counter() - start) / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", choices=("generate", "upscale", "translate", "inpaint", "label"))
    parser.add_argument("--runs", type=int, default=3, help="profiled replays of the CLI's calls for one picture")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        calls = record_calls(args.pipeline, Path(tmp))
        options = session_options(choose_device("cpu", args.threads, "onnxruntime"), task=args.pipeline)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(bundled_model(args.pipeline)), options, providers=["CPUExecutionProvider"])
        for _, feeds in calls.calls:  # warm-up, left out of the figures below
            session.run(None, feeds)
        warm_events = len(json.loads(Path(session.end_profiling()).read_text()))
        session = ort.InferenceSession(str(bundled_model(args.pipeline)), options, providers=["CPUExecutionProvider"])
        for _ in range(args.runs + 1):
            for _, feeds in calls.calls:
                session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())[warm_events:]

    per_op: dict[str, float] = defaultdict(float)
    model_us = 0.0
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
        elif event.get("cat") == "Session" and event["name"] == "model_run":
            model_us += event["dur"]
    kernels = sum(per_op.values())
    peak = matmul_gflops(args.threads)
    print(f"{args.pipeline}: {args.runs} replays of the CLI's calls for {calls.pictures} picture(s); "
          f"{model_us / 1e3 / args.runs:.1f} ms per replay, kernels {100 * kernels / model_us:.0f}% of it")
    print(f"{'operator':<22} {'ms/replay':>10} {'share':>7}")
    for op, us in sorted(per_op.items(), key=lambda kv: -kv[1]):
        print(f"{op:<22} {us / 1e3 / args.runs:10.1f} {100 * us / kernels:6.1f}%")
    print(f"ONNX Runtime MatMul 2048^3: {peak:.0f} GFLOP/s with {args.threads} threads")
    print("reproduce: python -m benchmarks.ort_profile " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
