"""int8: a model quantized after training (NNCF, OpenVINO backend) and the check that lets it
stand in for fp32.

What stays in float, because quantizing it is what makes int8 pictures go wrong (darker
super-resolution outputs in peers' reports, banding in the last layer's colours): the first and
the last convolution (the layers that read and write pixels) and every resampling operator. The
rest (activations per tensor, weights per output channel) is int8; the float parts run in fp32.

The int8 check is the bf16 check's comparison on held-out calls (`landscape.runtime.calibration`):
pictures at least 40 dB PSNR from fp32, label maps agreeing on 99 % of pixels. The quantized
model is an OpenVINO IR (int8 is an OpenVINO precision here) kept beside its verdict: shipped for
the bundled models (`scripts/int8_bundled.py`; listed in the manifest), or made once into the user's cache, keyed by the
ONNX file's sha256 and the OpenVINO version.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from landscape.errors import ModelError, first_line
from landscape.runtime import bf16_check
from landscape.runtime.cache import cache_file, read_record, write_record
from landscape.runtime.model_contract import ModelInfo

PSNR_FLOOR_DB = 40.0
AGREEMENT_FLOOR = 0.99
FLOAT_TYPES = ("Interpolate", "DepthToSpace")
WEIGHTED_TYPES = ("Convolution", "GroupConvolution", "ConvolutionBackpropData")
INSTALL_HINT = "pip install nncf (or pip install 'landscape[int8]')"


@dataclass(frozen=True)
class Quantized:
    """A model's int8 check's verdict, and its IR: a file (shipped, or in the cache), the model in
    memory where no cache can be written, or None for a bundled model that failed."""

    graph: Any
    verdict: dict[str, Any]


def float_scope(model: Any) -> Any:
    """NNCF's ignored scope: the first and last weighted layers, and the resampling ops."""
    import nncf

    weighted = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() in WEIGHTED_TYPES]
    names = sorted({weighted[0], weighted[-1]}) if weighted else []
    present = {op.get_type_name() for op in model.get_ordered_ops()}
    return nncf.IgnoredScope(names=names, types=[t for t in FLOAT_TYPES if t in present])


@contextlib.contextmanager
def _nncf_quiet() -> Iterator[None]:
    """NNCF logs each step and draws progress bars; what it says is not ours to print."""
    import nncf

    nncf.set_log_level(logging.ERROR)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def quantize(model: Any, calls: list[dict[str, np.ndarray]]) -> Any:
    """The OpenVINO model with int8 weights and activations outside `float_scope`."""
    import nncf

    with _nncf_quiet():
        return nncf.quantize(model, nncf.Dataset(calls), subset_size=len(calls), ignored_scope=float_scope(model))


def check(fp32_model: Any, int8_model: Any, info: ModelInfo, calls: list[dict[str, np.ndarray]], threads: int) -> dict[str, Any]:
    """The worst held-out call's comparison of the int8 model with fp32."""
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    reference = openvino_backend.Compiled(fp32_model, "fp32", threads, sizes_vary=info.sizes_vary)
    quantized = openvino_backend.Compiled(int8_model, "int8", threads, sizes_vary=info.sizes_vary)
    verdicts = []
    for call in calls:
        holes = call[info.inputs[-1].name] > 0.5 if info.task == "inpaint" else None
        verdicts.append(bf16_check.compare(info, reference.run(call), quantized.run(call), holes,
                                           psnr_floor=PSNR_FLOOR_DB, agreement_floor=AGREEMENT_FLOOR))
    worst = min(verdicts, key=lambda v: v["value"])
    return {**worst, "calls": len(calls), "openvino": openvino_backend.version(), "cpu": facts().model,
            "kind": facts().kind}


def describe(verdict: dict[str, Any]) -> str:
    return bf16_check.describe(verdict).replace("bf16", "int8", 1)


def cached_path(sha256: str) -> Optional[Path]:
    """Where the user's cache keeps this model's IR (None: no cache)."""
    from landscape.runtime import openvino_backend

    return cache_file("int8", f"{sha256}-openvino-{openvino_backend.version()}.xml")


def cached(sha256: str) -> Optional[Quantized]:
    """The model's IR and verdict in the user's cache, if they were made with this OpenVINO."""
    xml = cached_path(sha256)
    if xml is None or not xml.exists() or not xml.with_suffix(".bin").exists():
        return None
    verdict = read_record(xml.with_suffix(".json"), "passed")
    return Quantized(xml, verdict) if verdict else None


def checked_here(quantized: Quantized, shipped: Optional[dict[str, Any]], source: Any, info: ModelInfo, sha256: str,
                 threads: int) -> Quantized:
    """An IR with the verdict that holds on this CPU's kind: the one shipped for the kind
    (`shipped`: the manifest's record of a bundled model), the IR's own where it was checked on
    this kind, else the check of this IR against fp32 on the shipped held-out pictures, made
    here once and cached (int8 kernels differ with VNNI, AVX-512 or AMX, and so may the pictures)."""
    from landscape.runtime import calibration, openvino_backend
    from landscape.runtime.cpu import facts

    if shipped is not None and "int8" in shipped:
        return Quantized(quantized.graph, shipped["int8"])
    if quantized.verdict.get("kind") == facts().kind:
        return quantized
    record = cache_file("int8", f"{sha256}-{facts().kind_slug}-openvino-{openvino_backend.version()}.json")
    verdict = read_record(record, "passed")
    if verdict is None:
        calls = calibration.feeds(info, calibration.shipped_pictures()[1], seed=1)
        verdict = {**check(openvino_backend.as_model(source), openvino_backend.as_model(quantized.graph), info, calls, threads),
                   "calibration": "checked on this CPU's kind on pictures made by the bundled models"}
        write_record(record, verdict)
    return Quantized(quantized.graph, verdict)


def make(model_path: Path, fp32_model: Any, info: ModelInfo, sha256: str, threads: int,
         note: Callable[..., None]) -> Quantized:
    """Quantize on the shipped calibration pictures, check on the held-out ones, keep both in the
    cache (written whole or not at all). Tens of seconds, once per model and OpenVINO version."""
    import time

    from landscape.runtime import calibration

    try:
        import nncf  # noqa: F401
    except ImportError:
        raise ModelError(f"{model_path}: quantizing it to int8 needs NNCF: {INSTALL_HINT}") from None
    started = time.perf_counter()
    note(f"{model_path.name}: quantizing to int8 (once; kept in the cache)", once=True)
    calibrating, held_out = calibration.shipped_pictures()
    try:
        quantized = quantize(fp32_model, calibration.feeds(info, calibrating, seed=0))
    except Exception as exc:
        raise ModelError(f"{model_path}: int8 quantization failed ({first_line(exc)})") from None
    verdict = {**check(fp32_model, quantized, info, calibration.feeds(info, held_out, seed=1), threads),
               "calibration": "pictures made by the bundled models", "seconds": round(time.perf_counter() - started, 1)}
    xml = cached_path(sha256)
    if xml is None:  # no cache to keep it in: this process compiles it from memory, and leaves nothing
        return Quantized(quantized, verdict)
    _save(quantized, verdict, xml)
    return Quantized(xml, verdict)


def _save(model: Any, verdict: dict[str, Any], xml: Path) -> None:
    """The IR, whole, then the verdict: a reader that finds the verdict finds the whole model."""
    from landscape.imaging.outputs import atomic_write
    from landscape.runtime.openvino_backend import save_ir

    save_ir(model, xml)
    atomic_write(xml.with_suffix(".json"), json.dumps(verdict).encode())
