"""A new user's first run against the next: `landscape upscale` of a small folder (16 photos of
128 px) and the main job (`landscape generate -n 100 --upscale`), each run twice in a row
after the cache was emptied (LANDSCAPE_CACHE pointed at a new folder), timed from process
start to exit; no `landscape serve`. What a first run pays on top: compiling each model for
this CPU (kept in the cache afterwards) and, on a CPU kind the bundled models were not
measured on before shipping, their precision checks and `auto`'s side-by-side measurement
(`landscape info` says which). Issue 44's target: the first at most 1 s more than the second.

    python -m benchmarks.first_run                   # 3 rounds, each with a new empty cache
    python -m benchmarks.first_run --rounds 1 --json docs/first_run.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import write_photos

JOBS = {
    "upscale 16 photos": ["upscale", "{src}", "-o", "{out}", "-q"],
    "main job (generate -n 100 --upscale)": ["generate", "-n", "100", "--upscale", "-o", "{out}", "-q"],
}
PHOTOS, SIDE = 16, 128
TARGET_S = 1.0


def timed(argv: list[str], cache: Path, out: Path, src: Path) -> float:
    env = {**os.environ, "LANDSCAPE_CACHE": str(cache), "LANDSCAPE_NO_SERVER": "1"}
    args = [a.format(src=src, out=out) for a in argv]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "landscape", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    from landscape.runtime.cpu import facts

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, list[float]]] = {job: {"first": [], "second": []} for job in JOBS}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        write_photos(src, PHOTOS, SIDE, SIDE, square=True)
        for round_ in range(args.rounds):
            for job, command in JOBS.items():
                cache = Path(tmp) / f"cache-{round_}-{len(results[job]['first'])}-{job.split()[0]}"
                for run in ("first", "second"):
                    out = Path(tmp) / f"out-{round_}-{run}-{job.split()[0]}"
                    results[job][run].append(timed(command, cache, out, src))
    print(f"CPU: {facts().describe()} (kind {facts().kind}), {os.cpu_count()} threads; {args.rounds} rounds, "
          "each with an empty cache; seconds from start to exit, median (range)")
    summary = {"cpu": facts().describe(), "kind": facts().kind, "rounds": args.rounds, "jobs": {}}
    for job, runs in results.items():
        first, second = statistics.median(runs["first"]), statistics.median(runs["second"])
        extra = [f - s for f, s in zip(runs["first"], runs["second"])]
        summary["jobs"][job] = {**runs, "first_median": first, "second_median": second, "extra_median": statistics.median(extra)}
        verdict = "met" if statistics.median(extra) <= TARGET_S else "missed"
        print(f"{job:<38} first {first:6.2f} s ({min(runs['first']):.2f}-{max(runs['first']):.2f})   "
              f"second {second:6.2f} s ({min(runs['second']):.2f}-{max(runs['second']):.2f})   "
              f"first - second {statistics.median(extra):+.2f} s (target <= +{TARGET_S:g} s: {verdict})")
    print("reproduce: python -m benchmarks.first_run " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
