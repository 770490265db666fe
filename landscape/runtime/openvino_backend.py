"""OpenVINO: the CPU backend. Reads the same ONNX files as ONNX Runtime, with the same
metadata; runs them in fp32 or, on CPUs with AMX or AVX512-BF16, in bf16.

The precision hint is always set: left alone, OpenVINO picks bf16 by itself on such CPUs,
including AMD parts where public reports show corrupted bf16 results.

Shapes: a model is compiled once for any shape (so that it is known to compile, and so that a
one-off size costs nothing more), and again for each shape it meets a second time, with a
few such fixed-shape compilations kept: fixed shapes run 4-9 % faster on the bundled upscaler,
and the tilers and batchers repeat their shapes. Not for a model whose sizes vary (LaMa's
windows follow the holes): there a fixed shape runs no faster, and compiling LaMa for one took
6-15 s for a size that seldom came again. The any-shape compilation is let go while only known
shapes come. Compiled models are cached on disk under the user's cache folder, so a second
start-up compiles in a third of the time.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from landscape.errors import OpenVinoRefusal, first_line

FIXED_SHAPES_KEPT = 8
# int8: the quantized layers run in int8 whatever the hint; the float ones (first, last,
# resampling: landscape.runtime.int8) in fp32, as the int8 check measured them.
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def openvino() -> Any:
    """The openvino module, imported without the model converter that its __init__ imports for
    `openvino.convert_model` (openvino.tools.ovc, with its telemetry, urllib and http.client:
    110 ms of a 170 ms import, paid by every command), which landscape never calls. The name
    stays: `openvino.convert_model` imports the converter when called."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    converter = "openvino.tools.ovc"
    blocked = converter not in sys.modules
    if blocked:
        sys.modules[converter] = None  # type: ignore[assignment]  # its import fails; openvino goes on without it
    try:
        import openvino
    finally:
        if blocked and sys.modules.get(converter, False) is None:
            del sys.modules[converter]
    if not hasattr(openvino, "convert_model"):
        def convert_model(*args: Any, **kwargs: Any) -> Any:
            from openvino.tools.ovc import convert_model as convert

            return convert(*args, **kwargs)

        openvino.convert_model = convert_model
    return openvino


def available() -> bool:
    try:
        openvino()
    except Exception:  # a broken install counts as absent: ONNX Runtime takes over
        return False
    return True


def version() -> str:
    return openvino().__version__.split("-")[0]


def release() -> str:
    """major.minor: what verdicts measured with another patch release of it still hold for."""
    return ".".join(version().split(".")[:2])


_CORE = None


def core() -> Any:
    """One OpenVINO Core per process, with the disk cache of compiled models."""
    global _CORE
    if _CORE is None:
        from landscape.runtime.cache import cache_dir

        _CORE = openvino().Core()
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


def open_source(path: Path, sha256: str | None) -> tuple[Any, dict[str, str], set[str]]:
    """What to compile for the ONNX file `path`, its metadata strings and its input names.

    With `sha256` (a user's file), the file is written once into the cache as an IR named by
    its sha256 and this OpenVINO's version, with its metadata and inputs beside it, and the IR's
    path is returned: OpenVINO compiles a path from its disk cache without reading the model,
    and a path whose name is its content's hash cannot go stale (OpenVINO knows a path's
    compilation by its size and time). LaMa's 205 MB took 0.6-0.8 s to parse at every start.
    Without, or where the cache cannot be written, the parsed model."""
    from landscape.runtime.cache import cache_file, read_record, write_record

    xml = cache_file("openvino-ir", f"{sha256}-openvino-{version()}.xml") if sha256 else None
    record = read_record(xml.with_suffix(".json"), "metadata") if xml else None
    if record and xml.exists() and xml.with_suffix(".bin").exists():
        return xml, record["metadata"], set(record["inputs"])
    model, metadata = read(path)
    inputs = {name for port in model.inputs for name in port.get_names()}
    if xml is None:
        return model, metadata, inputs
    try:
        save_ir(model, xml)
    except Exception:  # a full or read-only cache: this start parses, as the next will
        return model, metadata, inputs
    write_record(xml.with_suffix(".json"), {"metadata": metadata, "inputs": sorted(inputs)})
    return xml, metadata, inputs


def save_ir(model: Any, xml: Path) -> None:
    """The model as an IR under temporary names of its own (two threads or processes may save the
    same model at once), renamed .bin before .xml: a reader that finds the .xml finds the whole
    model (records beside it are written after)."""
    fd, name = tempfile.mkstemp(dir=xml.parent, prefix=f".{xml.stem}.", suffix=".tmp")
    os.close(fd)
    stem = Path(name)
    try:
        openvino().save_model(model, str(stem) + ".xml", compress_to_fp16=False)
        os.replace(str(stem) + ".bin", xml.with_suffix(".bin"))
        os.replace(str(stem) + ".xml", xml)
    finally:
        for path in (stem, Path(str(stem) + ".xml"), Path(str(stem) + ".bin")):
            path.unlink(missing_ok=True)


def as_model(source: Any) -> Any:
    """A read model, from a source open_source gave (read now where it is a path)."""
    return core().read_model(str(source)) if isinstance(source, Path) else source


def compile_config(precision: str, threads: int, *, sizes_vary: bool = False) -> dict[str, Any]:
    config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if sizes_vary and precision == "int8":
        # The any-shape compilation keeps the kernels it prepares for each new size, int8 ones
        # with their own copy of the repacked weights: LaMa in int8 grew by 200 MB a size (a
        # folder of photos of many sizes would run out of memory), bf16 by 15 MB. Kept for
        # none, int8 LaMa stays at 1.1 GB, and a repeated size runs 15-20 % slower.
        config["CPU_RUNTIME_CACHE_CAPACITY"] = 0
    return config


class Compiled:
    """Compilations of one model: any-shape, and fixed shapes for the shapes that repeat (none
    for a model whose sizes vary: ModelInfo.sizes_vary)."""

    def __init__(self, source: Any, precision: str, threads: int, *, sizes_vary: bool = False) -> None:
        """`source`: a read model, or the path of an IR file that landscape owns (shipped, or
        in its cache under a content-derived name). From the path, OpenVINO takes its disk
        cache's compilation without reading the model (the bundled int8 upscaler: 0.16 s
        against 0.19-0.22 s read and compiled), which is read only for a fixed shape. Not for
        a user's ONNX file: OpenVINO keys a path's compilation by the file's size and time,
        not its content, so a file replaced by another of the same size could run stale."""
        self.source, self._model = source, None if isinstance(source, Path) else source
        self.config = compile_config(precision, threads, sizes_vary=sizes_vary)
        self.fix_shapes = not sizes_vary
        self.dynamic: Any = self._any_shape()
        self.seen: set[tuple] = set()
        self.fixed: OrderedDict[tuple, Any] = OrderedDict()

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = as_model(self.source)
        return self._model

    def _any_shape(self) -> Any:
        source = str(self.source) if isinstance(self.source, Path) else self.source
        return core().compile_model(source, "CPU", self.config).create_infer_request()

    def request(self, feeds: dict[str, np.ndarray]) -> Any:
        key = tuple((name, value.shape) for name, value in feeds.items())
        if key in self.fixed:
            self.fixed.move_to_end(key)
            return self.fixed[key]
        if key not in self.seen or not self.fix_shapes:
            self.seen.add(key)
            if self.dynamic is None:
                self.dynamic = self._any_shape()
            return self.dynamic
        # The any-shape compilation holds its own weights and the buffers of the largest call it
        # ran (170 MB of the main job's peak for its two models); released once a shape has its
        # own, and compiled again (from the disk cache) for the next new shape.
        self.dynamic = None
        fixed_model = self.model.clone()
        fixed_model.reshape({name: list(shape) for name, shape in key})
        request = core().compile_model(fixed_model, "CPU", self.config).create_infer_request()
        self.fixed[key] = request
        if len(self.fixed) > FIXED_SHAPES_KEPT:
            self.fixed.popitem(last=False)
        return request

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        outputs = self.request(feeds).infer(feeds)
        return np.array(outputs[0], copy=True)


def compile_model(path: Path, source: Any, precision: str, threads: int, *, sizes_vary: bool = False) -> Compiled:
    """The read model (or IR file) compiled, or OpenVinoRefusal with OpenVINO's own first line."""
    try:
        return Compiled(source, precision, threads, sizes_vary=sizes_vary)
    except Exception as exc:
        raise OpenVinoRefusal(path, first_line(exc)) from None
