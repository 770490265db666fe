"""Parity: an exported ONNX file against the PyTorch network it came from, on seeded inputs, in
ONNX Runtime. A difference past a family's tolerance, a NaN or a wrong shape is an error, never
a warning; the exporter of our checkpoints and the importer of published weights both use it."""
from __future__ import annotations

import numpy as np
import torch

from landscape.errors import LandscapeError
from landscape.export.specs import ExportSpec, ParityCase

PARITY_SEED = 1234


class ExportError(LandscapeError):
    """The exported graph does not match the checkpoint (parity, NaN/Inf, checker)."""


def session(model_bytes: bytes):
    """An ONNX Runtime CPU session on the serialised model: the reference runtime of parity."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def run(session, spec: ExportSpec, config, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    """The session's first output on a family's example inputs, fed by the spec's input names."""
    feeds = {s.name: t.numpy() for s, t in zip(spec.inputs(config), inputs)}
    return session.run(None, feeds)[0]


def max_diff(a: np.ndarray, b: np.ndarray, what: str) -> float:
    """Largest absolute difference of `a` (the file's output) from `b` (the reference); NaN, Inf
    or another shape is an ExportError naming `what`."""
    if not np.isfinite(a).all():
        raise ExportError(f"{what}: output holds NaN or Inf")
    if a.shape != b.shape:
        raise ExportError(f"{what}: output shape {a.shape} != {b.shape}")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def cases(spec: ExportSpec, config) -> list[tuple[ParityCase, tuple[torch.Tensor, ...]]]:
    """The family's parity sizes with seeded example inputs, the same at every export."""
    gen = torch.Generator().manual_seed(PARITY_SEED)
    return [(case, spec.examples(config, case, gen)) for case in spec.parity_cases(config)]
