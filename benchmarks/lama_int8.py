"""How fast LaMa would run in int8 on this CPU: the exported test LaMa (benchmarks/lama_cpu.py's
seeded weights) quantized with NNCF's post-training quantization on 8 landscape photos with
masks, against OpenVINO fp32 and bf16, one 408x616 call each, in one run. A probe for
`--precision int8` (not built yet): its speed is the network's; its PSNR is measured at a random
init, where the fills are near grey, so it says nothing yet about real weights' fills.

    pip install nncf     # the `bench` extra
    python -m benchmarks.lama_int8
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.lama_cpu import REPO, SHARED_PHOTOS, save_as_iopaint, seeded_lama
from landscape.runtime.cpu import facts

SIZE = (408, 616)  # a 612x408 photo padded to multiples of 8
THREADS = 2


def feeds(path: Path, seed: int) -> dict[str, np.ndarray]:
    h, w = SIZE
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB").resize((w, h)), np.float32) / 255
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.float32)
    bh, bw = int(rng.integers(80, 200)), int(rng.integers(100, 300))
    top, left = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
    mask[top : top + bh, left : left + bw] = 1
    mask[h - 40 : h - 32, 10 : w - 10] = 1
    return {"image": rgb.transpose(2, 0, 1)[None], "mask": mask[None, None]}


def main() -> None:
    import nncf
    import openvino as ov

    photos = sorted(SHARED_PHOTOS.glob("*.jpeg"))
    calibration = [feeds(p, i) for i, p in enumerate(photos[100:108])]
    held_out = [feeds(p, 1000 + i) for i, p in enumerate(photos[:4])]
    print(f"CPU: {facts().describe()}, {THREADS} threads; one {SIZE[0]}x{SIZE[1]} call")
    core = ov.Core()
    with tempfile.TemporaryDirectory() as tmp:
        weights, onnx_path = Path(tmp) / "big-lama.pt", Path(tmp) / "lama.onnx"
        save_as_iopaint(seeded_lama(), weights)
        subprocess.run([sys.executable, "-m", "landscape", "export", str(weights), "-o", str(onnx_path)],
                       cwd=REPO, check=True, capture_output=True)
        model = core.read_model(str(onnx_path))
        start = time.perf_counter()
        quantized = nncf.quantize(model, nncf.Dataset(calibration), subset_size=len(calibration),
                                  fast_bias_correction=True)
        print(f"quantizing on {len(calibration)} photos: {time.perf_counter() - start:.0f} s")

        def run(graph, hint: str) -> tuple[list[np.ndarray], float]:
            compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": THREADS})
            outputs = [np.array(list(compiled(f).values())[0]) for f in held_out]
            best = min(_seconds(lambda: compiled(held_out[0])) for _ in range(3))
            return outputs, best

        rows = {"fp32": run(model, "f32"), "bf16": run(model, "bf16"), "int8 (rest fp32)": run(quantized, "f32"),
                "int8 (rest bf16)": run(quantized, "bf16")}
    reference = rows["fp32"][0]
    for name, (outputs, seconds) in rows.items():
        shown = "-" if name == "fp32" else f"{min(_hole_psnr(o, r, f) for o, r, f in zip(outputs, reference, held_out)):.1f} dB"
        print(f"{name:18s} {seconds:5.2f} s  {rows['fp32'][1] / seconds:4.2f}x fp32  "
              f"{rows['bf16'][1] / seconds:4.2f}x bf16  hole PSNR vs fp32 (worst of 4) {shown}")


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _hole_psnr(a: np.ndarray, b: np.ndarray, feed: dict[str, np.ndarray]) -> float:
    hole = np.broadcast_to(feed["mask"] > 0.5, a.shape)
    return float(10 * np.log10(1 / np.mean((a[hole] - b[hole]) ** 2)))


if __name__ == "__main__":
    main()
