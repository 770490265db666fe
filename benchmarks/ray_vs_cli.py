"""Ray Data against the command line on one machine, in images/s, in one run.

The same folder of landscape photos goes through `landscape upscale` (and `landscape label`)
and through Ray Data: `read_images` -> `map_batches(landscape.ray.Upscale)` -> `write_images`,
on a local cluster of this machine's cores. Each side is a fresh process timed from start to
exit; Ray is also timed from its first read (its cluster already up), which is what a
long-lived cluster pays. The in-process API over the decoded pictures is the reference: the
pipelines alone, no files. Rounds alternate the sides.

    python -m benchmarks.ray_vs_cli --json docs/ray.json
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

REPO = Path(__file__).resolve().parents[1]

RAY_SIDE = """
import sys, time, json
start = time.perf_counter()
import ray, landscape.ray
ray.init(address="local", num_cpus={cpus}, include_dashboard=False, log_to_driver=False, configure_logging=False)
ray.data.DataContext.get_current().enable_progress_bars = False
up = time.perf_counter()
ds = ray.data.read_images({src!r}, include_paths=True{mode})
ds = ds.map_batches(landscape.ray.{task}, concurrency=1, batch_size={batch}, fn_constructor_kwargs={kwargs!r})
ds.write_images({out!r}, column="image", file_format="png")
end = time.perf_counter()
print(json.dumps({{"total_s": end - start, "after_init_s": end - up}}))
"""


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def cli_run(task: str, src: Path, out: Path) -> float:
    extra = ["--index"] if task == "label" else []
    return timed([sys.executable, "-m", "landscape", task, str(src), "-o", str(out), "-q", *extra])[0]


def ray_run(task: str, src: Path, out: Path, batch: int) -> dict[str, float]:
    # One actor of 1 CPU (a second would leave Ray's read and write tasks no CPU to start on), given
    # every core's thread as the CLI has: its default, the actor's allotment, would run it on one.
    script = RAY_SIDE.format(cpus=os.cpu_count(), src=str(src), out=str(out), task="Upscale" if task == "upscale" else "Label",
                             batch=batch, kwargs={"threads": os.cpu_count()}, mode=', mode="RGB"' if task == "label" else "")
    seconds, stdout = timed([sys.executable, "-c", script])
    return {"process_s": seconds, **json.loads(stdout.strip().splitlines()[-1])}


def api_run(task: str, src: Path) -> float:
    import landscape

    pictures = [landscape.read(p) for p in sorted(src.glob("*.png"))]
    runner = landscape.Upscaler() if task == "upscale" else landscape.Labeller()
    runner(pictures[:1])
    start = time.perf_counter()
    runner(pictures)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 192), metavar=("W", "H"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--tasks", nargs="+", default=["upscale", "label"], choices=("upscale", "label"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from landscape.runtime.cpu import facts

    print(f"cpu: {facts().describe()}; {os.cpu_count()} cores", flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        kind = write_photos(src, args.count, *args.size)
        for task in args.tasks:
            rows = []
            for k in range(args.rounds):
                cli_s = cli_run(task, src, Path(tmp) / f"{task}-cli-{k}")
                ray = ray_run(task, src, Path(tmp) / f"{task}-ray-{k}", args.batch)
                api_s = api_run(task, src)
                rows.append({"cli_s": cli_s, **{f"ray_{key}": value for key, value in ray.items()}, "api_s": api_s})
                print(f"{task} round {k + 1}: CLI {args.count / cli_s:.2f} img/s; Ray {args.count / ray['process_s']:.2f} "
                      f"img/s from process start, {args.count / ray['after_init_s']:.2f} with the cluster up; "
                      f"API in-process {args.count / api_s:.2f}", flush=True)
            med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
            results[task] = {"rounds": rows, "images_per_s": {key: args.count / value for key, value in med.items()}}
            rates = results[task]["images_per_s"]
            print(f"{task}: median images/s: CLI {rates['cli_s']:.2f}, Ray {rates['ray_process_s']:.2f} "
                  f"(cluster up: {rates['ray_after_init_s']:.2f}), API {rates['api_s']:.2f}; "
                  f"Ray / CLI = {rates['ray_process_s'] / rates['cli_s']:.2f} "
                  f"(cluster up: {rates['ray_after_init_s'] / rates['cli_s']:.2f})", flush=True)
    print("reproduce: python -m benchmarks.ray_vs_cli " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        args.json.write_text(json.dumps({"cpu": facts().describe(), "cores": os.cpu_count(), "pictures": args.count,
                                         "size": list(args.size), "inputs": kind, "batch": args.batch, **results},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
