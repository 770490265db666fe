"""The bundled upscaler before and after SPAN replaced the light RRDB (issue 44), side by side
in one run: the code and models of the commit before (a git worktree, put first on PYTHONPATH)
against this checkout's, each job run alternately, start to exit, with the child's peak RSS:

- `landscape upscale` of PHOTOS landscape photos (their 256x192 centres) at fp32
  (`--precision fp32`): the two networks' own speed;
- the same at the default precision (`auto`: what each version takes on this CPU);
- the main job, `landscape generate -n 100 --upscale`, at the defaults.

Each side's caches are warmed by a first, untimed run of every job, so that compilation and
`auto`'s measurement are not timed (benchmarks/first_run.py times those).

    python -m benchmarks.upscaler_before_after                 # 3 rounds
    python -m benchmarks.upscaler_before_after --rounds 1 --json docs/upscaler_before_after.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import REPO, timed_cli, write_photos

BEFORE = "c266037"  # the last commit that shipped the light RRDB
PHOTOS = 8
JOBS = {
    "upscale fp32": ["upscale", "{src}", "-o", "{out}", "--precision", "fp32", "--overwrite"],
    "upscale defaults": ["upscale", "{src}", "-o", "{out}", "--overwrite"],
    "main job defaults": ["generate", "-n", "100", "--upscale", "-o", "{out}", "--overwrite"],
}


def run(side: Path, command: list[str], src: Path, out: Path, cache: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one CLI process of `side`'s code."""
    env = {**os.environ, "PYTHONPATH": str(side), "LANDSCAPE_CACHE": str(cache), "LANDSCAPE_NO_SERVER": "1"}
    return timed_cli([a.format(src=src, out=out) for a in command] + ["-q"], env=env, cwd=side)


def main(argv: list[str] | None = None) -> int:
    from landscape.runtime.cpu import facts

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, help="the commit whose code and models are 'before'")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        worktree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], cwd=REPO, check=True,
                       capture_output=True)
        try:
            sides = {"before": worktree, "after": REPO}
            src = Path(tmp) / "photos"
            write_photos(src, PHOTOS, 256, 192, newest=True)
            times: dict[str, dict[str, list[tuple[float, float]]]] = {j: {s: [] for s in sides} for j in JOBS}
            for round_ in range(args.rounds + 1):  # the first round warms the caches and is not kept
                for job, command in JOBS.items():
                    for name, side in sides.items():
                        result = run(side, command, src, Path(tmp) / f"out-{name}", Path(tmp) / f"cache-{name}")
                        if round_:
                            times[job][name].append(result)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
    print(f"CPU: {facts().describe()}, {os.cpu_count()} threads; before = {args.before} (light RRDB x4), after = this "
          f"checkout (SPAN); {PHOTOS} photos of 256x192; median of {args.rounds} alternating rounds, start to exit")
    summary = {"cpu": facts().describe(), "before": args.before, "rounds": args.rounds, "jobs": {}}
    for job, by_side in times.items():
        seconds = {s: statistics.median(t for t, _ in runs) for s, runs in by_side.items()}
        peak = {s: max(m for _, m in runs) for s, runs in by_side.items()}
        summary["jobs"][job] = {"seconds": seconds, "peak_rss_mb": peak, "speedup": seconds["before"] / seconds["after"],
                                "runs": by_side}
        print(f"{job:<20} before {seconds['before']:7.2f} s {peak['before']:6.0f} MB   after {seconds['after']:7.2f} s "
              f"{peak['after']:6.0f} MB   after is {seconds['before'] / seconds['after']:.2f}x as fast")
    print("reproduce: python -m benchmarks.upscaler_before_after " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
