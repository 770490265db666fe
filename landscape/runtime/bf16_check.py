"""Whether a model's bf16 output can stand in for its fp32 output.

bf16 keeps 8 bits of mantissa: fine for most conv nets, wrong for some (OpenVINO's public
reports include corrupted bf16 MatMuls and a model that turned grey). So no model runs in bf16
by default until this check has compared it with fp32 on seeded inputs shaped like its work:
bundled models carry the verdict in their metadata (`bf16_check`, written by
`scripts/bf16_check.py`), `landscape export` records it for the files it writes, and a model
without one is checked on first use on a bf16 CPU and the verdict cached under its sha256.

The floors are the tasks' parity targets: pictures at least 40 dB PSNR from fp32, label maps
agreeing on 99.5 % of pixels.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from landscape.errors import OpenVinoRefusal, first_line
from landscape.runtime.cache import cache_file, read_record, write_record
from landscape.runtime.model_contract import ModelInfo

PSNR_FLOOR_DB = 40.0
AGREEMENT_FLOOR = 0.995
METADATA_KEY = "bf16_check"
PROBE_SIDE = 128  # pixels a side of the probe pictures (a multiple of every size multiple we ship)


def _smooth_field(rng: np.random.Generator, channels: int, height: int, width: int) -> np.ndarray:
    """Values in [0, 1] with photo-like structure: coarse noise, bilinearly enlarged, plus fine grain."""
    coarse = rng.random((channels, height // 8 + 2, width // 8 + 2), dtype=np.float32)
    ys, xs = np.linspace(0, coarse.shape[1] - 1.001, height), np.linspace(0, coarse.shape[2] - 1.001, width)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = coarse[:, y0][:, :, x0] * (1 - fx) + coarse[:, y0][:, :, x0 + 1] * fx
    bottom = coarse[:, y0 + 1][:, :, x0] * (1 - fx) + coarse[:, y0 + 1][:, :, x0 + 1] * fx
    grain = rng.normal(0, 0.03, (channels, height, width)).astype(np.float32)
    return np.clip(top * (1 - fy) + bottom * fy + grain, 0, 1).astype(np.float32)


def probe_feeds(info: ModelInfo, seed: int = 0, side: int = PROBE_SIDE) -> dict[str, np.ndarray]:
    """Seeded inputs for one call of the model, in its input ranges, about side x side."""
    rng = np.random.default_rng(seed)
    side = max(side, info.size_multiple) // info.size_multiple * info.size_multiple
    feeds: dict[str, np.ndarray] = {}
    for spec in info.inputs:
        if info.task == "generate":
            feeds[spec.name] = rng.standard_normal((4, info.latent_dim or 0), dtype=np.float32)
            continue
        if spec.name == "mask" or (info.task == "inpaint" and spec is info.inputs[-1]):
            value = np.zeros((1, 1, side, side), np.float32)
            value[..., side // 4 : side // 2, side // 5 : side * 3 // 4] = 1  # a box
            value[..., side * 3 // 4 : side * 3 // 4 + 8, :] = 1  # a stroke
        elif info.task == "translate":
            labels = rng.integers(0, len(info.classes), (side // 16, side // 16)).repeat(16, 0).repeat(16, 1)
            value = np.eye(len(info.classes), dtype=np.float32)[labels].transpose(2, 0, 1)[None]
        else:
            low, high = spec.range or (0.0, 1.0)
            value = (_smooth_field(rng, 3, side, side) * (high - low) + low)[None]
        feeds[spec.name] = value.astype(np.float32)
    return feeds


def compare(info: ModelInfo, fp32: np.ndarray, bf16: np.ndarray, where: np.ndarray | None = None, *,
            psnr_floor: float = PSNR_FLOOR_DB, agreement_floor: float = AGREEMENT_FLOOR) -> dict[str, Any]:
    """The verdict of a lower precision's (here bf16's) output against fp32's for the same
    call; `where` (broadcast to the outputs) limits a picture's PSNR to the pixels that count:
    an inpainter's holes, since one that passes the rest of its input through would otherwise
    score the copy."""
    if info.task == "label":
        value = float(np.mean(fp32.argmax(1) == bf16.argmax(1)))
        return {"metric": "agreement", "value": round(value, 5), "floor": agreement_floor,
                "passed": bool(np.isfinite(bf16).all() and value >= agreement_floor)}
    low, high = info.output.range or (0.0, 1.0)
    diff = (np.clip(bf16, low, high) - np.clip(fp32, low, high)) / (high - low)
    if where is not None:
        diff = diff[np.broadcast_to(where, diff.shape)]
    mse = float(np.mean(diff.astype(np.float64) ** 2)) if np.isfinite(bf16).all() else float("inf")
    value = 10 * np.log10(1 / mse) if 0 < mse < float("inf") else (float("inf") if mse == 0 else 0.0)
    return {"metric": "psnr_db", "value": round(float(min(value, 200.0)), 2), "floor": psnr_floor,
            "passed": bool(value >= psnr_floor)}


def record_for(path, info: ModelInfo, threads: int = 0) -> dict[str, Any]:
    """What `landscape export` writes into a model's metadata: the verdict measured here, or
    why it could not be (the first bf16 CPU to run the model then measures and caches it)."""
    import os

    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    if not openvino_backend.available():
        return {"measured": False, "reason": "openvino was not installed where the model was exported"}
    if not facts().has_bf16:
        return {"measured": False, "reason": f"the exporting CPU ({facts().model}) has no bf16 units"}
    try:
        model, _ = openvino_backend.read(path)
        return measure(model, info, threads or os.cpu_count() or 1)
    except Exception as exc:  # a graph OpenVINO cannot take runs in ONNX Runtime, in fp32
        reason = exc.reason if isinstance(exc, OpenVinoRefusal) else first_line(exc, 160)
        return {"measured": False, "reason": f"OpenVINO cannot run it ({reason})"}


def measure(model: Any, info: ModelInfo, threads: int) -> dict[str, Any]:
    """Run an OpenVINO-read model's probe call in fp32 and in bf16 and judge the difference."""
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    feeds = probe_feeds(info)
    outputs = {p: openvino_backend.Compiled(model, p, threads).run(feeds)
               for p in ("fp32", "bf16")}
    holes = feeds[info.inputs[-1].name] > 0.5 if info.task == "inpaint" else None
    return {**compare(info, outputs["fp32"], outputs["bf16"], holes), "openvino": openvino_backend.version(),
            "cpu": facts().model, "kind": facts().kind}


def verdict(model: Any, info: ModelInfo, sha256: str, threads: int) -> dict[str, Any]:
    """The model's recorded verdict, else the cached one, else measured now and cached: a
    verdict holds on the CPU kind it was measured on (bf16 runs in AMX tiles on one CPU and in
    AVX512-BF16 instructions on another), so any other is measured here, once."""
    found = recorded(info) or cached(sha256)
    if found is None:
        found = measure(model, info, threads)
        store(sha256, found)
    return found


def recorded(info: ModelInfo) -> Optional[dict[str, Any]]:
    """The verdict the model's metadata carries, if it was measured on a CPU of this kind."""
    from landscape.runtime.cpu import facts

    record = info.raw.get(METADATA_KEY)
    return record if isinstance(record, dict) and "passed" in record and record.get("kind") == facts().kind else None


def describe(verdict: dict[str, Any]) -> str:
    unit = " dB" if verdict["metric"] == "psnr_db" else ""
    comparison = ">=" if verdict["passed"] else "<"
    return f"bf16 {verdict['value']}{unit} from fp32, {comparison} {verdict['floor']}{unit}"


def _cache_name(sha256: str) -> str:
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    return f"{sha256}-{facts().kind_slug}-openvino-{openvino_backend.version()}.json"


def cached(sha256: str) -> Optional[dict[str, Any]]:
    return read_record(cache_file("bf16", _cache_name(sha256)), "passed")


def store(sha256: str, verdict: dict[str, Any]) -> None:
    write_record(cache_file("bf16", _cache_name(sha256)), verdict)
