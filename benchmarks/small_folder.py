"""A small folder at full speed: `landscape upscale DIR` over 32 photos of 128 px, timed from
process start to exit, against the bundled upscaler run bare on the same shapes (the best of
batch 1, 4 and 8) in the backend and precision that the CLI chooses (ONNX Runtime, or
OpenVINO in fp32, bf16 or int8), in pairs taken seconds apart; and one photo alone, start to
exit, against one bare call (the cost of a shell loop's `landscape upscale "$f"`). Each CLI
run is timed twice: on its own, and handed to a `landscape serve` started for the benchmark
(its models compiled by a first, untimed run).

The folder's ratio is model-only time / CLI time for the same 32 pictures: 1.0 means the CLI
costs nothing beyond the model, start-up, decoding and encoding included. The one photo's
figure is CLI time - one call's time: what start-up costs (issue 35's targets: ratio >= 0.9,
one photo <= the call + 0.3 s).

    python -m benchmarks.small_folder                 # 5 pairs, 2 threads
    python -m benchmarks.small_folder --backend onnxruntime   # both sides in ONNX Runtime
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
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


def cli_seconds(src: Path, out: Path, threads: int, backend: str, extra: list[str], served: bool) -> float:
    """Start to exit of `landscape upscale`, on its own or handed to the benchmark's server."""
    env = {**os.environ, **({} if served else {"LANDSCAPE_NO_SERVER": "1"})}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "landscape", "upscale", str(src), "-o", str(out), "--device", "cpu",
                           "--backend", backend, "--threads", str(threads), "-q", *extra], cwd=REPO, capture_output=True,
                          text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"landscape upscale failed: {done.stderr[-1000:]}")
    return seconds


@contextlib.contextmanager
def server(folder: Path):
    """A `landscape serve` on a socket of the benchmark's own, which the CLI runs use."""
    os.environ["LANDSCAPE_SOCKET"] = str(folder / "serve.sock")
    process = subprocess.Popen([sys.executable, "-m", "landscape", "serve", "--idle", "600"], cwd=REPO,
                               stderr=subprocess.PIPE, text=True)
    try:
        if "serving on" not in process.stderr.readline():
            raise SystemExit("landscape serve did not start")
        yield
    finally:
        process.terminate()
        process.wait()


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
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)):
        src = Path(tmp) / "photos"
        kind = write_photos(src, COUNT, SIDE, SIDE, square=True)
        one = sorted(src.iterdir())[0]

        def cli(inputs: Path, name: str, served: bool) -> float:
            return cli_seconds(inputs, Path(tmp) / name, args.threads, args.backend, args.cli_args.split(), served)

        for served in (False, True):  # the caches filled; the server's models compiled and its shapes met
            cli(src, f"first{served}", served)
            cli(one, f"first-one{served}", served)
        for k in range(args.pairs):
            model_s, batch = model_only(run)
            alone_s, served_s = cli(src, f"out{k}", False), cli(src, f"served{k}", True)
            rows.append({"model_s": model_s, "best_batch": batch, "cli_s": alone_s, "ratio": model_s / alone_s,
                         "served_s": served_s, "served_ratio": model_s / served_s})
            call_s = one_call(run)
            alone_one, served_one = cli(one, f"one{k}", False), cli(one, f"served-one{k}", True)
            singles.append({"call_s": call_s, "cli_s": alone_one, "overhead_s": alone_one - call_s,
                            "served_s": served_one, "served_overhead_s": served_one - call_s})
            print(f"pair {k + 1}: model-only {model_s:.2f} s (batch {batch}); CLI {alone_s:.2f} s, ratio {model_s / alone_s:.3f}; "
                  f"served {served_s:.2f} s, ratio {model_s / served_s:.3f}; one photo: call {call_s * 1000:.0f} ms, "
                  f"CLI {alone_one:.2f} s (+{alone_one - call_s:.2f}), served {served_one:.2f} s (+{served_one - call_s:.2f})",
                  flush=True)

    def summary(values: list[float], unit: str = "") -> str:
        return f"median {statistics.median(values):.3f}{unit} (min {min(values):.3f}, max {max(values):.3f})"

    print(f"{COUNT} {kind} of {SIDE} px, {args.threads} threads, {len(rows)} pairs:\n"
          f"  folder, model-only / CLI: on its own {summary([r['ratio'] for r in rows])}; "
          f"served {summary([r['served_ratio'] for r in rows])}\n"
          f"  one photo, CLI - call: on its own {summary([r['overhead_s'] for r in singles], ' s')}; "
          f"served {summary([r['served_overhead_s'] for r in singles], ' s')}")
    print("reproduce: python -m benchmarks.small_folder " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"pictures": COUNT, "side": SIDE, "inputs": kind, "cpu": facts().describe(),
                                         "backend": backend, "precision": precision, "pairs": rows,
                                         "median_ratio": statistics.median(r["ratio"] for r in rows),
                                         "median_served_ratio": statistics.median(r["served_ratio"] for r in rows),
                                         "one_photo": singles,
                                         "median_one_photo_overhead_s": statistics.median(r["overhead_s"] for r in singles),
                                         "median_one_photo_served_overhead_s":
                                             statistics.median(r["served_overhead_s"] for r in singles)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
