"""The benchmarks' one harness: the real CLI timed from the outside (input folders for each
pipeline, one process per run, the steady-state rate separated from the start-up), the arrays
the CLI feeds the models recorded for model-only timing, timing of calls in this process,
photo folders, and FLOP counts. Benchmarks run from the checkout's root: python -m benchmarks.NAME

A run of n pictures takes about start + n / rate seconds, where `start` (interpreter, imports,
opening the model, the first call) is paid once per process. Two runs, of n and 3n pictures,
give both: rate = 2n / (t_3n - t_n) and start = t_n - n / rate. Dividing one run's pictures by
its time would mix them and understate what a long batch reaches.
"""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# Arguments after `landscape` for each pipeline: {src} the input folder, {out} the output
# folder, {n} the picture count (generate only).
COMMANDS = {
    "generate": ["generate", "-n", "{n}", "-o", "{out}"],
    "generate --upscale": ["generate", "-n", "{n}", "--upscale", "-o", "{out}"],
    "upscale": ["upscale", "{src}", "-o", "{out}"],
    "translate": ["translate", "{src}", "-o", "{out}"],
    "inpaint": ["inpaint", "{src}", "-o", "{out}"],
    "label": ["label", "{src}", "-o", "{out}"],
}
INPUT_SIDE = {"upscale": 128, "translate": 256, "inpaint": 256, "label": 256}
# The models each pipeline runs, in order.
TASKS = {pipeline: ("generate", "upscale") if pipeline == "generate --upscale" else (pipeline,) for pipeline in COMMANDS}

# A child that applies a SessionTuning before running the CLI: how alternatives that the
# product does not expose as options are measured end to end.
_TUNED = ("import sys, json; from landscape.runtime import sessions; "
          "sessions.TUNING = sessions.SessionTuning(**json.loads(sys.argv.pop(1))); "
          "from landscape.cli.main import app; sys.argv[0] = 'landscape'; app()")
# ru_maxrss of the measured child alone, reported by a parent that does nothing else.
_RSS = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.PIPE, text=True); sys.stderr.write(r.stderr[-3000:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def timed_cli(args: list[str], *, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(seconds, the child's peak RSS in MB) of one `landscape ARGS` process, start to exit."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RSS, sys.executable, "-m", "landscape", *args], env=env,
                          capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cwd}: landscape {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def pipeline_names(parser, text: str, known) -> list[str]:
    """`--pipelines a,b`: the names, or the parser's usage error naming the unknown ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown pipeline(s): {', '.join(unknown)}")
    return names


def write_inputs(pipeline: str, folder: Path, count: int) -> None:
    """`count` synthetic inputs of the pipeline's kind: label maps in the palette for
    translate, pictures with masks for inpaint, textured pictures otherwise."""
    from landscape.trainers.palette import LANDSCAPE_PALETTE

    side = INPUT_SIDE.get(pipeline, 0)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        if pipeline == "translate":
            labels = rng.integers(0, len(LANDSCAPE_PALETTE), (side // 16, side // 16)).repeat(16, 0).repeat(16, 1)
            pixels = np.asarray(LANDSCAPE_PALETTE, np.uint8)[labels]
        else:
            y, x = np.mgrid[0:side, 0:side]
            pixels = np.stack([x * 255 // side, y * 255 // side, (x ^ y) & 255], 2)
            pixels = np.clip(pixels + rng.integers(-20, 21, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
        if pipeline == "inpaint":
            mask = np.zeros((side, side), np.uint8)
            mask[side // 4 : side // 2, side // 4 : side // 2] = 255
            Image.fromarray(mask).save(folder / f"{i:04d}_mask.png")


@dataclass(frozen=True)
class CliRun:
    seconds: float  # wall clock of the whole process
    rss_mb: float


def model_args(pipeline: str, models: Optional[dict[str, Path]]) -> list[str]:
    """--model/--upscale-model for task -> ONNX file; none: the bundled models."""
    args: list[str] = []
    for task, path in (models or {}).items():
        args += ["--upscale-model" if pipeline == "generate --upscale" and task == "upscale" else "--model", str(path)]
    return args


def run_once(args: list[str], *, threads: int, jobs: str, tuning: Optional[dict] = None, device: str = "cpu",
             backend: Optional[str] = "onnxruntime") -> CliRun:
    """One CLI process; ONNX Runtime unless `backend` says otherwise (None: as `args` say),
    since these benchmarks set the CLI against ONNX Runtime sessions (benchmarks/cpu_backends.py
    compares backends)."""
    cli = [sys.executable, "-c", _TUNED, json.dumps(tuning)] if tuning else [sys.executable, "-m", "landscape"]
    chosen = ["--backend", backend] if backend else []
    cmd = [sys.executable, "-c", _RSS, *cli, *args, "--device", device, *chosen, "--threads", str(threads),
           "--jobs", jobs, "-q"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"CLI failed: landscape {' '.join(args)}\n{done.stderr[-2000:]}")
    return CliRun(seconds, int(done.stdout.strip().splitlines()[-1]) / 1024)


@dataclass(frozen=True)
class Steady:
    rate: float  # pictures per second once running
    start: float  # seconds paid once per process
    rss_mb: float


def steady_state(pipeline: str, workdir: Path, images: int, *, threads: int, jobs: str = "2:2",
                 models: Optional[dict[str, Path]] = None, tuning: Optional[dict] = None, device: str = "cpu",
                 extra: tuple[str, ...] = ("--backend", "onnxruntime")) -> Steady:
    """Runs of `images` and 3 x `images` pictures (inputs made once under `workdir`)."""
    runs = []
    for n in (images, 3 * images):
        src = workdir / f"{pipeline.replace(' ', '')}-in-{n}"
        if pipeline in INPUT_SIDE and not src.exists():
            write_inputs(pipeline, src, n)
        out = workdir / f"out-{time.monotonic_ns()}"
        args = [a.format(src=src, out=out, n=n) for a in COMMANDS[pipeline]] + model_args(pipeline, models) + list(extra)
        runs.append(run_once(args, threads=threads, jobs=jobs, tuning=tuning, device=device, backend=None))
    rate = 2 * images / max(runs[1].seconds - runs[0].seconds, 1e-9)
    return Steady(rate, max(0.0, runs[0].seconds - images / rate), max(r.rss_mb for r in runs))


def per_second(fn: Callable[[], object], pictures: int, min_seconds: float) -> float:
    """Pictures/s of `fn` (which makes `pictures` pictures) over at least `min_seconds`."""
    fn()  # warm-up: allocation, first-call costs
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and runs >= 2:
            return runs * pictures / elapsed


def ort_runner(sessions: dict, calls: Calls) -> Callable[[], None]:
    """Replays the recorded calls on ONNX Runtime sessions (task -> session)."""
    def run() -> None:
        for task, feeds in calls.calls:
            sessions[task].run(None, feeds)

    return run


@dataclass
class Calls:
    """What the CLI hands the models for `pictures` pictures: each call's feeds, in order,
    with the task of the model it went to."""

    pictures: int
    calls: list[tuple[str, dict[str, np.ndarray]]]


def record_calls(pipeline: str, workdir: Path, *, models: Optional[dict[str, Path]] = None) -> Calls:
    """Run the CLI in this process on one picture (generate: one batch) and keep a copy of
    every array it feeds a model, so that model-only figures time exactly the CLI's work,
    shapes, padding and batching included. `models`: task -> ONNX file instead of the bundled."""
    from landscape.runtime import sessions
    from landscape.cli.main import app

    pictures = 8 if pipeline.startswith("generate") else 1  # the CLI's default generate batch
    src = workdir / f"{pipeline.replace(' ', '')}-record"
    if pipeline in INPUT_SIDE and not src.exists():
        write_inputs(pipeline, src, 1)
    args = [a.format(src=src, out=workdir / f"record-{time.monotonic_ns()}", n=pictures) for a in COMMANDS[pipeline]]
    args += model_args(pipeline, models)
    calls: list[tuple[str, dict[str, np.ndarray]]] = []
    backends = (sessions.OrtModel, sessions.OpenVinoModel)
    originals = {cls: cls.run for cls in backends}

    def recording(original):
        def run(self, **feeds):
            calls.append((self.info.task, {k: np.ascontiguousarray(v, dtype=np.float32).copy() for k, v in feeds.items()}))
            return original(self, **feeds)

        return run

    for cls in backends:
        cls.run = recording(originals[cls])
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the written paths
            app([*args, "--device", "cpu", "--backend", "onnxruntime", "--jobs", "0", "-q"], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    finally:
        for cls in backends:
            cls.run = originals[cls]
    if not calls:
        raise SystemExit(f"landscape {' '.join(args)} called no model")
    return Calls(pictures, calls)


# -- timing and inputs shared by the in-process benchmarks ------------------------------------

LANDSCAPES = REPO.parent / "shared" / "data" / "landscapes"


def seconds_per_call(fn: Callable[[], object], seconds: float, warmup: int = 1) -> float:
    """Seconds per call of `fn`, after `warmup` calls, over at least `seconds` (and 3 calls)."""
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """The fastest of `runs` timed calls, in seconds (for calls too long to repeat many times)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def write_photos(folder: Path, count: int, width: int, height: int, *, square: bool = False, newest: bool = False) -> str:
    """`count` PNG photos of width x height: the landscape photos of shared/data where they are
    (the first `count`, or with `newest` the last, which the trainers hold out; with `square`
    their centre squares), else smooth synthetic pictures. Returns which of the two it wrote."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(LANDSCAPES.glob("*.jp*g")) if LANDSCAPES.is_dir() else []
    sources = (found[-count:] if newest else found[:count]) if len(found) >= count else []
    rng = np.random.default_rng(0)
    for i in range(count):
        if sources:
            img = cv2.imread(str(sources[i]))
            if square:
                h, w = img.shape[:2]
                side = min(h, w)
                img = img[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        else:
            img = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 2)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return "landscape photos" if sources else "synthetic pictures"


def flops(fn: Callable[[], object]) -> float:
    """FLOPs of the PyTorch forward pass that `fn` runs (no gradients), by PyTorch's counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return float(counter.get_total_flops())
