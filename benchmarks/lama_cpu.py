"""LaMa on the CPU: `landscape inpaint` against PyTorch as IOPaint runs it, the same seeded
weights, photos and masks, each run timed from process start to exit in one session; and the
model alone in ONNX Runtime fp32, OpenVINO fp32, bf16 and int8.

The weights are spandrel's LaMa at a seeded random init (big-lama's shapes: 51 M parameters),
saved as a TorchScript archive as IOPaint publishes big-lama.pt, then imported with
`landscape export`. The photos are the first landscape photos of shared/data (612x408, under
IOPaint's 800 px crop trigger, so it runs each whole), each with one box of 12-25 % of the
photo and a stroke. Outputs are PNG on both sides, and `--raw-fill` (no Poisson blending: the
peer has none). Each landscape setting is run once untimed first, so its compiled model is in
the cache as for any run after a user's first; that first run is reported too.

    python -m benchmarks.lama_cpu                       # 8 photos, about 6 minutes on 2 cores
    python -m benchmarks.lama_cpu --photos 4 --json docs/lama_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from landscape.runtime.cpu import facts

REPO = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO.parent / "shared" / "data" / "landscapes"


def seeded_lama(seed: int = 7):
    """big-lama's network at a seeded init, with batch-norm statistics that are not the identity."""
    import torch
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(seed)
    net = LaMa(in_nc=4, out_nc=3).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return net


def save_as_iopaint(net, path: Path) -> None:
    import torch

    with torch.no_grad():
        torch.jit.trace(net, (torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)), check_trace=False).save(str(path))


def write_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    photos, masks = folder / "photos", folder / "masks"
    photos.mkdir(parents=True)
    masks.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted(SHARED_PHOTOS.glob("*.jpeg"))[:count]:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        rgb.save(photos / f"{path.stem}.png")
        w, h = rgb.size
        mask = np.zeros((h, w), np.uint8)
        share = rng.uniform(0.12, 0.25)
        bh, bw = int(h * share**0.5), int(w * share**0.5)
        top, left = rng.integers(0, h - bh), rng.integers(0, w - bw)
        mask[top : top + bh, left : left + bw] = 255
        mask[h - 40 : h - 32, 10 : w - 10] = 255  # a stroke along the bottom
        Image.fromarray(mask).save(masks / f"{path.stem}.png")
    return photos, masks


def timed(args: list[str], threads: int, env: dict[str, str] | None = None) -> float:
    """Seconds from start to exit of `args` in the checkout, with `threads` OpenMP threads in
    `env` (default: this process's environment)."""
    env = {**(os.environ if env is None else env), "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds


def hole_psnr(out: Path, reference: Path, masks: Path) -> float:
    errors = []
    for ref in sorted(reference.glob("*.png")):
        hole = np.asarray(Image.open(masks / ref.name)) > 127
        a = np.asarray(Image.open(out / ref.name).convert("RGB"), np.float64)[hole]
        b = np.asarray(Image.open(ref).convert("RGB"), np.float64)[hole]
        errors.append(np.mean((a - b) ** 2))
    mse = float(np.mean(errors))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def model_only(model: Path, threads: int, side: tuple[int, int]) -> dict[str, float]:
    """Seconds per call at one padded photo's size, for each backend and precision this CPU runs."""
    from benchmarks.harness import seconds_per_call
    from landscape.runtime.sessions import choose_device, load_model

    h, w = side
    feeds = {"image": np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32),
             "mask": np.zeros((1, 1, h, w), np.float32)}
    feeds["mask"][..., h // 4 : h // 2, w // 4 : w // 2] = 1
    rows = [("onnxruntime", "fp32"), ("openvino", "fp32")] + ([("openvino", "bf16")] if facts().has_bf16 else [])
    out = {}
    for backend, precision in rows + [("openvino", "int8")]:
        loaded = load_model("inpaint", model, choose_device("cpu", threads, backend, precision))
        # int8 that failed its check runs in another precision: the row is named by what ran.
        out[f"{backend} {loaded.precision}" + (" (int8 asked for)" if loaded.precision != precision else "")] = \
            seconds_per_call(lambda: loaded.run(**feeds), 10.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not SHARED_PHOTOS.is_dir():
        raise SystemExit(f"{SHARED_PHOTOS}: the landscape photos are needed (shared/data beside the checkout)")
    cpu = facts()
    print(f"CPU: {cpu.describe()}, {args.threads} threads; {args.photos} photos of 612x408, one box and a stroke each")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["LANDSCAPE_CACHE"] = str(work / "cache")  # every first run is a first run
        weights = work / "big-lama.pt"
        save_as_iopaint(seeded_lama(), weights)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "landscape", "export", str(weights), "-o", str(work / "lama.onnx")],
                       cwd=REPO, check=True, capture_output=True)
        export_seconds = time.perf_counter() - start
        print(f"landscape export big-lama.pt: {export_seconds:.1f} s")
        photos, masks = write_inputs(work, args.photos)

        peer = [sys.executable, "-m", "benchmarks.torch_inpaint", str(weights), str(photos), str(masks)]
        ours = [sys.executable, "-m", "landscape", "inpaint", str(photos), "--masks", str(masks), "--model",
                str(work / "lama.onnx"), "--format", "png", "--raw-fill", "-q", "--threads", str(args.threads)]
        # --precision int8's untimed first run quantizes the model into the cache (its time is
        # reported as the first run's); the defaults then take int8 if it passed its check and
        # measures faster, so they are run before and after it.
        settings = {"landscape (defaults, no int8 made yet)": [], "landscape --backend onnxruntime": ["--backend", "onnxruntime"],
                    "landscape --backend openvino --precision fp32": ["--backend", "openvino", "--precision", "fp32"],
                    "landscape --precision int8": ["--precision", "int8"],
                    "landscape (defaults, int8 in the cache)": []}
        results: dict[str, dict] = {}
        for name, extra in (("PyTorch eager (spandrel's LaMa)", []), ("PyTorch TorchScript (IOPaint's loader)", ["--jit"])):
            out = work / name.split()[1]
            seconds = timed(peer + [str(out), "--threads", str(args.threads), *extra], args.threads)
            results[name] = {"seconds": round(seconds, 2), "out": out}
        for name, extra in settings.items():
            out = work / f"ours{len(results)}"
            first = timed(ours + extra + ["-o", str(work / f"first{len(results)}")], args.threads)
            seconds = timed(ours + extra + ["-o", str(out)], args.threads)
            results[name] = {"seconds": round(seconds, 2), "first_run_seconds": round(first, 2), "out": out}
        eager = results["PyTorch eager (spandrel's LaMa)"]
        print(f"\n{'start to exit':48s} {'s':>7s} {'vs eager':>9s} {'hole PSNR vs eager':>19s}")
        for name, row in results.items():
            row["psnr_in_holes_db"] = round(hole_psnr(row["out"], eager["out"], masks), 2) if row is not eager else None
            psnr = f"{row['psnr_in_holes_db']:.1f} dB" if row["psnr_in_holes_db"] is not None else "-"
            first = f" (first run {row['first_run_seconds']:.1f} s)" if "first_run_seconds" in row else ""
            print(f"{name:48s} {row['seconds']:7.2f} {eager['seconds'] / row['seconds']:8.2f}x {psnr:>19s}{first}")
        calls = model_only(work / "lama.onnx", args.threads, (408, 616))
        print("\nmodel only, one 408x616 call (a photo padded to multiples of 8):")
        for name, seconds in calls.items():
            print(f"  {name:24s} {seconds:6.2f} s  {calls['onnxruntime fp32'] / seconds:5.2f}x ONNX Runtime fp32")
    if args.json:
        for row in results.values():
            row.pop("out")
        args.json.write_text(json.dumps({"cpu": cpu.describe(), "threads": args.threads, "photos": args.photos,
                                         "export_seconds": round(export_seconds, 1), "runs": results,
                                         "model_only_seconds": {k: round(v, 3) for k, v in calls.items()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
