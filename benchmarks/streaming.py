"""Plans that stream: time to the first written picture and peak memory, against the size of
the run, for `landscape generate -n N` (N = 10^2 ... 10^8) and `landscape upscale DIR` over
folders of 10^2 ... 10^5 files. Both should stay flat: the run starts at once and holds a
batch and a counter, whatever N.

Each run is a separate process, stopped once its first path reaches stdout; peak memory is
its VmHWM at that moment (Linux). The bundled models run on the CPU.

    python -m benchmarks.streaming --json docs/streaming.json
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def first_output(args: list[str], *, timeout: float = 120.0, cwd: Path = REPO) -> tuple[float, float]:
    """(seconds from start to the first line on stdout, peak RSS in MB then) of `landscape ARGS`,
    stopped there."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "landscape", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=cwd, start_new_session=True)
    try:
        line = _readline(child, timeout)
        seconds = time.perf_counter() - start
        if not line:
            raise RuntimeError(f"landscape {' '.join(args)} wrote nothing: {child.stderr.read().decode()[-1500:]}")
        return seconds, peak_rss_mb(child.pid)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def _readline(child: subprocess.Popen, timeout: float) -> bytes:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no output within {timeout:.0f} s")
    return child.stdout.readline()


def fill_folder(folder: Path, count: int, picture: bytes) -> None:
    """`count` small pictures (copies of the same bytes, each its own file)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = len(os.listdir(folder))
    for i in range(existing, count):
        with open(folder / f"{i:06d}.png", "wb") as f:
            f.write(picture)


def small_png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-generate", type=int, default=8, help="largest power of ten for -n")
    parser.add_argument("--max-folder", type=int, default=5, help="largest power of ten of files in the folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from landscape.runtime.cpu import facts

    print(f"cpu: {facts().describe()}", flush=True)
    report = {"cpu": facts().model, "units": list(facts().units), "generate": [], "upscale": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for power in range(2, args.max_generate + 1):
            seconds, rss = first_output(["generate", "-n", str(10**power), "-o", str(tmp_path / f"gen{power}")])
            report["generate"].append({"n": 10**power, "first_output_s": round(seconds, 3), "peak_rss_mb": round(rss, 1)})
            print(f"generate -n 10^{power}: first picture after {seconds:.2f} s, peak RSS {rss:.0f} MB", flush=True)
        picture = small_png()
        folder = tmp_path / "photos"
        for power in range(2, args.max_folder + 1):
            fill_folder(folder, 10**power, picture)
            seconds, rss = first_output(["upscale", str(folder), "-o", str(tmp_path / f"up{power}")])
            report["upscale"].append({"files": 10**power, "first_output_s": round(seconds, 3), "peak_rss_mb": round(rss, 1)})
            print(f"upscale of 10^{power} files: first picture after {seconds:.2f} s, peak RSS {rss:.0f} MB", flush=True)
    print("reproduce: python -m benchmarks.streaming " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
