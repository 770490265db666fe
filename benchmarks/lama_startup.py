"""LaMa's start-up: one photo through `landscape inpaint --model lama.onnx`, from process start to
exit, three ways in interleaved rounds: the model compiled from its IR copy in the cache (the
default: OpenVINO imports its compiled blob without parsing the ONNX file), the ONNX file
parsed at every start (the cache's IR folder made unwritable, as before the copy existed),
and handed to a running `landscape serve` (the model stays compiled).

The weights are benchmarks.lama_cpu's seeded big-lama, exported once (about 30 s).

    python -m benchmarks.lama_startup                 # 5 rounds, 2 threads
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.lama_cpu import REPO, SHARED_PHOTOS, save_as_iopaint, seeded_lama, timed, write_inputs
from landscape.runtime.cpu import facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not SHARED_PHOTOS.is_dir():
        raise SystemExit(f"{SHARED_PHOTOS}: the landscape photos are needed (shared/data beside the checkout)")
    print(f"CPU: {facts().describe()}, {args.threads} threads; one photo of 612x408 with a box and a stroke", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights, model = work / "big-lama.pt", work / "lama.onnx"
        save_as_iopaint(seeded_lama(), weights)
        subprocess.run([sys.executable, "-m", "landscape", "export", str(weights), "-o", str(model)], cwd=REPO, check=True,
                       capture_output=True)
        photos, masks = write_inputs(work, 1)
        (work / "parsed" / "openvino-ir").parent.mkdir()
        (work / "parsed" / "openvino-ir").write_text("a file where the folder would be: no IR copy can be kept\n")
        base = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "LANDSCAPE_SOCKET": str(work / "serve.sock")}
        ways = {"IR copy (default)": {**base, "LANDSCAPE_CACHE": str(work / "copy"), "LANDSCAPE_NO_SERVER": "1"},
                "ONNX parsed at each start": {**base, "LANDSCAPE_CACHE": str(work / "parsed"), "LANDSCAPE_NO_SERVER": "1"},
                "served": {**base, "LANDSCAPE_CACHE": str(work / "copy")}}
        server = subprocess.Popen([sys.executable, "-m", "landscape", "serve", "--idle", "900"], cwd=REPO,
                                  env={**ways["served"], "LANDSCAPE_NO_SERVER": ""}, stderr=subprocess.PIPE, text=True)
        try:
            if "serving on" not in server.stderr.readline():
                raise SystemExit("landscape serve did not start")
            command = [sys.executable, "-m", "landscape", "inpaint", str(photos), "--masks", str(masks), "--model", str(model),
                       "--raw-fill", "--format", "png", "-q", "--overwrite", "--threads", str(args.threads), "-o"]
            for name, env in ways.items():  # caches filled, rates measured, the server's model compiled
                timed(command + [str(work / "first")], args.threads, env)
            seconds: dict[str, list[float]] = {name: [] for name in ways}
            for k in range(args.rounds):
                for name, env in ways.items():
                    seconds[name].append(timed(command + [str(work / f"out-{k}")], args.threads, env))
                print(f"round {k + 1}: " + ", ".join(f"{name} {s[-1]:.2f} s" for name, s in seconds.items()), flush=True)
        finally:
            server.terminate()
            server.wait()
    print(f"\none photo, start to exit, median of {args.rounds} (min-max):")
    for name, values in seconds.items():
        print(f"  {name:28s} {statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})")
    print("reproduce: python -m benchmarks.lama_startup " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
