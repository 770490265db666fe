"""SPAN (Wan et al., "Swift Parameter-free Attention Network for Efficient Super-Resolution",
winner of NTIRE 2024's efficient SR challenge) in its inference form, x2 or x4.

Images are RGB in [0, 1]. The published network trains each 3x3 convolution as a sum of
branches (1x1 -> 3x3 -> 1x1, plus a 1x1 skip) that are merged into one 3x3 convolution for
inference; the ncnn files it is published in hold only the merged ones. This module is that
merged form, written from the paper, because spandrel's class (the importer's) rebuilds its
merged convolutions from the branches at every inference call, so weights that exist only
merged cannot live in it, and its branches pad the border differently from the merged
convolution they are exported as. Fine-tuning trains the merged convolutions directly: the
same function class, and what is exported is exactly what was trained. Parameter names are
the published checkpoints' merged ones without `.eval_conv` (see `from_published`); a test
checks this network against spandrel's on the same weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# The published network normalises its input with ImageNet-like means and a 255 range and
# predicts the output in [0, 1] directly.
RGB_MEAN = (0.4488, 0.4371, 0.4040)
IMG_RANGE = 255.0
BLOCKS = 6


@dataclass(frozen=True)
class SPANConfig:
    feature_channels: int = 48  # the published models: 48 or 52
    scale: int = 4
    resolution: int = 64  # low-resolution training patch; the network takes any size
    norm: bool = True  # the published input normalisation (x - mean) * 255

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"SPAN scale must be 2, 3 or 4, got {self.scale}")
        if self.feature_channels < 1 or self.resolution < 1:
            raise ValueError("feature_channels and resolution must be positive")


def _conv3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, 1, 1)


class SPAB(nn.Module):
    """Swift parameter-free attention block: three convolutions, SiLU between them, and an
    attention map made from the third one's own output (sigmoid - 0.5), with no parameters
    of its own. Returns (the block's output, its first activation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r = _conv3(channels, channels), _conv3(channels, channels), _conv3(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = F.silu(self.c1_r(x))
        out = self.c3_r(F.silu(self.c2_r(first)))
        attention = torch.sigmoid(out) - 0.5
        return (out + x) * attention, first


class SPANNet(nn.Module):
    """image (N, 3, H, W) in [0, 1] -> image (N, 3, sH, sW), about [0, 1] (not clamped: the
    runtime clips when it quantises). Any H, W >= 1."""

    def __init__(self, *, config: SPANConfig) -> None:
        super().__init__()
        self.config = config
        f = config.feature_channels
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_1 = _conv3(3, f)
        self.blocks = nn.ModuleList(SPAB(f) for _ in range(BLOCKS))
        self.conv_2 = _conv3(f, f)
        self.conv_cat = nn.Conv2d(4 * f, f, 1)
        self.upsampler = _conv3(f, 3 * config.scale**2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image - self.mean) * IMG_RANGE if self.config.norm else image
        features = self.conv_1(x)
        out, block_outputs = features, []
        for block in self.blocks:
            out, first = block(out)
            block_outputs.append(out)
        # The published concatenation: the stem, the last block (through conv_2), the first
        # block, and the last block's first activation.
        out = self.conv_cat(torch.cat([features, self.conv_2(out), block_outputs[0], first], 1))
        return F.pixel_shuffle(self.upsampler(out), self.config.scale)


def from_published(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A published SPAN state dict (its merged `*.eval_conv.*` convolutions; the training
    branches are ignored) -> this network's state dict."""
    renamed = {}
    for key, tensor in state.items():
        if key.startswith("block_"):
            number, rest = key[len("block_"):].split(".", 1)
            key = f"blocks.{int(number) - 1}.{rest}"
        if ".eval_conv." in key:
            renamed[key.replace(".eval_conv.", ".")] = tensor
        elif key.startswith(("conv_cat.", "upsampler.0.")):
            renamed[key.replace("upsampler.0.", "upsampler.")] = tensor
    return renamed


def config_of_published(state: dict[str, torch.Tensor]) -> SPANConfig:
    """The config a published SPAN state dict needs (its width and scale; `no_norm` where the
    checkpoint was trained without the input normalisation)."""
    features = int(state["conv_1.eval_conv.weight"].shape[0])
    scale = round((int(state["upsampler.0.weight"].shape[0]) // 3) ** 0.5)
    return SPANConfig(feature_channels=features, scale=scale, norm="no_norm" not in state)
