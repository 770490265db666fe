"""A small folder at full speed: `landscape upscale DIR` over 32 photos of 128 px, timed from
process start to exit, against the bundled upscaler run bare on the same shapes (the best of
batch 1, 4 and 8) in the backend and precision that the CLI chooses (ONNX Runtime, or
OpenVINO in fp32, bf16 or int8), in pairs taken seconds apart; and one photo alone, start to
exit, against one bare call (the cost of a shell loop's `landscape upscale "$f"`).

The folder's ratio is model-only time / CLI time for the same 32 pictures: 1.0 means the CLI
costs nothing beyond the model, start-up, decoding and encoding included. The one photo's
figure is CLI time - one call's time: what start-up costs (issue 35's targets: ratio >= 0.9,
one photo <= the call + 0.3 s).

    python -m benchmarks.small_folder                 # 5 pairs, 2 threads
    python -m benchmarks.small_folder --backend onnxruntime   # both sides in ONNX Runtime
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import best_of, write_photos

REPO = Path(__file__).resolve().parents[1]

SIDE, COUNT = 128, 32


def cli_choice(threads: int, backend: str) -> tuple[str, str]:
    """The backend and precision the CLI runs the bundled upscaler with."""
    from landscape.runtime.sessions import choose_device, load_model

    model = load_model("upscale", None, choose_device("cpu", threads, backend))
    return model.backend, model.precision


def bare_runner(threads: int, backend: str, precision: str):
    """x -> output of the bundled upscaler, in the backend's own API with its default
    settings but for the thread count (and OpenVINO's precision hint, which must be set);
    int8 runs the shipped int8 model."""
    from landscape.runtime.sessions import bundled_model, shipped_int8

    path = str(bundled_model("upscale"))
    if backend == "openvino":
        import openvino as ov

        if precision == "int8":
            path = str(shipped_int8(bundled_model("upscale")).path)
        compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                         "INFERENCE_PRECISION_HINT": {"bf16": "bf16"}.get(precision, "f32")})
        request = compiled.create_infer_request()
        return lambda x: request.infer({0: x})
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": x})


def model_only(run, batches=(1, 4, 8)) -> tuple[float, int]:
    """Seconds for 32 pictures of the bare upscaler on these shapes, best batch size."""
    x = np.random.default_rng(0).random((COUNT, 3, SIDE, SIDE), np.float32)
    best = (float("inf"), 0)
    for batch in batches:
        run(x[:batch])  # first call: allocation
        start = time.perf_counter()
        for k in range(0, COUNT, batch):
            run(x[k:k + batch])
        best = min(best, (time.perf_counter() - start, batch))
    return best


def one_call(run) -> float:
    """Seconds of one bare call on one picture, warm (the fastest of 10)."""
    x = np.random.default_rng(0).random((1, 3, SIDE, SIDE), np.float32)
    run(x)
    return best_of(10, lambda: run(x))


def cli_seconds(src: Path, out: Path, threads: int, backend: str, extra: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "landscape", "upscale", str(src), "-o", str(out), "--device", "cpu",
                           "--backend", backend, "--threads", str(threads), "-q", *extra], cwd=REPO, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"landscape upscale failed: {done.stderr[-1000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "openvino"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cli-args", default="", help="extra options for the CLI runs (compare settings)")
    args = parser.parse_args(argv)
    from landscape.runtime.cpu import facts

    backend, precision = cli_choice(args.threads, args.backend)
    print(f"cpu: {facts().describe()}; the CLI runs the upscaler with {backend} {precision}", flush=True)
    run = bare_runner(args.threads, backend, precision)
    rows, singles = [], []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        kind = write_photos(src, COUNT, SIDE, SIDE, square=True)
        one = sorted(src.iterdir())[0]
        cli_seconds(src, Path(tmp) / "first", args.threads, args.backend, args.cli_args.split())  # the caches filled
        for k in range(args.pairs):
            model_s, batch = model_only(run)
            cli_s = cli_seconds(src, Path(tmp) / f"out{k}", args.threads, args.backend, args.cli_args.split())
            rows.append({"model_s": model_s, "best_batch": batch, "cli_s": cli_s, "ratio": model_s / cli_s})
            call_s = one_call(run)
            single_s = cli_seconds(one, Path(tmp) / f"one{k}", args.threads, args.backend, args.cli_args.split())
            singles.append({"call_s": call_s, "cli_s": single_s, "overhead_s": single_s - call_s})
            print(f"pair {k + 1}: model-only {model_s:.2f} s (batch {batch}), CLI {cli_s:.2f} s, ratio {model_s / cli_s:.3f}; "
                  f"one photo: call {call_s * 1000:.0f} ms, CLI {single_s:.2f} s, overhead {single_s - call_s:.2f} s",
                  flush=True)
    ratios = [r["ratio"] for r in rows]
    overheads = [r["overhead_s"] for r in singles]
    print(f"{COUNT} {kind} of {SIDE} px, {args.threads} threads: ratio median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}) over {len(rows)} pairs; one photo: CLI - call "
          f"median {statistics.median(overheads):.2f} s (min {min(overheads):.2f}, max {max(overheads):.2f})")
    print("reproduce: python -m benchmarks.small_folder " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"pictures": COUNT, "side": SIDE, "inputs": kind, "cpu": facts().describe(),
                                         "backend": backend, "precision": precision, "pairs": rows,
                                         "median_ratio": statistics.median(ratios), "one_photo": singles,
                                         "median_one_photo_overhead_s": statistics.median(overheads)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
