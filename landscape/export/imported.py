"""Published restoration weights -> verified ONNX with our metadata: the super-resolution and
inpainting networks that spandrel (chaiNNer's loader) recognises from a state dict alone.

The file is read by the project's one safe reader (safetensors, or torch's weights-only
unpickler, which refuses any pickle that would build arbitrary objects), unwrapped from the
usual containers (BasicSR's `params_ema`/`params`, `state_dict`, ...) by spandrel, and the
network spandrel builds is exported, checked against PyTorch at two sizes (one of odd
dimensions, where shape arithmetic traced as a constant would show; inpainters at a third,
larger one) and, with fp16, against fp32. LaMa's Fourier units are first rewritten without FFT
operators (landscape/export/fourier.py), so that OpenVINO runs the file too; parity is always
measured against the network as published, FFTs and all. The TorchScript exporter comes
first; what it cannot take goes through the torch.export-based exporter. Nothing is written
unless every check passes.
"""
from __future__ import annotations

import copy
import math
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from landscape.export import parity
from landscape.export.fourier import without_fft
from landscape.export.exporter import ExportReport, set_metadata, to_fp16
from landscape.export.parity import ExportError
from landscape import __version__
from landscape.errors import UsageError
from landscape.runtime.model_contract import SCHEMA_VERSION
from landscape.imaging.outputs import atomic_write
from landscape.runtime.sessions import sha256_file

WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
FP32_ATOL = 2e-3  # outputs span [0, 1]
FP16_ATOL = 0.05
# An imported inpainter's windows at full resolution (window_sides in its metadata): a hole gets
# at least 512 px of context, and up to 1024 px a side is run as it is, since LaMa's Fourier
# units see the whole window and it fills best at the photo's own resolution; a window past
# that is shrunk to it (1024 px: 6.6 s in OpenVINO bf16 on 2 cores of an AVX512-BF16 EPYC,
# docs/PERFORMANCE.md, "LaMa").
INPAINT_WINDOWS = (512, 1024)
SR_NATIVE = 64


@dataclass(frozen=True)
class Imported:
    """What spandrel found, in our terms."""

    net: torch.nn.Module
    task: str  # upscale | inpaint
    family: str  # spandrel's architecture id, e.g. ESRGAN, Compact, SPAN, LaMa
    name: str  # its display name
    scale: int
    channels: int
    multiple: int
    minimum: int
    square: bool


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    from landscape.trainers.checkpoint import WeightsError, read_weights

    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        state = read_weights(path)
    except WeightsError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return _generator_of(state)


def _generator_of(state: dict) -> dict:
    """A GAN's training checkpoint (LaMa's best.ckpt: `state_dict` holding `generator.*` beside
    the discriminator's and the losses' networks) -> the generator's weights, which are what
    the loader knows; any other dict as it is."""
    inner = state.get("state_dict")
    weights = inner if isinstance(inner, dict) else state
    generator = {k: v for k, v in weights.items() if isinstance(k, str) and k.startswith("generator.")}
    return generator if generator and len(generator) < len(weights) else state


def _with_extra_architectures() -> None:
    """spandrel's extra architectures (MAT, ...), where `landscape[extra]` installed them:
    their code is MIT, but several of their published weights are for non-commercial use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its modules call torch.jit.script at import, which warns of deprecation
        try:
            import spandrel_extra_arches
        except ImportError:
            return
        spandrel_extra_arches.install(ignore_duplicates=True)


def identify(path: Path, state: dict[str, torch.Tensor]) -> Imported:
    import spandrel

    _with_extra_architectures()
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        known = ", ".join(sorted(a.architecture.id for a in spandrel.MAIN_REGISTRY.architectures()))
        raise UsageError(f"{path}: not a network spandrel {spandrel.__version__} recognises (looked for: {known})") from None
    except Exception as exc:  # a known architecture whose weights do not fit it
        raise UsageError(f"{path}: spandrel could not load it ({str(exc).splitlines()[0][:200]})") from None
    task = "inpaint" if isinstance(descriptor, spandrel.MaskedImageModelDescriptor) else "upscale"
    if descriptor.input_channels not in (3, 4) or descriptor.output_channels != 3:
        raise UsageError(f"{path}: {descriptor.architecture.name} with {descriptor.input_channels} input and "
                         f"{descriptor.output_channels} output channels; only RGB models are supported")
    req = descriptor.size_requirements
    return Imported(descriptor.model.eval().float(), task, descriptor.architecture.id, descriptor.architecture.name,
                    int(descriptor.scale), 3, int(req.multiple_of), int(req.minimum), bool(req.square))


class _Signature(torch.nn.Module):
    """The network with our input names and order: image (and mask) in [0, 1] -> image."""

    def __init__(self, net: torch.nn.Module, inpaint: bool) -> None:
        super().__init__()
        self.net, self.inpaint = net, inpaint

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(image, mask) if self.inpaint else self.net(image)


def parity_sizes(model: Imported) -> list[tuple[int, int]]:
    """Two sizes the network accepts: one even, one whose sides are odd multiples of its
    multiple (where a padding amount traced as a constant gives a wrong answer)."""
    m = model.multiple
    base = max(m, math.ceil(max(model.minimum, 16) / m) * m)
    if m >= 64:  # a network of large fixed steps (MAT: 512): its own size and the next
        return [(base, base), (base + m, base + m)]
    first = (base + 2 * m, base + 2 * m) if model.square else (base + 2 * m, base + 4 * m)
    second = (base + 3 * m, base + 3 * m) if model.square else (base + 3 * m, base + 5 * m)
    if model.task == "inpaint":  # features of odd sizes at 1/8 (LaMa's Fourier units), of a photo's proportions
        return [first, second, (17 * m, 29 * m)]
    return [first, second]


def examples(model: Imported, size: tuple[int, int], gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    h, w = size
    image = torch.rand(1, 3, h, w, generator=gen)
    if model.task == "upscale":
        return (image,)
    mask = torch.zeros(1, 1, h, w)
    mask[:, :, h // 4 : h // 2, w // 3 : (2 * w) // 3] = 1.0
    return image, mask


def _names(model: Imported) -> tuple[list[str], list[str]]:
    return (["image", "mask"] if model.task == "inpaint" else ["image"]), ["image_out"]


def _export_torchscript(wrapper, model: Imported, inputs, opset: int, path: Path) -> None:
    names, outputs = _names(model)
    axes = {n: {0: "batch", 2: "height", 3: "width"} for n in names + outputs}
    torch.onnx.export(wrapper, inputs, str(path), dynamo=False, opset_version=opset, input_names=names,
                      output_names=outputs, dynamic_axes=axes, do_constant_folding=True)


def _export_dynamo(wrapper, model: Imported, inputs, opset: int, path: Path) -> None:
    names, outputs = _names(model)
    h, w = torch.export.Dim("height", min=4, max=16384), torch.export.Dim("width", min=4, max=16384)
    shapes = {"image": {2: h, 3: w}}
    if model.task == "inpaint":
        shapes["mask"] = {2: h, 3: w}
    program = torch.onnx.export(wrapper, inputs, dynamo=True, opset_version=max(opset, 18), input_names=names,
                                output_names=outputs, dynamic_shapes=shapes, verbose=False)
    program.save(str(path))


def _parity(proto: onnx.ModelProto, wrapper, cases) -> float:
    session = parity.session(proto.SerializeToString())
    names = [i.name for i in session.get_inputs()]
    worst = 0.0
    with torch.no_grad():
        for size, inputs in cases:
            expected = wrapper(*inputs).numpy()
            got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
            worst = max(worst, parity.max_diff(got, expected, f"at {size[0]}x{size[1]}"))
    return worst


def export_published(source: Path, output: Path, *, task: str | None = None, fp16: bool = False,
                     opset: int = 17) -> ExportReport:
    start = time.perf_counter()
    model = identify(source, read_state_dict(source))
    if task is not None and task != model.task:
        raise UsageError(f"{source}: a {model.task} network ({model.name}), not {task}")
    reference = _Signature(model.net, model.task == "inpaint").eval()
    wrapper = reference
    rewritten = 0
    if model.family == "LaMa":
        net = copy.deepcopy(model.net)
        rewritten = without_fft(net)
        wrapper = _Signature(net, True).eval()
    gen = torch.Generator().manual_seed(parity.PARITY_SEED)
    cases = [(size, examples(model, size, gen)) for size in parity_sizes(model)]
    failures = []
    proto, route, fp32_diff = None, "", math.inf
    routes = [("torchscript", _export_torchscript), ("dynamo", _export_dynamo)]
    for route, export_fn in routes:
        with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                export_fn(wrapper, model, cases[0][1], opset, Path(tmp) / "model.onnx")
                proto = onnx.load(str(Path(tmp) / "model.onnx"))
                onnx.checker.check_model(proto)
                fp32_diff = _parity(proto, reference, cases)
            except ExportError as exc:
                failures.append(f"{route}: {exc}")
                proto = None
                continue
            except Exception as exc:  # the exporters raise anything from tracing errors to missing operators
                failures.append(f"{route}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__}")
                proto = None
                continue
        if fp32_diff <= FP32_ATOL:
            break
        failures.append(f"{route}: differs from PyTorch by {fp32_diff:.2e} (> {FP32_ATOL:.0e})")
        proto = None
    if proto is None:
        raise ExportError(f"{source}: {model.name} does not export to ONNX ({'; '.join(failures)})")
    record = {"fp32_max_abs_diff": fp32_diff, "fp32_atol": FP32_ATOL, "cases": [list(s) for s, _ in cases],
              "seed": parity.PARITY_SEED, "exporter": route,
              **({"fourier_units": f"{rewritten} as matrix products (no DFT operators)"} if rewritten else {})}
    written_diff = fp32_diff
    if fp16:
        proto = to_fp16(proto)
        fp16_diff = _parity(proto, reference, cases)
        if fp16_diff > FP16_ATOL:
            raise ExportError(f"{source}: the fp16 model differs from PyTorch fp32 by {fp16_diff:.2e} (> {FP16_ATOL:.0e})")
        record.update({"fp16_max_abs_diff": fp16_diff, "fp16_atol": FP16_ATOL})
        written_diff = fp16_diff
    write_metadata(proto, model, source, fp16, opset if route == "torchscript" else max(opset, 18), record)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, proto.SerializeToString())
    return ExportReport(output, output.stat().st_size, model.family, model.task, "fp16" if fp16 else "fp32",
                        written_diff, time.perf_counter() - start)


def write_metadata(proto: onnx.ModelProto, model: Imported, source: Path, fp16: bool, opset: int, record: dict) -> None:
    import spandrel

    unit = [0.0, 1.0]
    image = {"name": "image", "shape": ["batch", 3, "height", "width"], "range": unit}
    inputs = [image] + ([{"name": "mask", "shape": ["batch", 1, "height", "width"], "range": unit}]
                        if model.task == "inpaint" else [])
    out_shape = ["batch", 3, "height", "width"] if model.scale == 1 else ["batch", 3, f"{model.scale}*height", f"{model.scale}*width"]
    native = INPAINT_WINDOWS[0] if model.task == "inpaint" else max(SR_NATIVE, model.minimum)
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "task": model.task,
        "family": model.family,
        "arch": model.name,
        "network": {"loader": f"spandrel {spandrel.__version__}", "architecture": model.family,
                    "min_size": model.minimum, "square": model.square},
        "inputs": inputs,
        "outputs": [{"name": "image_out", "shape": out_shape, "range": unit}],
        "native_size": [native, native],
        "size_multiple": model.multiple,
        "dynamic_hw": True,
        "precision": "fp16" if fp16 else "fp32",
        "training": {"source_file": source.name, "source_sha256": sha256_file(source),
                     "note": "published weights; their licence travels with them"},
        "package_version": __version__,
        "opset": opset,
        "parity": record,
        **({"scale": model.scale} if model.task == "upscale"
           else {"mask_semantics": "1 = hole", "window_sides": list(INPAINT_WINDOWS)}),
    }
    set_metadata(proto, metadata)


def is_published_weights(path: Path) -> bool:
    """A file `landscape export` should import rather than read as our checkpoint: any
    weights file but a safetensors file that carries a landscape config."""
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        return False
    if path.suffix.lower() != ".safetensors":
        return True
    from landscape.trainers.checkpoint import CheckpointError, read_config

    try:
        read_config(path)
    except CheckpointError:
        return True
    return False
