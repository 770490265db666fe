"""Where and how models run: the device, the backend (ONNX Runtime, or OpenVINO on the
CPU), the precision, the threads; and which models may run.

A model is checked before any image is touched: readable, carrying our metadata, made
for the task at hand, and (for bundled models) matching the sha256 manifest. Commands see
one interface, `Model` (run one call; the range changes around it), whichever backend runs it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from landscape.runtime import model_contract
from landscape.errors import ModelError, OpenVinoRefusal, UsageError
from landscape.runtime.external_data import check_external_data
from landscape.runtime.model_contract import ModelInfo

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
MANIFEST = "manifest.json"
# What a model says as it opens: note(text), or note(text, once=True) for what it did once
# (quantizing it), which a model kept open is not heard to say again.
OpeningNote = Callable[..., None]


def _ort():
    import onnxruntime

    return onnxruntime


def bundled_dir() -> Path:
    return Path(str(resources.files("landscape") / "models"))


def read_manifest() -> list[dict[str, Any]]:
    path = bundled_dir() / MANIFEST
    if not path.exists():
        return []
    return json.loads(path.read_text())["models"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model(task: str) -> Path:
    """The shipped default for `task`, checked against its manifest hash."""
    for entry in read_manifest():
        if entry["task"] == task and entry.get("default", True):
            return _checked(bundled_dir() / entry["file"], entry, task)
    raise ModelError(f"no bundled model for '{task}' in this version; pass --model FILE.onnx (make one with `landscape export`)")


def bundled_models(task: str) -> dict[int, Path]:
    """Every shipped model for `task` by the factor it makes (upscale: x4, the default, and x2),
    each checked against its manifest hash; other tasks have one, under 1."""
    default = bundled_model(task)
    models = {}
    for entry in read_manifest():
        if entry["task"] == task:
            path = default if entry.get("default", True) else _checked(bundled_dir() / entry["file"], entry, task)
            models[int(entry.get("scale", 1))] = path
    return models


def _checked(path: Path, entry: dict[str, Any], task: str) -> Path:
    if not path.exists():
        raise ModelError(f"bundled {task} model {entry['file']} is missing from the installation")
    if file_sha256(path) != entry["sha256"]:
        raise ModelError(f"bundled {task} model {path} does not match its sha256 in the manifest (damaged installation)")
    return path


@dataclass(frozen=True)
class Device:
    name: str  # "cpu" or "cuda"
    providers: tuple[Any, ...]
    threads: int
    backend: str = "auto"  # as asked: each model resolves it when it opens (load_model)
    precision: str = "auto"

    @property
    def ort_device(self) -> str:
        """Where ONNX Runtime keeps a bound output (OrtValue device names)."""
        return self.name

    def describe(self) -> str:
        if self.name == "cuda":
            return f"cuda (ONNX Runtime {_ort().__version__})"
        return f"cpu ({self.threads} threads)"


def _probe_model() -> bytes:
    return (resources.files("landscape.runtime") / "data" / "probe.onnx").read_bytes()


# Device nodes of the NVIDIA driver (bare metal, containers given a GPU, WSL2's /dev/dxg).
NVIDIA_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")


def _nvidia_driver_present() -> bool:
    """False where CUDA cannot run at all. Checked before the real probe, which loads the CUDA
    and cuDNN libraries: 0.3 s and over 200 MB of RSS spent for nothing on a CPU machine."""
    if not sys.platform.startswith("linux"):
        return True  # no cheap test elsewhere: let the probe decide
    return any(os.path.exists(node) for node in NVIDIA_DEVICE_NODES)


def _cuda_works() -> bool:
    """True when a CUDA session really runs: the provider being listed is not enough (the
    GPU build lists it on machines without CUDA libraries)."""
    if not _nvidia_driver_present():  # first: no ONNX Runtime import on a machine without a GPU
        return False
    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    # A failed CUDA load is expected on machines without a GPU: not news for the user. The
    # severity is process-wide, so it stays at errors-only afterwards rather than warnings.
    ort.set_default_logger_severity(4)
    try:
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # CUDA/cuDNN from the nvidia-* wheels (e.g. installed with torch)
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(_probe_model(), options, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        session.run(None, {"x": np.zeros((1, 1), np.float32)})
        return session.get_providers()[0] == "CUDAExecutionProvider"
    except Exception:
        return False
    finally:
        ort.set_default_logger_severity(3)


CUDA_INSTALL_HINT = "pip install 'onnxruntime-gpu[cuda,cudnn]', or the CUDA 13 and cuDNN 9 libraries of the system"


def cuda_problem() -> str:
    """Why CUDA does not run here, in one line that names what is missing."""
    import ctypes

    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"this ONNX Runtime ({ort.__version__}) has no CUDA provider: install onnxruntime-gpu instead of onnxruntime"
    if not _nvidia_driver_present():
        return f"no NVIDIA driver (none of {', '.join(NVIDIA_DEVICE_NODES)} exists)"
    if hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception:
            pass
    provider = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    for library in ([str(provider)] if provider.exists() else []) + ["libcudnn.so.9"]:
        try:
            ctypes.CDLL(library)
        except OSError as exc:
            missing = str(exc).split(":")[0].strip()
            return f"{missing} does not load ({CUDA_INSTALL_HINT})"
    return "a CUDA session did not start (the libraries load; check the driver's version with nvidia-smi)"


def check_placement_names(device: str, backend: str = "auto", precision: str = "auto") -> None:
    """UsageError unless each is one of its known values (what any machine can check)."""
    for flag, value, known in (("device", device, DEVICES), ("backend", backend, BACKENDS),
                               ("precision", precision, PRECISIONS)):
        if value not in known:
            raise UsageError(f"--{flag} must be one of {', '.join(known)}, got {value!r}")


def choose_device(device: str, threads: int = 0, backend: str = "auto", precision: str = "auto") -> Device:
    """The device, and the backend and precision asked for, checked against this machine:
    every combination that cannot run is a usage error here, before any model opens."""
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    check_placement_names(device, backend, precision)
    if threads < 0:
        raise UsageError("--threads must be >= 0 (0 = one per core)")
    threads = threads or os.cpu_count() or 1
    if backend == "openvino":
        if device == "cuda":
            raise UsageError("--backend openvino runs on the CPU; use --device cpu (or auto), or --backend onnxruntime for CUDA")
        if not openvino_backend.available():
            raise UsageError("--backend openvino: the openvino package is not installed (pip install openvino)")
    if precision == "bf16":
        if backend == "onnxruntime":
            raise UsageError("--precision bf16 needs --backend openvino (or auto): ONNX Runtime's CPU kernels have no bf16 convolutions")
        if device == "cuda":
            raise UsageError("--precision bf16 is a CPU precision (OpenVINO); on CUDA a model runs in the precision it was exported in")
        if not facts().has_bf16:
            raise UsageError(f"--precision bf16: this CPU ({facts().model}) has no bf16 units (AMX or AVX512-BF16); "
                             "use --precision fp32 or auto")
        if not openvino_backend.available():
            raise UsageError("--precision bf16: the openvino package is not installed (pip install openvino)")
    if precision == "int8":
        if backend == "onnxruntime" or device == "cuda":
            raise UsageError("--precision int8 runs on OpenVINO on the CPU; use --backend openvino (or auto) and --device cpu (or auto)")
        if not openvino_backend.available():
            raise UsageError("--precision int8: the openvino package is not installed (pip install openvino)")
    # bf16, int8 or OpenVINO asked for explicitly means the CPU, even where CUDA works.
    cpu_only = backend == "openvino" or precision in ("bf16", "int8")
    if device in ("auto", "cuda") and not cpu_only and _cuda_works():
        return Device("cuda", ("CUDAExecutionProvider", "CPUExecutionProvider"), threads, "onnxruntime", precision)
    if device == "cuda":
        raise UsageError(f"--device cuda: CUDA is not usable here: {cuda_problem()}; use --device cpu")
    return Device("cpu", ("CPUExecutionProvider",), threads, backend, precision)


@dataclass(frozen=True)
class SessionTuning:
    """ONNX Runtime session settings, each chosen by `benchmarks/session_options.py` (its
    figures are in docs/PERFORMANCE.md)."""

    level: str = "ORT_ENABLE_ALL"  # graph optimisation, with the CPU's NCHWc layouts
    arena: bool = True  # ONNX Runtime's CPU memory arena
    # Tasks whose activations are large (the upscaler's, at 4x the input's size): on tiled
    # pictures the arena keeps its power-of-two high-water mark for the whole run, on small ones
    # it saves an allocation per call, so they run without it only when some input has more
    # than arena_max_pixels (docs/PERFORMANCE.md, "ONNX Runtime session settings").
    no_arena_tasks: tuple[str, ...] = ("upscale",)
    arena_max_pixels: int = 256 * 256
    spinning: bool = True  # intra-op threads spin between kernels
    # Light models, whose pictures spend a large share of their time in decode and encode:
    # spinning threads would hold the cores the reader and writer threads need; the heavy
    # models keep it (docs/PERFORMANCE.md, "`--jobs` and spinning, end to end").
    no_spinning_tasks: tuple[str, ...] = ("translate", "label")
    # CUDA execution provider. cuDNN's exhaustive search times every algorithm once per new
    # input shape: worth it where shapes repeat (generator batches, equal upscale tiles), a
    # stall per picture where they do not (translate, label and inpaint see every size).
    exhaustive_conv_tasks: tuple[str, ...] = ("generate", "upscale")
    prefer_nhwc: bool = False  # cuDNN in channels-last layout (ORT inserts the transposes)
    cuda_arena_same_as_requested: bool = True  # grow the CUDA arena by what is asked, not in powers of two
    copy_in_default_stream: bool = True


TUNING = SessionTuning()


def cuda_provider_options(task: str, tuning: SessionTuning | None = None, *, graph: bool = False) -> dict[str, str]:
    tuning = tuning or TUNING
    options = {
        "cudnn_conv_algo_search": "EXHAUSTIVE" if task in tuning.exhaustive_conv_tasks else "HEURISTIC",
        "arena_extend_strategy": "kSameAsRequested" if tuning.cuda_arena_same_as_requested else "kNextPowerOfTwo",
        "do_copy_in_default_stream": "1" if tuning.copy_in_default_stream else "0",
    }
    if tuning.prefer_nhwc:
        options["prefer_nhwc"] = "1"
    if graph:
        options["enable_cuda_graph"] = "1"
    return options


def providers_for(device: Device, task: str, tuning: SessionTuning | None = None, *, graph: bool = False) -> list[Any]:
    """The device's providers, with the CUDA provider's options for this task."""
    return [("CUDAExecutionProvider", cuda_provider_options(task, tuning, graph=graph)) if p == "CUDAExecutionProvider"
            else p for p in device.providers]


def session_options(device: Device, tuning: SessionTuning | None = None, task: str = "",
                    largest_input: int | None = None) -> Any:
    """`largest_input`: the most pixels of any input the session will see, where the caller
    knows it (None: unknown, take the large-picture settings)."""
    tuning = tuning or TUNING
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, tuning.level)
    # Our graphs are chains: one operator at a time, each spread over the cores.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = device.threads
    options.inter_op_num_threads = 1
    small = largest_input is not None and largest_input <= tuning.arena_max_pixels
    options.enable_cpu_mem_arena = tuning.arena and (task not in tuning.no_arena_tasks or small)
    spinning = tuning.spinning and task not in tuning.no_spinning_tasks
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


class Model:
    """One opened model and what its metadata says about it; `run` is one inference call.
    Two backends implement it: OrtModel (ONNX Runtime, CPU or CUDA) and OpenVinoModel (CPU)."""

    backend = ""

    def __init__(self, path: Path, info: ModelInfo, device: Device, precision: str) -> None:
        self.path, self.info, self.device, self.precision = path, info, device, precision
        self.why = ""  # how the backend and precision were chosen, for notes and `landscape info`

    def run(self, **feeds: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run_bound(self, feeds: dict[str, Any], *, keep_on_device: bool) -> Any:
        """One call whose inputs may be another model's device-resident output, and whose
        output may stay on the device; on the host it is a plain call."""
        return self.run(**feeds)

    def describe(self) -> str:
        return f"{self.info.task}: {self.backend} {self.precision} on {self.device.name}" + (f" ({self.why})" if self.why else "")

    def to_input_range(self, unit: np.ndarray, name: str) -> np.ndarray:
        low, high = self.info.input(name).range or (0.0, 1.0)
        return unit * np.float32(high - low) + np.float32(low)

    def from_output_range(self, values: np.ndarray) -> np.ndarray:
        low, high = self.info.output.range or (0.0, 1.0)
        return np.clip((values - np.float32(low)) * np.float32(1.0 / (high - low)), 0.0, 1.0)


class OrtModel(Model):
    """One ONNX Runtime session."""

    backend = "onnxruntime"

    def __init__(self, path: Path, info: ModelInfo, session: Any, device: Device) -> None:
        super().__init__(path, info, device, str(info.raw.get("precision", "fp32")))
        self.session = session

    def run(self, **feeds: np.ndarray) -> np.ndarray:
        return self.session.run(None, {name: np.ascontiguousarray(v, dtype=np.float32) for name, v in feeds.items()})[0]

    def run_bound(self, feeds: dict[str, Any], *, keep_on_device: bool) -> Any:
        """One call through IO binding. Inputs are numpy arrays or OrtValues already on this
        model's device (another model's output); the output stays there as an OrtValue when
        `keep_on_device`, so that a chain of models makes no host round trip."""
        binding = self.session.io_binding()
        for name, value in feeds.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value, dtype=np.float32))
            else:
                binding.bind_ortvalue_input(name, value)
        binding.bind_output(self.session.get_outputs()[0].name, self.device.ort_device)
        self.session.run_with_iobinding(binding)
        value = binding.get_outputs()[0]
        return value if keep_on_device else value.numpy()


class OpenVinoModel(Model):
    """One model compiled by OpenVINO for the CPU (landscape.runtime.openvino_backend)."""

    backend = "openvino"

    def __init__(self, path: Path, info: ModelInfo, compiled: Any, device: Device, precision: str) -> None:
        super().__init__(path, info, device, precision)
        self.compiled = compiled

    def run(self, **feeds: np.ndarray) -> np.ndarray:
        return self.compiled.run({name: np.ascontiguousarray(v, dtype=np.float32) for name, v in feeds.items()})


class FixedShapeCall:
    """Calls of one model at one input shape through buffers that stay bound at fixed device
    addresses: each call copies the inputs into them and runs. That is what ONNX Runtime needs
    to capture a session built with `enable_cuda_graph` once and replay it afterwards; on a
    session without it (or on the CPU) it is a plain IO-bound call."""

    def __init__(self, model: "Model", shapes: dict[str, tuple[int, ...]], output_shape: tuple[int, ...]) -> None:
        ort = _ort()
        where = model.device.ort_device
        self.model, self.shapes = model, shapes
        self.inputs = {name: ort.OrtValue.ortvalue_from_shape_and_type(list(shape), np.float32, where, 0)
                       for name, shape in shapes.items()}
        self.output = ort.OrtValue.ortvalue_from_shape_and_type(list(output_shape), np.float32, where, 0)
        self.binding = model.session.io_binding()
        for name, value in self.inputs.items():
            self.binding.bind_ortvalue_input(name, value)
        self.binding.bind_ortvalue_output(model.session.get_outputs()[0].name, self.output)

    def __call__(self, **feeds: np.ndarray) -> np.ndarray:
        for name, value in feeds.items():
            if value.shape != self.shapes[name]:
                raise ValueError(f"{name}: shape {value.shape}, this call was bound for {self.shapes[name]}")
            self.inputs[name].update_inplace(np.ascontiguousarray(value, dtype=np.float32))
        self.model.session.run_with_iobinding(self.binding)
        return self.output.numpy()


class Rescale:
    """y = clip(x * scale + shift, low, high) on the device (landscape/runtime/data/rescale.onnx):
    one model's output range to the next one's input range without leaving the device."""

    def __init__(self, device: Device) -> None:
        ort = _ort()
        data = (resources.files("landscape.runtime") / "data" / "rescale.onnx").read_bytes()
        self.device = device
        self.session = ort.InferenceSession(data, session_options(device), providers=providers_for(device, "rescale"))

    def between(self, value: Any, source: tuple[float, float], target: tuple[float, float]) -> Any:
        (s_low, s_high), (t_low, t_high) = source, target
        scale = (t_high - t_low) / (s_high - s_low)
        consts = {"scale": np.array([scale], np.float32), "shift": np.array([t_low - s_low * scale], np.float32),
                  "low": np.array(t_low, np.float32), "high": np.array(t_high, np.float32)}
        binding = self.session.io_binding()
        binding.bind_ortvalue_input("x", value)
        for name, array in consts.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output("y", self.device.ort_device)
        self.session.run_with_iobinding(binding)
        return binding.get_outputs()[0]


def read_info(path: Path) -> ModelInfo:
    """Metadata only, without building a session for inference."""
    check_external_data(path)
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0]})") from None
    return model_contract.parse(session.get_modelmeta().custom_metadata_map, str(path))


def load_model(task: str | tuple[str, ...], path: str | os.PathLike | None, device: Device, *, graph: bool = False,
               largest_input: int | None = None, note: Callable[[str], None] | None = None) -> Model:
    """Resolve (given path or bundled default), validate and open a model for `task` with
    the device's backend and precision. `graph`: a CUDA session that captures its first
    fixed-shape call as a CUDA graph and replays it (call it only through one FixedShapeCall).
    `note` hears, in one line, when OpenVINO was meant to run the model and ONNX Runtime runs
    it instead."""
    tasks = (task,) if isinstance(task, str) else task
    if path is None:
        model_path = bundled_model(tasks[0])
    else:
        model_path = Path(path)
        if not model_path.is_file():
            from landscape.runtime import registry

            model_path = registry.resolve(str(path)) or model_path  # a pulled model's name
        if not model_path.is_file():
            raise ModelError(f"{model_path}: no such model file")
    tell = note or (lambda text: None)
    if _kept_open is None or graph:
        return _open_model(tasks, model_path, device, graph=graph, largest_input=largest_input,
                           note=lambda text, once=False: tell(text))
    resolved = model_path.resolve()
    file = resolved.stat()
    # largest_input tunes ONNX Runtime's memory arena only; OpenVINO, the CPU's default, ignores it.
    openvino_first = device.name == "cpu" and device.backend != "onnxruntime"
    key = (tasks, str(resolved), file.st_ino, file.st_size, file.st_mtime_ns, repr(device),
           None if openvino_first else largest_input)
    kept = _kept_open.pop(key, None)
    if kept is None:
        said: list[str] = []

        def record(text: str, once: bool = False) -> None:
            tell(text)
            if not once:  # what opening it says every time, not what it did once (quantizing)
                said.append(text)

        kept = (_open_model(tasks, model_path, device, graph=graph, largest_input=largest_input, note=record), said)
    else:
        for text in kept[1]:  # as the command alone would say them
            tell(text)
    _kept_open[key] = kept
    while len(_kept_open) > _keep_count:
        _kept_open.popitem(last=False)
    return kept[0]


_kept_open: OrderedDict[tuple, tuple[Model, list[str]]] | None = None
_keep_count = 0


def keep_models_open(count: int) -> None:
    """From now on keep the `count` models opened last open, for load_model calls with the same
    file (unchanged on disk), tasks and placement: a process that runs many commands
    (landscape serve) reads, checks and compiles each model once. The notes said as a model
    opens (a precision it cannot run, ONNX Runtime standing in for OpenVINO) are kept with it
    and said again at each command, as that command run alone would say them."""
    global _kept_open, _keep_count
    _kept_open, _keep_count = OrderedDict(), count


def _open_model(tasks: tuple[str, ...], model_path: Path, device: Device, *, graph: bool, largest_input: int | None,
                note: OpeningNote | None) -> Model:
    from landscape.runtime import openvino_backend

    check_external_data(model_path)
    why, refusal = "", ""
    if device.name == "cpu" and device.backend != "onnxruntime" and not graph:
        if openvino_backend.available():
            try:
                return _load_openvino(tasks, model_path, device, note or (lambda text: None))
            except OpenVinoRefusal as exc:
                refusal = f"OpenVINO cannot compile it ({exc.reason})"
                why = f"OpenVINO refused it: {refusal}"
        else:
            why = "openvino is not installed"
    # A file that neither backend reads gets ONNX Runtime's error alone; the note is for a
    # model that runs, only not with OpenVINO.
    model = _load_onnxruntime(tasks, model_path, device, graph=graph, largest_input=largest_input)
    if refusal and note is not None:
        note(f"{model_path.name}: {refusal}; running it with ONNX Runtime")
    model.why = why or ("CUDA" if device.name == "cuda" else "asked for" if device.backend == "onnxruntime" else "")
    return model


def _check_task(info: ModelInfo, tasks: tuple[str, ...], model_path: Path, graph_inputs: set[str]) -> None:
    if info.task not in tasks:
        raise ModelError(f"{model_path}: a '{info.task}' model cannot be used for '{'/'.join(tasks)}'")
    missing = [s.name for s in info.inputs if s.name not in graph_inputs]
    if missing:
        raise ModelError(f"{model_path}: metadata names input(s) {', '.join(missing)} that the graph does not have")


def _load_onnxruntime(tasks: tuple[str, ...], model_path: Path, device: Device, *, graph: bool,
                      largest_input: int | None) -> OrtModel:
    ort = _ort()
    try:
        session = ort.InferenceSession(str(model_path), session_options(device, task=tasks[0], largest_input=largest_input),
                                       providers=providers_for(device, tasks[0], graph=graph))
    except Exception as exc:
        raise ModelError(f"{model_path}: not a usable ONNX model ({str(exc).splitlines()[0]})") from None
    info = model_contract.parse(session.get_modelmeta().custom_metadata_map, str(model_path))
    _check_task(info, tasks, model_path, {i.name for i in session.get_inputs()})
    return OrtModel(model_path, info, session, device)


def _load_openvino(tasks: tuple[str, ...], model_path: Path, device: Device, note: OpeningNote) -> OpenVinoModel:
    from landscape.runtime import openvino_backend

    bundled = model_path.parent == bundled_dir()
    # A bundled file is parsed (a few milliseconds): its path's compilation could outlive a
    # reinstall that kept its size and time; a user's file is compiled from an IR copy of it.
    source, props, inputs = openvino_backend.open_source(model_path, None if bundled else model_sha256(model_path))
    info = model_contract.parse(props, str(model_path))
    _check_task(info, tasks, model_path, inputs)
    precision, graph, why = choose_precision(model_path, source, info, device, note)
    compiled = openvino_backend.compile_model(model_path, graph, precision, device.threads, sizes_vary=info.sizes_vary)
    model = OpenVinoModel(model_path, info, compiled, device, precision)
    model.why = why
    return model


def choose_precision(model_path: Path, source: Any, info: ModelInfo, device: Device,
                     note: OpeningNote) -> tuple[str, Any, str]:
    """The precision for this model on this CPU, what OpenVINO compiles for it (the int8 IR's
    path, or the float model's `source`: openvino_backend.open_source), and why. A precision runs only where the model passed its check
    against fp32 (landscape.runtime.bf16_check, landscape.runtime.int8); `auto` takes the fastest
    of those by a measurement on this CPU (landscape.runtime.precision_rates). `int8` asked for
    quantizes the model once when nothing shipped or cached has it; a model that fails its int8
    check runs in the precision `auto` would give it without int8, with a note."""
    from landscape.runtime import bf16_check, int8, openvino_backend, precision_rates
    from landscape.runtime.cpu import facts

    if device.precision in ("fp32", "bf16"):
        return device.precision, source, "asked for"
    sha256 = model_sha256(model_path)
    # A bundled model's verdicts and rates for this CPU's kind, where they were measured before
    # it shipped: then nothing is checked or measured here, and a first run costs what later do.
    kind = shipped_kind(model_path)
    # What each precision compiles, given when measured: paths (an IR copy, an int8 IR) are
    # compiled from the path, and read only for a fixed shape.
    graphs: dict[str, Callable[[], Any]] = {"fp32": lambda: source}
    reasons = []
    if facts().has_bf16:
        verdict = kind["bf16"] if kind and "bf16" in kind else bf16_check.verdict(source, info, sha256, device.threads)
        reasons.append(bf16_check.describe(verdict))
        if verdict["passed"]:
            graphs["bf16"] = lambda: source
    else:
        reasons.append("no bf16 units on this CPU")
    quantized = shipped_int8(model_path) or int8.cached(sha256)
    if quantized is not None and quantized.graph is not None:
        quantized = int8.checked_here(quantized, kind, source, info, sha256, device.threads)
    if device.precision == "int8":
        quantized = quantized or int8.make(model_path, openvino_backend.as_model(source), info, sha256, device.threads, note)
        if quantized.verdict["passed"]:
            return "int8", quantized.graph, f"asked for; {int8.describe(quantized.verdict)}"
        fallback = "bf16" if "bf16" in graphs else "fp32"
        note(f"{model_path.name}: {int8.describe(quantized.verdict)}; running it in {fallback}")
        return fallback, source, f"{int8.describe(quantized.verdict)}; {reasons[0]}"
    if quantized is not None:
        reasons.append(int8.describe(quantized.verdict))
        if quantized.verdict["passed"]:
            graphs["int8"] = lambda: quantized.graph
    if len(graphs) == 1:
        return "fp32", source, "; ".join(reasons)
    if kind and set(kind.get("ms", {})) == set(graphs):
        ms, where = kind["ms"], f"measured on this CPU's kind ({facts().kind}) before shipping"
    else:
        ms, where = precision_rates.rates(sha256, graphs, info, device.threads), "measured here"
    chosen = precision_rates.choose(ms)
    return chosen, quantized.graph if chosen == "int8" else source, f"{where}: {precision_rates.describe(ms, info)}; " + "; ".join(reasons)


def _bundled_entry(model_path: Path) -> dict[str, Any] | None:
    if model_path.parent != bundled_dir():
        return None
    return next((entry for entry in read_manifest() if entry.get("file") == model_path.name), None)


def shipped_kind(model_path: Path) -> dict[str, Any] | None:
    """What was measured for a bundled model on a CPU of this kind with this OpenVINO release
    before it shipped (`python -m scripts.int8_bundled --write` records the kind it runs on):
    its bf16 and int8 verdicts and its precisions' rates. None for other models and kinds."""
    from landscape.runtime import openvino_backend
    from landscape.runtime.cpu import facts

    record = ((_bundled_entry(model_path) or {}).get("kinds") or {}).get(facts().kind)
    return record if isinstance(record, dict) and record.get("openvino") == openvino_backend.release() else None


def shipped_int8(model_path: Path) -> Any:
    """A bundled model's int8 verdict on held-out photos and its IR (an int8.Quantized; the IR,
    checked against the manifest's sha256, only where the check passed); None for other models."""
    from landscape.runtime.int8 import Quantized

    entry = _bundled_entry(model_path)
    if entry is None or "int8" not in entry:
        return None
    record = entry["int8"]
    if "file" not in record:  # failed on photos: not to be quantized again on lesser pictures
        return Quantized(None, record["check"])
    xml = bundled_dir() / record["file"]
    for path, digest in ((xml, record["sha256"]), (xml.with_suffix(".bin"), record["bin_sha256"])):
        if not path.exists() or file_sha256(path) != digest:
            raise ModelError(f"bundled int8 model {path} is missing or does not match its sha256 in the manifest "
                             "(damaged installation)")
    return Quantized(xml, record["check"])


def model_sha256(model_path: Path) -> str:
    """The model file's sha256: the manifest's for a bundled model (bundled_model checked it
    against the file), else read once per file version."""
    entry = _bundled_entry(model_path)
    return entry["sha256"] if entry is not None else file_sha256(model_path)


def file_sha256(path: Path) -> str:
    """sha256_file, read once per file version in a process (API users open models many times)."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(Path(path))
