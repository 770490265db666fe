"""How much the reader/writer threads (`--jobs`) and ONNX Runtime's spinning help each
pipeline end to end, by measurement: the CLI's steady-state pictures/s over a folder for each
combination, on the shipped models.

On a machine whose cores the model already fills, threads around it only pay when the work
they take off the model's path is worth more than the cycles they take from its threads; the
table says where that holds. Combinations run in interleaved rounds (each round visits every
combination once) and the median is kept, so that a slow spell of a shared machine does not
land on one combination alone.

    python -m benchmarks.overlap                                # every pipeline, 3 rounds
    python -m benchmarks.overlap --pipelines translate,label --rounds 5
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from benchmarks.harness import COMMANDS, TASKS, pipeline_names, steady_state

from landscape.runtime.sessions import TUNING

PIPELINES = tuple(COMMANDS)
JOBS = ("0", "1:1", "2:2")
DEFAULT_JOBS = "2:2"  # the commands' --jobs default
# Pictures/s of each pipeline, roughly, on 2 cores: sizes the runs so that the longer one
# takes ~--seconds more than the shorter (the steady rate is a difference of two times).
ROUGH_RATE = {"generate": 16.0, "generate --upscale": 1.1, "upscale": 1.2, "translate": 15.0, "inpaint": 1.2, "label": 18.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="comma-separated: " + ", ".join(PIPELINES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0, help="extra wall time of the longer CLI run")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args(argv)
    names = pipeline_names(parser, args.pipelines, PIPELINES)

    combos = [(jobs, spinning) for jobs in JOBS for spinning in (True, False)]
    rates: dict[tuple[str, str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for pipeline in names:
                images = max(2, math.ceil(args.seconds / 2 * ROUGH_RATE[pipeline]))
                for jobs, spinning in combos:
                    tuning = asdict(replace(TUNING, spinning=spinning, no_spinning_tasks=()))
                    run = steady_state(pipeline, Path(tmp), images, threads=args.threads, jobs=jobs, tuning=tuning)
                    rates.setdefault((pipeline, jobs, spinning), []).append(run.rate)
                print(f"round {round_ + 1}: measured {pipeline}", file=sys.stderr, flush=True)

    print(f"CPU, {os.cpu_count()} cores, {args.threads} intra-op threads; shipped models; CLI steady-state pictures/s, "
          f"median of {args.rounds} interleaved rounds (min-max)")
    print(f"{'pipeline':<20} {'--jobs':>6} {'spinning':>8} {'pictures/s':>11} {'range':>14} {'vs default':>10}")
    for pipeline in names:
        # The table's spinning column is all of the pipeline's sessions or none of them; the
        # default is "on" only where every one of them spins.
        default = (DEFAULT_JOBS, TUNING.spinning and not set(TASKS[pipeline]) & set(TUNING.no_spinning_tasks))
        base = statistics.median(rates[(pipeline, *default)])
        for jobs, spinning in combos:
            values = rates[(pipeline, jobs, spinning)]
            mark = " (default)" if (jobs, spinning) == default else ""
            print(f"{pipeline:<20} {jobs:>6} {'on' if spinning else 'off':>8} {statistics.median(values):11.2f} "
                  f"{min(values):6.2f}-{max(values):<7.2f} {statistics.median(values) / base:9.2f}x{mark}")
    print("reproduce: python -m benchmarks.overlap " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        rows = [{"pipeline": p, "jobs": j, "spinning": s, "rates": v} for (p, j, s), v in rates.items()]
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
