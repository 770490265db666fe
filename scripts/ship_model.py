"""Export a trained checkpoint as the bundled default for its task and record it in
landscape/models/manifest.json (file, sha256, model card).

Both precisions are exported and checked against PyTorch. The fp16 file ships when its
parity check passes and it runs no slower than fp32 on this machine's CPU (ONNX Runtime's CPU
kernels are fp32, so an fp16 file pays for casts); the timings are printed side by side.

    python -m scripts.ship_model runs/generate-128/checkpoints/step_0003000.safetensors
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from landscape.export.exporter import export_checkpoint
from landscape.export.parity import ExportError
from landscape.pipelines.translate import onehot
from landscape.runtime.sessions import MANIFEST, bundled_dir, choose_device, load_model, sha256_file


def _onehot_map(info) -> np.ndarray:
    labels = np.random.default_rng(0).integers(0, len(info.classes), (16, 24)).repeat(16, 0).repeat(16, 1)
    return onehot(labels, len(info.classes))[None]


def _masked_photo(info) -> dict[str, np.ndarray]:
    mask = np.zeros((1, 1, 256, 384), np.float32)
    mask[:, :, 64:160, 96:224] = 1
    return {info.inputs[0].name: np.random.default_rng(0).random((1, 3, 256, 384), np.float32), info.inputs[1].name: mask}


# A representative call per task: the main job's batch of latents, one 128 px picture to
# upscale, one 384x256 map, masked photo or photo (the landscape photos' training scale).
WORKLOADS = {
    "generate": lambda info: {info.inputs[0].name: np.random.default_rng(0).standard_normal((16, info.latent_dim), np.float32)},
    "upscale": lambda info: {info.inputs[0].name: np.random.default_rng(0).random((1, 3, 128, 128), np.float32)},
    "translate": lambda info: {info.inputs[0].name: _onehot_map(info)},
    "inpaint": _masked_photo,
    "label": lambda info: {info.inputs[0].name: np.random.default_rng(0).random((1, 3, 256, 384), np.float32)},
}
SLOWER_TOLERANCE = 1.05


def seconds_per_call(path: Path, task: str, repeats: int = 5) -> float:
    model = load_model(task, path, choose_device("cpu", 0, "onnxruntime"))
    feeds = WORKLOADS[task](model.info)
    model.run(**feeds)  # warm-up: graph optimisation and arena growth
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.run(**feeds)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# The upscale task ships a set, one model per factor: x4 is the default (upscale.onnx), the
# others run where a --scale needs them (upscale_x2.onnx).
DEFAULT_SCALE = 4


def bundled_name(task: str, scale: int | None) -> str:
    return f"{task}.onnx" if scale in (None, DEFAULT_SCALE) else f"{task}_x{scale}.onnx"


def update_manifest(task: str, target: Path, scale: int | None, license: str) -> None:
    """The entry for this task (and, for upscalers, this factor) replaced by `target`'s; an
    int8 record of the file it replaces goes with it (int8_bundled makes the new one's)."""
    manifest_path = bundled_dir() / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    entries = [e for e in manifest["models"] if not (e["task"] == task and e.get("scale") == scale)]
    entry = {"task": task, "file": target.name, "sha256": sha256_file(target), "card": f"{task}.md",
             "default": scale in (None, DEFAULT_SCALE), "license": license}
    entries.append(entry if scale is None else {**entry, "scale": scale})
    manifest["models"] = sorted(entries, key=lambda e: (e["task"], not e["default"]))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--precision", choices=("auto", "fp16", "fp32"), default="auto",
                        help="auto: fp16 when it is no slower on this CPU; fp16 also when the size budget needs it")
    parser.add_argument("--license", default="MIT", help="SPDX id of the weights' licence (trained here: the project's, "
                        "MIT; from published weights: theirs)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        reports = {"fp32": export_checkpoint(args.checkpoint, Path(tmp) / "fp32.onnx")}
        try:
            reports["fp16"] = export_checkpoint(args.checkpoint, Path(tmp) / "fp16.onnx", fp16=True)
        except ExportError as exc:
            print(f"fp16: not shipped ({exc})", file=sys.stderr)
        task = reports["fp32"].task
        if task not in WORKLOADS:
            raise SystemExit(f"{args.checkpoint}: no workload defined for task '{task}'")
        timings = {p: seconds_per_call(r.path, task) for p, r in reports.items()}
        for precision, report in reports.items():
            print(f"{precision}: {report.size_bytes / 1e6:.2f} MB, max abs diff vs PyTorch {report.max_abs_diff:.2e}, "
                  f"{timings[precision] * 1000:.1f} ms per call on CPU")
        keep = "fp16" if "fp16" in timings and timings["fp16"] <= timings["fp32"] * SLOWER_TOLERANCE else "fp32"
        if args.precision != "auto":
            if args.precision not in reports:
                raise SystemExit(f"{args.checkpoint}: the {args.precision} export failed its parity check")
            keep = args.precision
        scale = load_model(task, reports[keep].path, choose_device("cpu", 0, "onnxruntime")).info.scale
        target = bundled_dir() / bundled_name(task, scale)
        shutil.copyfile(reports[keep].path, target)
    update_manifest(task, target, scale, args.license)
    print(f"shipped {keep}: {target} (sha256 {sha256_file(target)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
