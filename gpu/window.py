"""One GPU window, planned and rehearsed: what 15 minutes of a lent H200 do, run by run.

A lent machine has no network, runs one command of at most 10 minutes at a time, and is
given back 30 s after a command ends; at most 64 MiB travels in with a command and 64 MiB
(8 files of 16 MiB) comes back. So the window is a fixed sequence of runs (`.device/runs.md`,
written by `prepare` before the first one): four that carry the onnxruntime-gpu wheel in
parts, two that carry the compact data and the slim states, one long run that benchmarks
ONNX Runtime on CUDA, trains all five models on the card at once (each resuming from its
slim state) and packs, and short ones that bring back what did not fit.

    python -m gpu.window prepare [--labeller L.onnx]   # here: .device/, the run texts, big files stashed
    python -m gpu.window rehearse [--keep DIR]          # here: every run on the CPU at tiny sizes
    python -m gpu.window unpack RETURNED/               # here, after: runs/slim/ and the run records
    python -m gpu.travel restore                            # here, after: the stashed files back

On the machine (the run texts call these): `ceilings`, `install`, `long`, `give-back`.
Every command there runs under the machine's own python3 (3.12, torch 2.11) and packages;
what they lack travels as wheels (`WHEELS`), and the rehearsal checks that the long run
imports nothing else.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / ".device"
SHARED_DATA = ROOT.parent / "shared" / "data"
RETURN_FILES, RETURN_FILE_BYTES = 8, 16 * 2**20
TRAVEL_LIMIT = 64 * 2**20
# Missing on the machine among what the project imports (shared/gpu/README.md), carried as
# cp312 manylinux wheels; onnxruntime-gpu travels apart, in parts.
WHEELS = ("isal==1.9.1", "onnxconverter-common==1.16.0")


def window_root() -> Path:
    """Where carried things and results live on the machine (kept while it stays up)."""
    return Path(os.environ.get("LANDSCAPE_WINDOW", "/tmp/w"))


# -- the plan: what trains in the long run -----------------------------------------------------

@dataclass(frozen=True)
class Training:
    family: str  # the checkpoints' family; trainers.<family> unless `trainer` says otherwise
    run: str  # run folder name, on the machine and in runs/
    data: tuple[str, ...]  # data options, {data} = the carried data folder
    args: tuple[str, ...]  # the recipe at full size
    tiny: tuple[str, ...]  # what the rehearsal changes: widths and batches for a CPU
    trainer: str = ""  # the trainer's module where it is not the family's (SPAN: the super-resolution trainer)

    @property
    def module(self) -> str:
        return f"landscape.trainers.{self.trainer or self.family}"


HELD_OUT = "{data}/held_out_stems.txt"
PLAN: tuple[Training, ...] = (
    Training("dcgan", "generate", ("--data", "{data}/photos/landscapes"),
             ("--resolution", "128", "--g-width", "32", "--d-width", "32", "--loss", "hinge", "--optimizer", "adam",
              "--spectral-norm", "--batch-size", "256", "--steps", "200000", "--ema-start", "2000",
              "--checkpoint-every", "1000", "--eval-every", "1000", "--sample-every", "0"),
             ("--resolution", "16", "--latent-dim", "8", "--g-width", "4", "--d-width", "4", "--batch-size", "4",
              "--checkpoint-every", "2", "--eval-every", "2")),
    # The bundled x4 SPAN goes on from its CPU fine-tuning (runs/slim/span.safetensors: runs/upscale-span-x4's recipe).
    Training("span", "upscale", ("--data", "{data}/photos/landscapes"),
             ("--arch", "span", "--scale", "4", "--resolution", "48", "--lr", "2e-5", "--pixel-loss", "mse",
              "--batch-size", "128", "--steps", "400000", "--checkpoint-every", "1500", "--eval-every", "1500",
              "--sample-every", "0"),
             ("--resolution", "8", "--eval-size", "32", "--feature-channels", "4",
              "--batch-size", "4", "--checkpoint-every", "2", "--eval-every", "2"), trainer="esrgan"),
    Training("pix2pix", "translate", ("--data", "{data}/photos", "--maps", "{data}/maps", "--holdout-list", HELD_OUT),
             ("--class-map", "stanford", "--num-downs", "7", "--g-width", "32", "--g-max-mult", "4", "--d-width", "32",
              "--d-scales", "2", "--fm-weight", "10", "--l1-weight", "10",
              "--resolution", "256", "--min-scale", "0.6", "--batch-size", "32", "--steps", "400000",
              "--checkpoint-every", "3000", "--eval-every", "3000", "--sample-every", "0"),
             ("--resolution", "32", "--num-downs", "3", "--g-width", "4", "--d-width", "4", "--d-layers", "2",
              "--batch-size", "4", "--checkpoint-every", "2", "--eval-every", "2")),
    # Width 64: the bundled inpainter's, which the window continues from runs/slim/glcic.safetensors
    # (scripts/glcic_warm_start.py --plan) instead of starting afresh.
    Training("glcic", "inpaint", ("--data", "{data}/photos/landscapes"),
             ("--g-width", "64", "--d-width", "64", "--batch-size", "32", "--steps", "30000", "--phase-ratios", "0.15",
              "0.02", "--checkpoint-every", "500", "--eval-every", "500", "--sample-every", "0"),
             ("--resolution", "32", "--g-width", "4", "--d-width", "4", "--dilations", "2", "4", "--batch-size", "4",
              "--checkpoint-every", "2", "--eval-every", "2")),
    # The labeller learns from Stanford's true maps only: the landscapes' maps are its own output.
    Training("segmenter", "label", ("--data", "{data}/photos/stanford", "--maps", "{data}/maps/stanford", "--holdout-list",
                                    HELD_OUT),
             # --steps: its cosine schedule anneals over about two windows from the CPU run's step 4000.
             ("--class-map", "stanford", "--width", "24", "--class-balance", "0.3", "--rare-sampling", "0.5",
              "--batch-size", "64", "--steps", "16000",
              "--checkpoint-every", "1500", "--eval-every", "1500", "--sample-every", "0"),
             ("--resolution", "32", "--num-downs", "3", "--width", "4", "--batch-size", "4",
              "--checkpoint-every", "2", "--eval-every", "2")),
)
COMMON = ("--workers", "0", "--keep-last", "1", "--log-every", "100", "--holdout", "0.05")


CONFIG_TYPES = {"dcgan": "DCGANConfig", "span": "ESRGANConfig", "pix2pix": "Pix2PixConfig", "glcic": "GLCICConfig",
                "segmenter": "SegmenterTrainConfig"}


def recipe(t: Training, tiny: bool = False):
    """The plan's trainer config for `t` (with stand-in data paths)."""
    import importlib

    from landscape.trainers.options import parse

    config_type = getattr(importlib.import_module(t.module), CONFIG_TYPES[t.family])
    stand_in = ["--data", "x"] + (["--maps", "y"] if "--maps" in t.data else [])
    config, _ = parse(config_type, stand_in + list(t.args) + list(COMMON) + (list(t.tiny) if tiny else []), "plan", "")
    return config


def network_config(family: str, tiny: bool = False):
    """The inference network of the plan's recipe (what the benchmark exports and times)."""
    config = recipe(next(t for t in PLAN if t.family == family), tiny)
    return config.network() if hasattr(config, "network") else config.generator()


def slim_fits(t: Training, state: Path, tiny: bool) -> bool:
    """Whether a slim state was trained with this recipe (else its run starts afresh: a
    changed recipe is another experiment)."""
    import dataclasses

    from landscape.trainers.checkpoint import CheckpointError, read_config
    from landscape.trainers.options import SLIM_RESUMABLE, to_dict

    try:
        saved = read_config(state)["train"]
    except (CheckpointError, KeyError):
        return False
    planned = to_dict(recipe(t, tiny))
    fields = {f.name for f in dataclasses.fields(recipe(t, tiny))}
    # An option the state's recipe lacks is one added since: what the state did then is unknown
    # (an inpainter from before --skips has none, though --skips is on by default).
    return all(k in saved and saved[k] == planned[k] for k in fields if k not in SLIM_RESUMABLE)


def trainer_argv(t: Training, data: Path, out: Path, *, slim: Path | None, minutes: float, tiny: bool,
                 device: str) -> list[str]:
    argv = [a.format(data=data) for a in t.data] + list(t.args) + list(COMMON)
    if tiny:
        argv += list(t.tiny) + ["--log-every", "1"]
    argv += ["--out", str(out), "--max-minutes", f"{minutes:.2f}", "--device", device]
    if slim is not None and slim.is_file() and slim_fits(t, slim, tiny):
        argv += ["--resume", str(slim)]
    return argv


# -- the run texts --------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    name: str
    carry: tuple[str, ...]
    command: str
    timeout_s: int
    why: str


def window_runs(parts: int, budget_s: int = 470) -> list[Run]:
    runs = []
    move_part = "mkdir -p /tmp/ort && mv .device/ort/part-* /tmp/ort/ && ls -l /tmp/ort"
    for k in range(parts):
        last = k == parts - 1
        if k == 0:
            command = (f"{move_part} && python3 -m gpu.window ceilings --out $OUT && python3 "
                       "-m benchmarks.train_throughput --out /tmp/w/throughput --modes alone --seconds 8 && "
                       "cp /tmp/w/throughput/train_throughput.json $OUT/")
            why = ("start-up; wheel part 0 aside; nvidia-smi, bf16 matmul and copy ceilings; each recipe's training "
                   "rate alone on the card (synthetic data; the long run gives the rates of all five sharing it)")
        elif last:
            command = (f"{move_part} && python3 -m gpu.window install --parts /tmp/ort --manifest "
                       f".device/ort/manifest.json --wheels .device/whl --site /tmp/site --out $OUT")
            why = "last wheel part and the small wheels; install onnxruntime-gpu and them into /tmp/site; check CUDA"
        else:
            command, why = move_part, f"wheel part {k} aside"
        carry = (f".device/ort/part-{k:02d}",) + ((".device/ort/manifest.json", ".device/whl") if last else ())
        runs.append(Run(f"run {k + 1}", carry, command, 300 if k == 0 else 120, why))
    runs.append(Run(f"run {parts + 1}", (".device/data",),
                    "mkdir -p /tmp/w && rm -rf /tmp/w/data && mv .device/data /tmp/w/data && du -sh /tmp/w/data", 120,
                    "the compact data aside"))
    runs.append(Run(f"run {parts + 2}", (".device/slim",),
                    "mkdir -p /tmp/w && rm -rf /tmp/w/slim && mv .device/slim /tmp/w/slim && ls -l /tmp/w/slim", 120,
                    "the slim states aside"))
    runs.append(Run(f"run {parts + 3}", (),
                    f"PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 -m gpu.window long --out $OUT --budget-s {budget_s}",
                    budget_s + 60, "the long run: ORT CUDA benchmark, the five trainings sharing the card, packing"))
    for k in range(2):
        runs.append(Run(f"run {parts + 4 + k}", (), "python3 -m gpu.window give-back --out $OUT", 120,
                        "only if window.json names files waiting in /tmp/w/return"))
    return runs


def runs_text(runs: list[Run]) -> str:
    lines = ["# The runs of one GPU window, in order", "",
             "Start each run as soon as the one before returns (the machine goes back 30 s after a run ends).",
             "Do not read or change anything between the short runs.", ""]
    for run in runs:
        lines += [f"## {run.name}: {run.why}", "", f"- carry: {json.dumps(list(run.carry))}",
                  f"- timeout_s: {run.timeout_s}", "", "```", run.command, "```", ""]
    return "\n".join(lines)


# -- prepare (here) -------------------------------------------------------------------------

def sha256_parts(parts: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path) -> int:
    parts = sorted(folder.glob("part-*"))
    (folder / "manifest.json").write_text(json.dumps({"parts": [p.name for p in parts], "sha256": sha256_parts(parts)}) + "\n")
    return len(parts)


def download_wheels(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [f"--platform=manylinux_{v}_x86_64" for v in ("2_28", "2_27", "2_17")] + ["--platform=manylinux2014_x86_64"]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
                    "3.12", "--implementation", "cp", *platforms, "-d", str(dest), *WHEELS], check=True)


def compact_data(shared: Path, dest: Path, labeller: Path | None, *, side: int = 256, quality: int = 85,
                 limit: int | None = None) -> None:
    """Landscapes at `side` px on the short side (JPEG), the Stanford pairs as they are, index
    maps of the landscapes made by `labeller` (the translator's and labeller's training maps;
    held-out photos get none), and the held-out stems every model shares."""
    import cv2

    from landscape.trainers.data import shrink_to_short_side

    land_out, photos_st, maps_st = dest / "photos" / "landscapes", dest / "photos" / "stanford", dest / "maps" / "stanford"
    for folder in (land_out, photos_st, maps_st):
        folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (shared / "landscapes").iterdir())[:limit]
    for name in names:
        img = shrink_to_short_side(cv2.imread(str(shared / "landscapes" / name), cv2.IMREAD_COLOR), side)
        cv2.imwrite(str(land_out / name), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    stanford = shared / "stanford_background"
    for path in sorted((stanford / "images").iterdir())[:limit]:
        shutil.copy(path, photos_st / path.name)
        shutil.copy(stanford / "labels" / f"{path.stem}.png", maps_st / f"{path.stem}.png")
    held = json.loads((ROOT / "runs" / "generate-128" / "split.json").read_text())["held_out"]
    val = (stanford / "splits" / "val.txt").read_text().split()
    (dest / "held_out_stems.txt").write_text("\n".join([Path(n).stem for n in held] + val) + "\n")
    if labeller is not None:
        training = dest / "labeller_input"
        training.mkdir()
        for name in names:
            if name not in held:
                os.link(land_out / name, training / name)
        subprocess.run([sys.executable, "-m", "landscape", "label", str(training), "--index", "-o",
                        str(dest / "maps" / "landscapes"), "--model", str(labeller), "-q"], check=True,
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(training)


def maps_labeller(target: Path) -> Path:
    """The labeller whose maps the translator learns: the one the window continues (the slim
    state in runs/slim/, exported here), so that the two ship as a pair; else the bundled one."""
    state = ROOT / "runs" / "slim" / "segmenter.safetensors"
    if not state.is_file():
        return ROOT / "landscape" / "models" / "label.onnx"
    from landscape.export.exporter import export_checkpoint

    return export_checkpoint(state, target).path


def prepare(args: argparse.Namespace) -> int:
    if DEVICE.exists() and any(DEVICE.iterdir()):
        raise SystemExit(f"gpu_window: {DEVICE} is not empty; remove it first")
    ort = DEVICE / "ort"
    subprocess.run(["bash", str(ROOT.parent / "shared" / "gpu" / "ort-gpu-parts.sh"), str(ort)], check=True)
    parts = write_manifest(ort)
    download_wheels(DEVICE / "whl")
    compact_data(SHARED_DATA, DEVICE / "data", args.labeller or maps_labeller(DEVICE / "label-for-maps.onnx"))
    (DEVICE / "slim").mkdir()
    for state in sorted((ROOT / "runs" / "slim").glob("*.safetensors")):
        shutil.copy(state, DEVICE / "slim" / state.name)
    runs = window_runs(parts)
    (DEVICE / "runs.md").write_text(runs_text(runs))
    (DEVICE / "runs.json").write_text(json.dumps([run.__dict__ for run in runs], indent=1) + "\n")
    subprocess.run([sys.executable, "-m", "gpu.travel", "stash"], cwd=ROOT, check=True)
    worst = max(carried_bytes(run.carry) for run in runs)
    print(f"{DEVICE / 'runs.md'}: {len(runs)} runs; the largest carries {worst / 2**20:.1f} MiB of {TRAVEL_LIMIT / 2**20:.0f}")
    return 0 if worst <= TRAVEL_LIMIT else 1


def carried_bytes(carry: tuple[str, ...], root: Path = ROOT) -> int:
    """What a run would send: the tree git sees (tracked and untracked-not-ignored) plus its carry."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            check=True, capture_output=True).stdout.decode().split("\0")
    total = sum((root / p).stat().st_size for p in listed if p and (root / p).is_file())
    for rel in carry:
        path = root / rel
        total += path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


# -- on the machine ---------------------------------------------------------------------------

def ceilings(args: argparse.Namespace) -> int:
    """nvidia-smi, the bf16 matrix-product rate and the device copy rate: the ceilings every
    figure of the window is a share of."""
    import torch

    out: dict = {"torch": torch.__version__, "python": sys.version.split()[0]}
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm",
                          "--format=csv,noheader"], capture_output=True, text=True)
    out["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    if torch.cuda.is_available():
        out["bf16_tflops"] = matmul_rate(torch.device("cuda"), torch.bfloat16, 8192) / 1e12
        x = torch.empty(2**30, dtype=torch.uint8, device="cuda")
        y = torch.empty_like(x)
        seconds = event_time(lambda: y.copy_(x))
        out["copy_tb_s"] = 2 * x.numel() / seconds / 1e12  # bytes read and written
    write_json(args.out / "ceilings.json", out)
    print(json.dumps(out, indent=1))
    return 0


def event_time(fn, repeats: int = 10) -> float:
    import torch

    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000 / repeats


def matmul_rate(device, dtype, n: int) -> float:
    import torch

    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    if device.type == "cuda":
        return 2 * n**3 / event_time(lambda: a @ b)
    start = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * n**3 / (time.perf_counter() - start)


def install(args: argparse.Namespace) -> int:
    """Join the wheel parts, check them against the manifest, unpack them and the small
    wheels into one folder for PYTHONPATH, then say whether CUDA really runs."""
    manifest = json.loads(args.manifest.read_text())
    parts = [args.parts / name for name in manifest["parts"]]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise SystemExit(f"gpu_window install: parts missing in {args.parts}: {', '.join(missing)} (the machine was "
                         "given back between runs: start again from run 1)")
    if sha256_parts(parts) != manifest["sha256"]:
        raise SystemExit("gpu_window install: the joined parts do not match the manifest's sha256")
    args.site.mkdir(parents=True, exist_ok=True)
    joined = args.parts / "joined.tar.xz"
    with open(joined, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    with tarfile.open(joined, "r:xz") as tar:
        tar.extractall(args.site, filter="data")
    joined.unlink()
    wheels = sorted(args.wheels.glob("*.whl"))
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--upgrade", "--target", str(args.site), *map(str, wheels)], check=True)
    report = subprocess.run([sys.executable, "-c", "from landscape.runtime.sessions import choose_device; "
                             "print(choose_device('auto').describe())"],
                            env={**os.environ, "PYTHONPATH": str(args.site)}, capture_output=True, text=True, cwd=ROOT)
    result = {"site": str(args.site), "wheels": [w.name for w in wheels], "device": report.stdout.strip(),
              "error": report.stderr.strip()[-500:]}
    write_json(args.out / "install.json", result)
    print(json.dumps(result, indent=1))
    return 0 if report.returncode == 0 else 1


class Window:
    """The long run's clock, log and results: written as they come, so that a run cut short
    still returns what it did."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out, self.start, self.budget_s = out, time.monotonic(), budget_s
        self.root = window_root()
        self.results = self.root / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.timeline: list[dict] = []

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.start)

    def note(self, stage: str, **info) -> None:
        entry = {"t_s": round(time.monotonic() - self.start, 1), "stage": stage, **info}
        self.timeline.append(entry)
        print(json.dumps(entry), flush=True)
        write_json(self.out / "window.json", {"budget_s": self.budget_s, "timeline": self.timeline})


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)


def copy_into(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def long_run(args: argparse.Namespace) -> int:
    window = Window(args.out, args.budget_s)
    data, slim = window.root / "data", window.root / "slim"
    window.note("start", data=data.is_dir(), slim=sorted(p.name for p in slim.glob("*.safetensors")))
    bench_budget = min(args.bench_s, max(0.0, window.left() - args.train_min_s - args.pack_s))
    if bench_budget > (10 if args.tiny else 30) and not args.no_bench:
        bench = [sys.executable, "-m", "benchmarks.gpu_speed", "--out", str(window.results / "bench"),
                 "--budget-s", f"{bench_budget:.0f}"] + (["--cpu"] if args.tiny else [])
        done = child(bench, window.results / "bench.log", timeout=bench_budget + 30, audit=args.audit)
        # The table (gpu_speed.md) travels in the records: the return files are counted.
        if (window.results / "bench" / "gpu_speed.json").is_file():
            copy_into(window.results / "bench" / "gpu_speed.json", args.out / "gpu_speed.json")
        window.note("benchmark", returncode=done)
    train(window, data, slim, args)
    pack(window, args.out)
    return 0


def child(argv: list[str], log: Path, *, timeout: float, audit: Path | None = None) -> int:
    if audit is not None:
        argv = [argv[0], "-m", "gpu.window", "audit-run", str(audit / f"{log.stem}.json"), "--", *argv[1:]]
    with open(log, "w") as f:
        try:
            return subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return -1


def train(window: Window, data: Path, slim: Path, args: argparse.Namespace) -> None:
    # The margin: each trainer's start-up (imports, decoding the data onto the card) and its
    # last evaluation and checkpoint, which come after --max-minutes.
    minutes = max(0.1, (window.left() - args.pack_s - args.margin_s) / 60)
    runs = window.root / "runs"
    procs = {}
    for t in PLAN:
        argv = trainer_argv(t, data, runs / t.run, slim=slim / f"{t.family}.safetensors", minutes=minutes, tiny=args.tiny,
                            device="cpu" if args.tiny else "cuda")
        log = window.results / f"train-{t.run}.log"
        cmd = [sys.executable, "-m", t.module, *argv]
        if args.audit is not None:
            cmd = [sys.executable, "-m", "gpu.window", "audit-run", str(args.audit / f"train-{t.run}.json"),
                   "--", "-m", t.module, *argv]
        procs[t] = (subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT), log)
    window.note("trainings started", minutes=round(minutes, 2),
                resumed=[t.run for t in PLAN if "--resume" in procs[t][0].args])
    while any(p.poll() is None for p, _ in procs.values()):
        time.sleep(2 if args.tiny else 15)
        sync_states(runs, args.out)
        if window.left() < args.pack_s:
            # Past their --max-minutes and the margin: stop them; their last slim states stay.
            for p, _ in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            try:
                for p, _ in procs.values():
                    p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                for p, _ in procs.values():
                    p.kill()
    sync_states(runs, args.out)
    window.note("trainings done", returncodes={t.run: p.returncode for t, (p, _) in procs.items()},
                steps={t.run: last_step(runs / t.run) for t in PLAN})


def resumed_at(run: Path) -> int:
    """The step of the slim state a run began from (0: it started afresh)."""
    config = run / "config.json"
    return json.loads(config.read_text()).get("resumed_from", {}).get("step", 0) if config.is_file() else 0


def last_step(run: Path) -> int:
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        return 0
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return max((r["step"] for r in records), default=0)


def sync_states(runs: Path, out: Path) -> None:
    for t in PLAN:
        state = runs / t.run / "slim.safetensors"
        target = out / f"slim-{t.family}.safetensors"
        if state.is_file() and (not target.exists() or target.stat().st_mtime < state.stat().st_mtime):
            copy_into(state, target)


def pack(window: Window, out: Path) -> None:
    """The records (config, split, metrics, loss curve, preview, logs) in one tar.xz beside the
    slim states; anything over the return limits waits in /tmp/w/return, split, for give-back."""
    records = window.root / "records.tar.xz"
    with tarfile.open(records, "w:xz") as tar:
        for t in PLAN:
            for name in ("config.json", "split.json", "metrics.jsonl", "loss_curve.png", "preview.jpg"):
                path = window.root / "runs" / t.run / name
                if path.is_file():
                    tar.add(path, arcname=f"{t.run}/{name}")
        for log in sorted(window.results.glob("*.log")) + sorted(window.results.glob("bench/*.md")):
            tar.add(log, arcname=f"logs/{log.name}")
    waiting = window.root / "return"
    shutil.rmtree(waiting, ignore_errors=True)
    files = [p for p in out.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != "window.json"]
    room = RETURN_FILES - len(files) - 1  # and window.json, rewritten below
    if records.stat().st_size <= RETURN_FILE_BYTES and room >= 1:
        copy_into(records, out / "records.tar.xz")
    else:
        waiting.mkdir(parents=True)
        with open(records, "rb") as f:
            for k, chunk in enumerate(iter(lambda: f.read(RETURN_FILE_BYTES), b"")):
                (waiting / f"records.tar.xz.{k:02d}").write_bytes(chunk)
    window.note("packed", out=sorted(p.name for p in out.iterdir() if not p.name.startswith(".")),
                waiting=sorted(p.name for p in waiting.iterdir()) if waiting.exists() else [])


def give_back(args: argparse.Namespace) -> int:
    waiting = window_root() / "return"
    files = sorted(waiting.glob("*")) if waiting.exists() else []
    for path in files[:RETURN_FILES]:
        shutil.move(str(path), str(args.out / path.name))
    print(f"{min(len(files), RETURN_FILES)} returned, {max(0, len(files) - RETURN_FILES)} still waiting")
    return 0


def audit_run(args: argparse.Namespace) -> int:
    """Run a module or script as python would, then record the top-level modules it imported."""
    import atexit
    import runpy

    rest = args.rest[1:] if args.rest and args.rest[0] == "--" else args.rest

    def record() -> None:
        names = sorted({name.split(".")[0] for name in list(sys.modules)})
        Path(args.record).write_text(json.dumps(names) + "\n")

    atexit.register(record)
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")
    return 0


# -- after the window (here) --------------------------------------------------------------------

def unpack(args: argparse.Namespace) -> int:
    """Returned files -> runs/slim/<family>.safetensors (replacing the old states) and the
    run records under runs/<run>-gpu-<date>/."""
    returned: Path = args.returned
    pieces = sorted(returned.glob("records.tar.xz.*"))
    if pieces:
        with open(returned / "records.tar.xz", "wb") as out:
            for piece in pieces:
                out.write(piece.read_bytes())
    stamp = args.date or time.strftime("%Y%m%d")
    slim_dir = args.runs / "slim"
    slim_dir.mkdir(parents=True, exist_ok=True)
    for t in PLAN:
        state = returned / f"slim-{t.family}.safetensors"
        if state.is_file():
            shutil.copyfile(state, slim_dir / f"{t.family}.safetensors")
    if (returned / "records.tar.xz").is_file():
        with tarfile.open(returned / "records.tar.xz", "r:xz") as tar:
            for member in tar.getmembers():
                head, _, rest = member.name.partition("/")
                member.name = f"logs/gpu-{stamp}/{rest}" if head == "logs" else f"{head}-gpu-{stamp}/{rest}"
                tar.extract(member, args.runs, filter="data")
    for name in ("gpu_speed.json", "gpu_speed.md", "window.json", "ceilings.json", "install.json"):
        if (returned / name).is_file():
            (args.runs / "logs" / f"gpu-{stamp}").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(returned / name, args.runs / "logs" / f"gpu-{stamp}" / name)
    size = sum(p.stat().st_size for p in slim_dir.glob("*.safetensors"))
    print(f"{slim_dir}: {size / 1e6:.1f} MB of slim states")
    return 0


# -- the rehearsal (here) -----------------------------------------------------------------------

def rehearse(args: argparse.Namespace) -> int:
    """Every run of the window on this CPU at tiny sizes: parts made, carried and joined, the
    install, two long runs (the second resuming from the first's returned slim states, as the
    next window will), packing within the return limits, and the imports of the long run
    checked against what the machine has."""
    from tests.train_helpers import make_pairs, make_photos

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gpu-window-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["LANDSCAPE_WINDOW"] = str(work / "machine")
    machine = window_root()
    checks: dict[str, object] = {}

    # Wheel parts: a stand-in package cut in three, carried one per run, joined and installed.
    stand_in = work / "stand_in"
    (stand_in / "landscape_window_probe").mkdir(parents=True)
    (stand_in / "landscape_window_probe" / "__init__.py").write_text("WORKS = True\n")
    parts_dir = work / "device" / "ort"
    parts_dir.mkdir(parents=True)
    blob = work / "ort.tar.xz"
    with tarfile.open(blob, "w:xz") as tar:
        tar.add(stand_in / "landscape_window_probe", arcname="landscape_window_probe")
    data = blob.read_bytes()
    third = len(data) // 3 + 1
    for k in range(3):
        (parts_dir / f"part-{k:02d}").write_bytes(data[k * third:(k + 1) * third])
    parts = write_manifest(parts_dir)
    carried = machine / "ort"
    carried.mkdir(parents=True)
    for part in sorted(parts_dir.glob("part-*")):
        shutil.move(str(part), str(carried / part.name))
    out = work / "out-install"
    out.mkdir()
    site = machine / "site"
    install_args = argparse.Namespace(parts=carried, manifest=parts_dir / "manifest.json", wheels=work / "no-wheels",
                                      site=site, out=out)
    (work / "no-wheels").mkdir()
    install(install_args)
    probe = subprocess.run([sys.executable, "-c", "import landscape_window_probe as p; print(p.WORKS)"],
                           env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    checks["install"] = probe.stdout.strip() == "True" and json.loads((out / "install.json").read_text())["device"].startswith("cpu")

    # Data: tiny photos and pairs in the carried layout.
    data_dir = machine / "data"
    make_photos(data_dir / "photos" / "landscapes", count=12)
    photos, maps = make_pairs(data_dir / "pairs", count=12)
    shutil.move(str(photos), str(data_dir / "photos" / "stanford"))
    (data_dir / "maps").mkdir()
    shutil.move(str(maps), str(data_dir / "maps" / "stanford"))
    (data_dir / "held_out_stems.txt").write_text("p00\np01\n")

    # Two windows: the first starts fresh, the second from the first's returned states.
    audit = work / "audit"
    audit.mkdir()
    steps = []
    for k in range(2):
        out = work / f"out-{k}"
        out.mkdir()
        shutil.rmtree(machine / "runs", ignore_errors=True)
        shutil.rmtree(machine / "results", ignore_errors=True)
        budget = args.budget_s if k == 0 else 0.75 * args.budget_s
        long_args = argparse.Namespace(out=out, budget_s=budget, bench_s=0.45 * budget, train_min_s=0.3 * budget,
                                       pack_s=3, margin_s=6, no_bench=k == 1, tiny=True, audit=audit)
        long_run(long_args)
        returned = out
        check_return_limits(returned)
        runs = work / f"here-{k}" / "runs"
        unpack(argparse.Namespace(returned=returned, runs=runs, date=f"rehearsal{k}"))
        slim = machine / "slim"
        shutil.rmtree(slim, ignore_errors=True)
        shutil.copytree(runs / "slim", slim)
        steps.append({t.run: (resumed_at(runs / f"{t.run}-gpu-rehearsal{k}"), last_step(runs / f"{t.run}-gpu-rehearsal{k}"))
                      for t in PLAN})
    checks["steps"] = steps
    # The second window's runs began at the steps of the states the first returned, and trained on.
    checks["resumed"] = all(0 < steps[1][t.run][0] <= steps[0][t.run][1] < steps[1][t.run][1] or
                            0 < steps[1][t.run][0] < steps[1][t.run][1] for t in PLAN)
    checks["benchmark"] = (work / "out-0" / "gpu_speed.json").is_file()
    checks["imports"] = unknown_imports(audit)
    checks["runs_text"] = runs_text(window_runs(parts)).count("## run") == parts + 5
    ok = checks["install"] and checks["resumed"] and checks["benchmark"] and not checks["imports"] and checks["runs_text"]
    print(json.dumps(checks, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def check_return_limits(out: Path) -> None:
    files = [p for p in out.rglob("*") if p.is_file()]
    problems = [f"{len(files)} files > {RETURN_FILES}"] if len(files) > RETURN_FILES else []
    problems += [f"{p.name}: {p.stat().st_size} bytes" for p in files if p.stat().st_size > RETURN_FILE_BYTES]
    problems += [f"{p.name}: a temp file" for p in files if p.name.startswith(".")]
    if problems:
        raise SystemExit(f"gpu_window rehearsal: what comes back breaks the limits: {'; '.join(problems)}")


# Import names of the packages on the machine's image (shared/gpu/README.md, KINDS.md) that
# the project can reach, and of what the plan carries there.
ON_MACHINE = {"torch", "torchvision", "numpy", "cv2", "PIL", "typer", "tqdm", "safetensors", "matplotlib", "onnx",
              "onnxruntime", "click", "rich", "shellingham", "typing_extensions", "filelock", "jinja2", "markupsafe",
              "sympy", "mpmath", "networkx", "fsspec", "packaging", "google", "ml_dtypes", "pyparsing", "dateutil",
              "kiwisolver", "cycler", "fontTools", "contourpy", "six", "annotated_doc", "markdown_it", "mdurl",
              "pygments", "triton", "yaml", "flatbuffers", "coloredlogs", "humanfriendly", "cuda", "nvidia",
              "mpl_toolkits", "sortedcontainers", "importlib_metadata", "zipp", "psutil", "optree", "opt_einsum",
              "_distutils_hack", "setuptools", "pkg_resources", "distutils", "_cffi_backend"}
CARRIED = {"isal", "onnxconverter_common", "landscape_window_probe"}
# Imports of packages above in this environment's versions, which the machine's versions do
# without: typer >= 0.2x imports pydantic here; torch's code generator and Cython's runtime.
TRANSITIVE_HERE = {"pydantic", "pydantic_core", "annotated_types", "typing_inspection", "torchgen", "cython_runtime"}
PROJECT = {"landscape", "tests", "benchmarks", "gpu"}
# Imported where installed and done without where not: the exporter's bf16 check tries
# OpenVINO (landscape.runtime.openvino_backend.available) and records "not installed" without it;
# torch imports pydot (torch.fx's graph drawer) and tabulate when they are there (NNCF, in the
# dev extra, brings both).
OPTIONAL_HERE = {"openvino", "openvino_telemetry", "pydot", "tabulate"}


def unknown_imports(audit: Path) -> list[str]:
    seen: set[str] = set()
    for record in audit.glob("*.json"):
        seen.update(json.loads(record.read_text()))
    allowed = (set(sys.stdlib_module_names) | ON_MACHINE | CARRIED | TRANSITIVE_HERE | OPTIONAL_HERE | PROJECT
               | {"__main__", "__mp_main__"})
    return sorted(n for n in seen if n not in allowed and not n.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("prepare", help="here: build .device/ (wheel parts, wheels, data, slim states) and the run texts")
    p.add_argument("--labeller", type=Path, help="label model that makes the landscapes' training maps (default: the slim "
                   "state's labeller, else the bundled one)")
    p = sub.add_parser("rehearse", help="here: the whole window on the CPU at tiny sizes")
    p.add_argument("--keep", help="keep the rehearsal's files in this folder")
    p.add_argument("--budget-s", type=float, default=36, help="the first long run's; the second gets three quarters")
    p = sub.add_parser("ceilings", help="there: nvidia-smi, bf16 matmul and copy rates")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("install", help="there: join the wheel parts and install them and the small wheels")
    for name in ("parts", "manifest", "wheels", "site", "out"):
        p.add_argument(f"--{name}", type=Path, required=True)
    p = sub.add_parser("long", help="there: the benchmark, the five trainings, packing")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-s", type=float, default=470)
    p.add_argument("--bench-s", type=float, default=150, help="the benchmark's share of the budget")
    p.add_argument("--train-min-s", type=float, default=240, help="training time the benchmark must leave")
    p.add_argument("--pack-s", type=float, default=20)
    p.add_argument("--margin-s", type=float, default=45, help="trainer start-up and last checkpoint, after --max-minutes")
    p.add_argument("--no-bench", action="store_true")
    p.add_argument("--tiny", action="store_true", help="the rehearsal's sizes, on the CPU")
    p.add_argument("--audit", type=Path, help="record each child's imports in this folder")
    p = sub.add_parser("give-back", help="there: the next files waiting in /tmp/w/return")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("unpack", help="here: returned files -> runs/slim/ and run records")
    p.add_argument("returned", type=Path)
    p.add_argument("--runs", type=Path, default=ROOT / "runs")
    p.add_argument("--date", help="stamp of the run folders (default: today)")
    p = sub.add_parser("audit-run", help="run a module or script and record its imports")
    p.add_argument("record")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if getattr(args, "out", None) is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    actions = {"prepare": prepare, "rehearse": rehearse, "ceilings": ceilings, "install": install, "long": long_run,
               "give-back": give_back, "unpack": unpack, "audit-run": audit_run}
    return actions[args.action](args)


if __name__ == "__main__":
    raise SystemExit(main())
