"""Which ONNX Runtime session settings the CLI should use, by measurement, on the shipped models.

Each alternative differs from the current default (`landscape.runtime.sessions.TUNING`) in one
setting: graph optimisation level, the CPU memory arena, intra-op thread spinning, intra-op
threads. For each it measures, every figure in a fresh process:

- opening the session (graph optimisation included) and the first call, in seconds;
- model-only images/s on the calls the CLI makes for the benchmark's inputs;
- the CLI end to end over a folder: steady-state images/s, start-up seconds, peak RSS
  (benchmarks/harness.py says how the steady state is separated from the start-up).

    python -m benchmarks.session_options                        # every shipped model
    python -m benchmarks.session_options --pipelines upscale --images 4
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path


from benchmarks.harness import pipeline_names, record_calls, steady_state

from landscape.runtime.sessions import TUNING, SessionTuning, bundled_model

PIPELINES = ("generate", "upscale", "translate", "inpaint", "label")
CLI_SECONDS = 20.0


def alternatives(task: str, threads: int) -> list[tuple[str, SessionTuning, int]]:
    """(name, tuning, intra-op threads): the default, then one change at a time."""
    rows = [("default", TUNING, threads)]
    for level in ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"):
        if level != TUNING.level:
            rows.append((f"level {level[11:]}", replace(TUNING, level=level), threads))
    if task in TUNING.no_arena_tasks:
        rows.append(("arena on", replace(TUNING, arena=True, no_arena_tasks=()), threads))
    else:
        rows.append((f"arena {'off' if TUNING.arena else 'on'}", replace(TUNING, arena=not TUNING.arena), threads))
    if TUNING.spinning and task not in TUNING.no_spinning_tasks:
        rows.append(("spinning off", replace(TUNING, spinning=False), threads))
    else:
        rows.append(("spinning on", replace(TUNING, spinning=True, no_spinning_tasks=()), threads))
    if threads > 1:
        rows.append(("1 intra-op thread", TUNING, 1))
    return rows


def model_only(task: str, tuning: SessionTuning, threads: int, seconds: float, workdir: Path) -> dict:
    """In this process (a fresh child): open, first call, steady rate, on the arrays the CLI
    feeds the model for the benchmark's inputs; the peak RSS that running it added."""
    from landscape.runtime.sessions import choose_device, session_options

    import onnxruntime as ort

    calls = record_calls(task, workdir)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    options = session_options(choose_device("cpu", threads, "onnxruntime"), tuning, task=task)
    start = time.perf_counter()
    session = ort.InferenceSession(str(bundled_model(task)), options, providers=["CPUExecutionProvider"])
    opened = time.perf_counter()

    def replay() -> None:
        for _, feeds in calls.calls:
            session.run(None, feeds)

    replay()
    first = time.perf_counter()
    runs = 0
    while runs < 2 or time.perf_counter() - first < seconds:
        replay()
        runs += 1
    return {"open_s": opened - start, "first_s": first - opened, "rate": runs * calls.pictures / (time.perf_counter() - first),
            "model_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}


def measure(task: str, tuning: SessionTuning, threads: int, args, workdir: Path) -> dict:
    child = subprocess.run([sys.executable, __file__, "--child", task, json.dumps(asdict(tuning)), str(threads),
                            str(args.seconds), str(workdir)], capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"model-only run failed for {task}:\n{child.stderr[-2000:]}")
    row = json.loads(child.stdout.strip().splitlines()[-1])
    # Enough pictures that the longer CLI run takes ~CLI_SECONDS more than the shorter: the
    # steady rate is a difference of two wall-clock times.
    images = max(args.images, math.ceil(CLI_SECONDS / 2 * row["rate"]))
    cli = steady_state(task, workdir, images, threads=threads, tuning=asdict(tuning))
    return {**row, "cli_images": images, "cli_rate": cli.rate, "cli_start_s": cli.start, "cli_rss_mb": cli.rss_mb}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=4, help="fewest pictures in the shorter CLI run (the longer has 3x)")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing of each model-only figure")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        task, tuning, threads, seconds, workdir = args.child
        fields = json.loads(tuning)
        fields["no_arena_tasks"] = tuple(fields["no_arena_tasks"])
        fields["no_spinning_tasks"] = tuple(fields["no_spinning_tasks"])
        print(json.dumps(model_only(task, SessionTuning(**fields), int(threads), float(seconds), Path(workdir))))
        return 0
    names = pipeline_names(parser, args.pipelines, PIPELINES)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in names:
            for label, tuning, threads in alternatives(task, args.threads):
                row = {"pipeline": task, "setting": label, "threads": threads, **measure(task, tuning, threads, args, Path(tmp))}
                results.append(row)
                print(f"measured {task}: {label}", file=sys.stderr, flush=True)

    print(f"CPU, {os.cpu_count()} cores; default: {TUNING}, {args.threads} threads; shipped models")
    print(f"{'pipeline':<10} {'setting':<20} {'open s':>7} {'1st s':>6} {'model/s':>8} {'model +MB':>9} {'CLI/s':>7} "
          f"{'vs dflt':>8} {'CLI start s':>11} {'CLI RSS MB':>10}")
    for task in names:
        rows = [r for r in results if r["pipeline"] == task]
        base = rows[0]["cli_rate"]
        for r in rows:
            print(f"{task:<10} {r['setting']:<20} {r['open_s']:7.2f} {r['first_s']:6.2f} {r['rate']:8.2f} {r['model_rss_mb']:9.0f} {r['cli_rate']:7.2f} "
                  f"{r['cli_rate'] / base:7.2f}x {r['cli_start_s']:11.2f} {r['cli_rss_mb']:10.0f}")
    print("reproduce: python -m benchmarks.session_options " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
