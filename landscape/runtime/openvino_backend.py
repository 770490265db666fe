"""OpenVINO: the CPU backend. Reads the same ONNX files as ONNX Runtime, with the same
metadata; runs them in fp32 or, on CPUs with AMX or AVX512-BF16, in bf16.

The precision hint is always set: left alone, OpenVINO picks bf16 by itself on such CPUs,
including AMD parts where public reports show corrupted bf16 results.

Shapes: a model is compiled once for any shape, and again for a shape whose calls have taken
PAYBACK times what that compilation took (module comment below). Compiled models are cached on
disk under the user's cache folder, so a second start-up compiles in a third of the time.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from landscape.errors import OpenVinoRefusal, first_line

FIXED_SHAPES_KEPT = 8
# A fixed-shape compilation runs 4-9 % faster than the any-shape one on small, quick calls (the
# bundled upscaler's tiles and batches) and no faster on large ones (LaMa on a photo: the
# any-shape one keeps its kernels per shape), while compiling LaMa takes 1.2-2.6 s from the disk
# cache and 3-11 s without. So a shape gets its own once its calls have taken this many times
# the model's compile time: never more than a fifteenth of that time spent for nothing, and
# repaid when the shape keeps coming (docs/PERFORMANCE.md, "LaMa: where int8 lost its lead").
PAYBACK = 15
# int8: the quantized layers run in int8 whatever the hint; the float ones (first, last,
# resampling: landscape.runtime.int8) in fp32, as the int8 check measured them.
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except Exception:  # a broken install counts as absent: ONNX Runtime takes over
        return False
    return True


def version() -> str:
    import openvino

    return openvino.__version__.split("-")[0]


_CORE = None


def core() -> Any:
    """One OpenVINO Core per process, with the disk cache of compiled models."""
    global _CORE
    if _CORE is None:
        import openvino

        from landscape.runtime.cache import cache_dir

        _CORE = openvino.Core()
        folder = cache_dir("openvino")
        if folder is not None:
            _CORE.set_property({"CACHE_DIR": str(folder)})
    return _CORE


def read(path: Path) -> tuple[Any, dict[str, str]]:
    """The parsed model and its metadata strings (ONNX `metadata_props`), or OpenVinoRefusal."""
    try:
        model = core().read_model(str(path))
    except Exception as exc:
        raise OpenVinoRefusal(path, f"reading: {first_line(exc)}") from None
    rt_info = model.get_rt_info()
    framework = rt_info["framework"] if "framework" in rt_info else {}
    return model, {key: framework[key].astype(str) for key in framework}


def compile_config(precision: str, threads: int) -> dict[str, Any]:
    return {"INFERENCE_PRECISION_HINT": HINTS[precision], "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY"}


class Compiled:
    """Compilations of one model: any-shape, and fixed shapes for the shapes that pay for one."""

    def __init__(self, model: Any, config: dict[str, Any]) -> None:
        self.model, self.config = model, config
        start = time.perf_counter()
        self.dynamic: Any = core().compile_model(model, "CPU", config).create_infer_request()
        self.compile_seconds = time.perf_counter() - start
        self.spent: dict[tuple, float] = {}  # seconds each shape has taken on the any-shape one
        self.fixed: OrderedDict[tuple, Any] = OrderedDict()

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        key = tuple((name, value.shape) for name, value in feeds.items())
        if key in self.fixed:
            self.fixed.move_to_end(key)
            return np.array(self.fixed[key].infer(feeds)[0], copy=True)
        if self.dynamic is None:
            self.dynamic = core().compile_model(self.model, "CPU", self.config).create_infer_request()
        start = time.perf_counter()
        output = np.array(self.dynamic.infer(feeds)[0], copy=True)
        self.spent[key] = self.spent.get(key, 0.0) + time.perf_counter() - start
        if self.spent[key] >= PAYBACK * self.compile_seconds:
            self._fix(key)
        return output

    def _fix(self, key: tuple) -> None:
        fixed_model = self.model.clone()
        fixed_model.reshape({name: list(shape) for name, shape in key})
        self.fixed[key] = core().compile_model(fixed_model, "CPU", self.config).create_infer_request()
        if len(self.fixed) > FIXED_SHAPES_KEPT:
            self.fixed.popitem(last=False)
        # The any-shape compilation holds its own weights and the buffers of the largest call it
        # ran (180 MB of the main job's peak for its two models): let go while known shapes
        # come, compiled again (from the disk cache) for the next new one.
        self.dynamic = None


def compile_model(path: Path, model: Any, precision: str, threads: int) -> Compiled:
    """The read model compiled, or OpenVinoRefusal with OpenVINO's own first line."""
    try:
        return Compiled(model, compile_config(precision, threads))
    except Exception as exc:
        raise OpenVinoRefusal(path, first_line(exc)) from None
