"""The CLI's end-to-end throughput as a share of the model-only throughput, measured so that
the machine's own drift cancels: short model-only bursts and CLI runs alternate, and each
CLI run is divided by the mean of the bursts just before and just after it.

The CLI's rate is read from inside one run: it prints each written path as the file lands,
so the rate between the first `--warm` pictures and the last one is its steady state, with
start-up, the first calls and the pipeline's fill left out. The model-only side replays the
arrays the CLI feeds the shipped models (`harness.record_calls`) in this process, with the
product's session settings.

On a VM whose speed moves by 2x within minutes (see docs/PERFORMANCE.md), a ratio of two
figures taken minutes apart says little; this one's pairs are seconds apart.

    python -m benchmarks.end_to_end                                  # every pipeline
    python -m benchmarks.end_to_end --pipelines label,translate --pairs 8
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import (COMMANDS, INPUT_SIDE, REPO, TASKS, ort_runner, per_second, pipeline_names, record_calls,
                      write_inputs)

from landscape.runtime.sessions import choose_device, load_model

PIPELINES = tuple(COMMANDS)


def cli_rate(pipeline: str, src: Path, out: Path, n: int, warm: int, threads: int, jobs: str) -> float:
    """Steady-state pictures/s of one CLI run of `n` pictures, from the times its written
    paths appear on stdout (the first `warm` left out)."""
    args = [a.format(src=src, out=out, n=n) for a in COMMANDS[pipeline]]
    cmd = [sys.executable, "-m", "landscape", *args, "--device", "cpu", "--backend", "onnxruntime", "--threads", str(threads),
           "--jobs", jobs, "-q"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) as child:
        stamps = [time.perf_counter() for _ in child.stdout]
        error = child.stderr.read()
    if child.returncode != 0 or len(stamps) != n:
        raise SystemExit(f"CLI failed ({len(stamps)} of {n} written): {' '.join(cmd)}\n{error[-2000:]}")
    return (n - warm) / (stamps[-1] - stamps[warm - 1])


def measure(pipeline: str, workdir: Path, *, pairs: int, seconds: float, threads: int, jobs: str) -> dict:
    device = choose_device("cpu", threads, "onnxruntime")
    sessions = {task: load_model(task, None, device).session for task in TASKS[pipeline]}
    calls = record_calls(pipeline, workdir)
    replay = ort_runner(sessions, calls)
    per_second(replay, calls.pictures, 1.0)  # warm-up: the first calls allocate, the threads start
    first = per_second(replay, calls.pictures, seconds)
    # Generate writes in batches of 8: warm up over whole batches, and let the measured part
    # span enough batches that one batch's timing is a small share of it.
    batch = 8 if pipeline.startswith("generate") else 1
    warm = max(batch, math.ceil(first) // batch * batch)
    n = warm + max(4 * batch, math.ceil(2 * seconds * first) // batch * batch)
    src = workdir / f"{pipeline.replace(' ', '')}-in-{n}"
    if pipeline in INPUT_SIDE:
        write_inputs(pipeline, src, n)
    model_rates, cli_rates = [first], []
    for pair in range(pairs):
        cli_rates.append(cli_rate(pipeline, src, workdir / f"out-{pair}", n, warm, threads, jobs))
        model_rates.append(per_second(replay, calls.pictures, seconds))
    shares = [c / ((model_rates[i] + model_rates[i + 1]) / 2) for i, c in enumerate(cli_rates)]
    return {"pipeline": pipeline, "pictures_per_run": n, "warm": warm, "model": model_rates, "cli": cli_rates,
            "shares": shares}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated: " + ", ".join(PIPELINES))
    parser.add_argument("--pairs", type=int, default=6, help="CLI runs, each between two model-only bursts")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a model-only burst; a CLI run measures ~2x")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--jobs", default="2:2")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args(argv)
    names = pipeline_names(parser, args.pipelines, PIPELINES)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            workdir = Path(tmp) / name.replace(" ", "")
            workdir.mkdir()
            rows.append(measure(name, workdir, pairs=args.pairs, seconds=args.seconds, threads=args.threads, jobs=args.jobs))
            print(f"measured {name}", file=sys.stderr, flush=True)

    print(f"CPU, {args.threads} threads, --jobs {args.jobs}, shipped models; pictures/s; {args.pairs} CLI runs per "
          f"pipeline, each between two model-only bursts of {args.seconds:g} s")
    print(f"{'pipeline':<19} {'model-only':>10} {'CLI':>8} {'CLI/model':>9} {'pairs: min-max':>15} {'pictures/run':>12}")
    for r in rows:
        shares = r["shares"]
        print(f"{r['pipeline']:<19} {statistics.median(r['model']):10.2f} {statistics.median(r['cli']):8.2f} "
              f"{100 * statistics.median(shares):8.0f}% {100 * min(shares):7.0f}-{100 * max(shares):.0f}% {r['pictures_per_run']:12d}")
    print("reproduce: python -m benchmarks.end_to_end " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
