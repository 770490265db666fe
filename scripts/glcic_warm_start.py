"""An inpainter as a slim state of today's GLCIC network, for a run to continue it.

The first bundled inpainter was trained on a GPU (8,000 steps of batch 24) with GLCIC's 4x4
stride-2 transposed convolutions, whose uneven overlap printed a checkerboard; the network now
upsamples by nearest resize + 3x3 convolution. Its only copy was the exported ONNX file, with
batch norm folded into the convolutions. This writes such a file (of a network without skips)
as a slim state of the new network:

- each folded convolution becomes the convolution plus a batch norm that gives back what the
  file computes: its statistics are measured on training crops with holes (calibration), its
  scale set to the measured deviation and its shift to the measured mean plus the folded bias.
  Training normalises by each batch's statistics, so an identity batch norm (scale 1) would
  rescale every channel to unit variance at the first training step and undo the warm start;
- each transposed convolution becomes the 3x3 kernel that, after nearest x2 resizing, comes
  closest (least squares over the four output parities) to its 4x4 kernel; its batch norm,
  not folded in the file, is copied.

    python -m scripts.glcic_warm_start --onnx gpu-inpaint.onnx -o warm.safetensors -- --data photos/ --batch-size 8 --steps 3000

The arguments after `--` are the trainer's (python -m landscape.trainers.glcic): they become the state's
recipe, which `--resume` continues (only the options in landscape.trainers.options.SLIM_RESUMABLE may
change then). `--plan DATA` takes the GPU window's inpainter recipe instead (gpu/window.py),
so that the window continues an inpainter rather than starting afresh.

`--state STATE` starts instead from a slim state: it is written again with the recipe given
(with `--plan`, the window's). A state of the network without skips (GLCIC's, as the inpainter
continued on the CPU was trained at first) gets them at zero: the same function, which the run
then teaches to use them.

    python -m scripts.glcic_warm_start --state old.safetensors -o grown.safetensors -- --data photos/ ...
    python -m scripts.glcic_warm_start --state run/slim.safetensors --plan photos/landscapes -o runs/slim/glcic.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[1]

from landscape.trainers.data import fixed_batch, image_split
from landscape.trainers.glcic import GLCICConfig, MaskedCrops
from landscape.trainers.networks import config_to_dict
from landscape.trainers.checkpoint import module_state
from landscape.trainers.networks.glcic import CompletionConfig, CompletionNetwork, grow_skips
from landscape.trainers.options import parse, to_dict
from landscape.trainers.slim import read_slim_state, write_slim_state


def onnx_layers(path: Path) -> list[tuple[str, np.ndarray, dict[str, np.ndarray]]]:
    """(op, weight, the rest) per Conv / ConvTranspose in graph order; the rest holds a Conv's
    bias, or the batch norm that follows a ConvTranspose."""
    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers = []
    nodes = list(model.graph.node)
    for i, node in enumerate(nodes):
        if node.op_type == "Conv":
            layers.append(("Conv", init[node.input[1]], {"bias": init[node.input[2]]} if len(node.input) > 2 else {}))
        elif node.op_type == "ConvTranspose":
            bn = nodes[i + 1]
            if bn.op_type != "BatchNormalization":
                raise ValueError(f"{path}: a ConvTranspose not followed by batch norm")
            names = ("weight", "bias", "running_mean", "running_var")
            layers.append(("ConvTranspose", init[node.input[1]], {n: init[x] for n, x in zip(names, bn.input[1:])}))
    return layers


def nearest_conv_kernel(transposed: np.ndarray) -> np.ndarray:
    """(C_in, C_out, 4, 4) stride-2 pad-1 transposed kernel -> (C_out, C_in, 3, 3) kernel of a
    3x3 convolution after nearest x2 resizing, fitted by least squares.

    Along one axis, output 2i+a of the transposed convolution reads input i+d with tap
    k = 1 + a - 2d (d in {-1, 0, 1}); the resized convolution's tap t reads input
    floor((2i + a - 1 + t) / 2)."""
    rows_t, rows_v = [], []
    for a in (0, 1):
        for d in (-1, 0, 1):
            k = 1 + a - 2 * d
            row_t = np.zeros(4)
            if 0 <= k < 4:
                row_t[k] = 1
            row_v = np.array([1.0 if (a - 1 + t) // 2 == d else 0.0 for t in range(3)])
            rows_t.append(row_t)
            rows_v.append(row_v)
    T1, V1 = np.array(rows_t), np.array(rows_v)  # (6, 4), (6, 3): per axis (parity, offset) rows
    T2, V2 = np.kron(T1, T1), np.kron(V1, V1)  # (36, 16), (36, 9): both axes
    w = transposed.reshape(transposed.shape[0], transposed.shape[1], 16)  # (C_in, C_out, 16)
    targets = np.einsum("rk,iok->rio", T2, w).reshape(36, -1)  # what each (parity, offset) pair must sum to
    fitted, *_ = np.linalg.lstsq(V2, targets, rcond=None)  # (9, C_in*C_out)
    v = fitted.reshape(3, 3, transposed.shape[0], transposed.shape[1])
    return np.ascontiguousarray(v.transpose(3, 2, 0, 1)).astype(np.float32)


CALIBRATION_CROPS = 64


def convert(onnx_path: Path, net: CompletionNetwork, calibration: dict[str, torch.Tensor]) -> None:
    layers = onnx_layers(onnx_path)
    convs = [m for m in net.net.modules() if isinstance(m, torch.nn.Conv2d)]
    if len(convs) != len(layers):
        raise ValueError(f"{onnx_path}: {len(layers)} convolutions, the network has {len(convs)}")
    modules = list(net.net.modules())
    folded: dict[torch.nn.BatchNorm2d, torch.Tensor] = {}
    with torch.no_grad():
        for conv, (op, weight, rest) in zip(convs, layers):
            bn = modules[modules.index(conv) + 1]
            if op == "ConvTranspose":
                conv.weight.copy_(torch.from_numpy(nearest_conv_kernel(weight)))
                for name, value in rest.items():
                    getattr(bn, name).copy_(torch.from_numpy(np.array(value)))
                continue
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            if conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(np.array(rest["bias"])))
                continue
            # For now an identity (running_var = 1 - eps: scale exactly 1) carrying the folded bias,
            # so that the network computes the file's function while its statistics are measured.
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(np.array(rest["bias"])))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            folded[bn] = bn.bias.clone()
    calibrate(net, folded, calibration)


def calibrate(net: CompletionNetwork, folded: dict[torch.nn.BatchNorm2d, torch.Tensor],
              batch: dict[str, torch.Tensor]) -> None:
    """Set each folded layer's batch norm from the statistics of its input on `batch`, so that
    normalising by them (training) and the stored ones (inference) both give the file's output."""
    stats: dict[torch.nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def measure(bn, inputs, _output):
        x = inputs[0].double()
        stats[bn] = (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False))

    hooks = [bn.register_forward_hook(measure) for bn in folded]
    net.eval()
    with torch.no_grad():
        net(batch["image"], batch["mask"])
        for hook in hooks:
            hook.remove()
        for bn, bias in folded.items():
            mean, var = stats[bn]
            std = (var + bn.eps).sqrt()
            bn.weight.copy_(std.float())
            bn.bias.copy_((mean + bias.double()).float())
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())


def from_state(state_path: Path, net: CompletionNetwork) -> None:
    """Load a slim state into `net`; one without skips gets them at zero."""
    tensors, saved = read_slim_state(state_path)
    old = CompletionConfig(**saved["network"])
    if (old.width, old.dilations) != (net.config.width, net.config.dilations) or (old.skips and not net.config.skips):
        raise ValueError(f"{state_path}: a network of {saved['network']}, which the recipe's "
                         f"{config_to_dict(net.config)} cannot continue")
    state = {k: v.float() for k, v in module_state(tensors, "g").items()}
    net.load_state_dict(state if old.skips == net.config.skips else grow_skips(state, old.width))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--onnx", type=Path, help="an exported inpainter of a network without skips (batch norm folded)")
    start.add_argument("--state", type=Path, help="a slim state (one without skips gets them at zero)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--plan", metavar="DATA", help="the GPU window's inpainter recipe, on the photos in DATA")
    parser.add_argument("trainer_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    trainer_args = [a for a in args.trainer_args if a != "--"]
    if args.plan:
        from gpu.window import COMMON, PLAN

        plan = next(t for t in PLAN if t.family == "glcic")
        trainer_args = ["--data", args.plan, *plan.args, *COMMON, *trainer_args]
    config, _ = parse(GLCICConfig, trainer_args, "python -m landscape.trainers.glcic", "")
    net = CompletionNetwork(config=config.generator())
    if args.state:
        from_state(args.state, net)
        source = args.state.name
    else:
        crops = MaskedCrops(image_split(config.data, config.holdout, config.seed, print).train, config.resolution,
                            config.seed, train=True, min_scale=config.min_scale, area=tuple(config.hole_area),
                            kind=config.mask_kind)
        convert(args.onnx, net, fixed_batch(crops, CALIBRATION_CROPS))
        source = args.onnx.name
    saved = {"family": "glcic", "network": config_to_dict(config.generator()), "weights": "g",
             "data": f"warm start from {source}", "train": to_dict(config),
             "train_state": {"step": 0, "loop": {}, "world_size": 1}}
    path = write_slim_state(args.output, "glcic", {"g": net.state_dict()}, saved, source)
    print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
