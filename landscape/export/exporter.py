"""Export a checkpoint to ONNX and prove the file computes what the checkpoint does."""
from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from landscape.export import parity
from landscape.export.parity import ExportError
from landscape.export.specs import SPECS
from landscape import __version__
from landscape.errors import UsageError
from landscape.runtime.model_contract import SCHEMA_VERSION, encode, parse
from landscape.imaging.outputs import atomic_write
from landscape.runtime.sessions import sha256_file
from landscape.trainers.checkpoint import CheckpointError
from landscape.trainers.networks import config_to_dict, get_family, network_from_checkpoint

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    path: Path
    size_bytes: int
    family: str
    task: str
    precision: str
    max_abs_diff: float  # of the written file against PyTorch fp32
    seconds: float

    def summary(self) -> str:
        return (
            f"{self.path}: {self.task} ({self.family}, {self.precision}), {self.size_bytes / 1e6:.1f} MB, "
            f"max abs diff vs PyTorch {self.max_abs_diff:.2e}, {self.seconds:.1f}s"
        )


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxconverter_common import float16

    # float32 inputs and outputs stay, so callers never see the precision of the file.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-constant notices of values rounded to fp16
        return float16.convert_float_to_float16(model, keep_io_types=True)


def set_metadata(model: onnx.ModelProto, metadata: dict) -> None:
    """Replace the file's metadata_props with ours (landscape/runtime/model_contract.py reads them),
    with the verdict of the model's bf16 check against fp32 (landscape.runtime.bf16_check), which
    decides whether `--precision auto` may run it in bf16."""
    from landscape.runtime import bf16_check

    def write(values: dict) -> None:
        del model.metadata_props[:]
        for key, value in encode(values).items():
            model.metadata_props.add(key=key, value=value)

    write(metadata)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        record = bf16_check.record_for(path, parse(encode(metadata), str(path)))
    write({**metadata, bf16_check.METADATA_KEY: record})


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, *, fp16: bool = False,
                      opset: int = DEFAULT_OPSET) -> ExportReport:
    """Checkpoint -> ONNX file at `output`, written only once every check has passed."""
    checkpoint = Path(checkpoint)
    try:
        net, config, ckpt = network_from_checkpoint(checkpoint)
        family = get_family(ckpt["family"])
    except (CheckpointError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise UsageError(f"{checkpoint}: cannot rebuild the network ({exc})") from None
    training = {"step": ckpt.get("step", 0), "data": ckpt.get("data", "unknown"), "checkpoint": checkpoint.name,
                "checkpoint_sha256": sha256_file(checkpoint)}
    return export_network(net, config, family.name, output, training=training, source=checkpoint, fp16=fp16, opset=opset)


def export_network(net: torch.nn.Module, config, family_name: str, output: str | os.PathLike, *, training: dict,
                   source: Path, fp16: bool = False, opset: int = DEFAULT_OPSET) -> ExportReport:
    """A network of one of our families -> ONNX file at `output`, written only once every check
    has passed; `training` says where its weights came from, `source` names it in errors."""
    start = time.perf_counter()
    output, family = Path(output), get_family(family_name)
    if not 7 <= opset <= 23:
        raise UsageError(f"--opset {opset} is out of the supported range 7..23")
    net.eval()
    spec = SPECS[family.name]
    cases = parity.cases(spec, config)

    with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        raw_path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            net, cases[0][1], str(raw_path), dynamo=False, opset_version=opset,
            input_names=[s.name for s in spec.inputs(config)], output_names=[spec.output(config).name],
            dynamic_axes=spec.dynamic_axes(config), do_constant_folding=True,
        )
        model = onnx.load(str(raw_path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{source}: the exported graph fails onnx.checker ({str(exc).splitlines()[0]})") from None

    session = parity.session(model.SerializeToString())
    expected, fp32_outputs, fp32_diff = [], [], 0.0
    with torch.no_grad():
        for case, inputs in cases:
            torch_out = net(*inputs).numpy()
            ort_out = parity.run(session, spec, config, inputs)
            fp32_diff = max(fp32_diff, parity.max_diff(ort_out, torch_out, f"fp32 at {case}"))
            expected.append(torch_out)
            fp32_outputs.append(ort_out)
    if fp32_diff > spec.fp32_atol:
        raise ExportError(f"{source}: ONNX Runtime differs from PyTorch by {fp32_diff:.2e} (> {spec.fp32_atol:.0e})")

    record = {"fp32_max_abs_diff": fp32_diff, "fp32_atol": spec.fp32_atol,
              "cases": [list(case) for case, _ in cases], "seed": parity.PARITY_SEED}
    written_diff = fp32_diff
    if fp16:
        model = to_fp16(model)
        session16 = parity.session(model.SerializeToString())
        fp16_diff = 0.0
        for (case, inputs), ref32, ref_torch in zip(cases, fp32_outputs, expected):
            out16 = parity.run(session16, spec, config, inputs)
            fp16_diff = max(fp16_diff, parity.max_diff(out16, ref32, f"fp16 at {case}"))
            written_diff = max(written_diff, parity.max_diff(out16, ref_torch, f"fp16 at {case}"))
        if fp16_diff > spec.fp16_atol:
            raise ExportError(f"{source}: the fp16 model differs from fp32 by {fp16_diff:.2e} (> {spec.fp16_atol:.0e})")
        record.update({"fp16_max_abs_diff": fp16_diff, "fp16_atol": spec.fp16_atol})

    metadata = {
        "schema_version": SCHEMA_VERSION,
        "task": family.task,
        "family": family.name,
        "arch": type(net).__name__,
        "network": config_to_dict(config),
        "inputs": [s.to_json() for s in spec.inputs(config)],
        "outputs": [spec.output(config).to_json()],
        "native_size": list(spec.native_size(config)),
        "size_multiple": spec.size_multiple(config),
        "dynamic_hw": spec.dynamic_hw,
        "precision": "fp16" if fp16 else "fp32",
        "training": training,
        "package_version": __version__,
        "opset": opset,
        "parity": record,
        **spec.extra_metadata(config),
    }
    set_metadata(model, metadata)

    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, model.SerializeToString())
    return ExportReport(output, output.stat().st_size, family.name, family.task, "fp16" if fp16 else "fp32",
                        written_diff, time.perf_counter() - start)
