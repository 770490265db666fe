"""GLCIC (Iizuka et al. 2017): a dilated completion network with global and local discriminators."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CompletionConfig:
    width: int = 64
    resolution: int = 256  # training size; the network takes any multiple of 4
    dilations: tuple[int, ...] = (2, 4, 8, 16)
    # Encoder features carried to the decoder at full and half resolution. GLCIC has none: its
    # fill comes only from quarter-resolution features, so it cannot give back the pixels at a
    # hole's edge, which is where it lost to Telea on thin strokes (1.1 dB in the outer 2 px,
    # ahead past 4 px). Off by default, so a network config written without it means GLCIC's.
    skips: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        if self.width < 2 or self.resolution % 4:
            raise ValueError("width must be >= 2 and resolution a multiple of 4")


@dataclass(frozen=True)
class ContextDiscriminatorConfig:
    resolution: int = 256  # the whole image, seen by the global discriminator
    local_resolution: int = 128  # the patch around the hole, seen by the local one
    width: int = 64


def _conv(c_in: int, c_out: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride, pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def _upsample(c_in: int, c_out: int) -> nn.Sequential:
    """x2 by nearest-neighbour resizing, then a 3x3 convolution. GLCIC's 4x4 stride-2
    transposed convolutions overlap their kernels unevenly (each output pixel sums 1, 2 or 4
    kernel taps by its parity), which printed a 2-pixel checkerboard over every fill of the
    bundled inpainter; resizing first gives every output pixel the same taps (Odena et al. 2016)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *_conv(c_in, c_out))


class CompletionNetwork(nn.Module):
    """Downsample x4, widen the receptive field with dilated convolutions, upsample back.

    image (N, 3, H, W) in [-1, 1] + mask (N, 1, H, W) in {0, 1} (1 = hole) -> completed
    image (N, 3, H, W) in [-1, 1]; H, W multiples of 4. Hole pixels are zeroed (the mean
    colour in this range) before the network sees them, so their content never leaks.

    With `skips`, a 3x3 convolution of the encoder's features at full and at half resolution
    is added to the decoder's convolution there, before its batch norm. They start at zero, so
    a network grown from one without them computes the same function until it trains them
    (`grow_skips`).
    """

    def __init__(self, *, config: CompletionConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.net = nn.Sequential(
            _conv(4, w, 5),
            _conv(w, 2 * w, 3, 2),
            _conv(2 * w, 2 * w),
            _conv(2 * w, 4 * w, 3, 2),
            _conv(4 * w, 4 * w),
            _conv(4 * w, 4 * w),
            *(_conv(4 * w, 4 * w, dilation=d) for d in config.dilations),
            _conv(4 * w, 4 * w),
            _conv(4 * w, 4 * w),
            _upsample(4 * w, 2 * w),
            _conv(2 * w, 2 * w),
            _upsample(2 * w, w),
            _conv(w, w // 2),
            nn.Conv2d(w // 2, 3, 3, 1, 1),
            nn.Tanh(),
        )
        # Where the skips leave the encoder (after the first 5x5 conv, after the half-resolution
        # conv) and join the decoder (the conv after each x2), as indices into self.net.
        n = len(self.net)
        self.joins = {n - 3: 0, n - 5: 2}
        if config.skips:
            self.skip_half = nn.Conv2d(2 * w, 2 * w, 3, 1, 1, bias=False)
            self.skip_full = nn.Conv2d(w, w // 2, 3, 1, 1, bias=False)
            nn.init.zeros_(self.skip_half.weight)
            nn.init.zeros_(self.skip_full.weight)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image * (1.0 - mask), mask], dim=1)
        if not self.config.skips:
            return self.net(x)
        skips = {0: self.skip_full, 2: self.skip_half}
        carried: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.net):
            source = self.joins.get(i)
            x = layer(x) if source is None else _joined(layer, x, skips[source](carried[source]))
            if i in skips:
                carried[i] = x
        return x


def _joined(layer: nn.Sequential, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """A conv-BN-ReLU block with a skip added to its convolution's output."""
    conv, norm, act = layer
    return act(norm(conv(x) + skip))


def grow_skips(state: dict[str, torch.Tensor], width: int) -> dict[str, torch.Tensor]:
    """A state of the network without skips -> the same function with (zero) skips."""
    return {**state, "skip_half.weight": torch.zeros(2 * width, 2 * width, 3, 3),
            "skip_full.weight": torch.zeros(width // 2, width, 3, 3)}


class _StridedDiscriminator(nn.Module):
    """5x5 stride-2 convolutions, then a 1024-wide feature vector (GLCIC's branches)."""

    def __init__(self, *, size: int, width: int, max_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        n = min(max_layers, int(math.log2(size)) - 2)
        for i in range(n):
            c = width * min(2**i, 8)
            layers += [nn.Conv2d(c_in, c, 5, 2, 2, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(c_in * (size // 2**n) ** 2, 1024)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(self.features(x)))


class GlobalDiscriminator(_StridedDiscriminator):
    """Sees the whole completed image: is the scene coherent? (N, 3, R, R) -> (N, 1024)."""

    def __init__(self, *, size: int, width: int) -> None:
        super().__init__(size=size, width=width, max_layers=6)


class LocalDiscriminator(_StridedDiscriminator):
    """Sees the patch centred on the hole: is the fill detailed? (N, 3, r, r) -> (N, 1024)."""

    def __init__(self, *, size: int, width: int) -> None:
        super().__init__(size=size, width=width, max_layers=5)


class ContextDiscriminator(nn.Module):
    """The global branch judges the whole image, the local branch the patch around the
    hole; their features are concatenated into one real/fake logit.

    image (N, 3, R, R), local patch (N, 3, r, r) -> logits (N,).
    """

    def __init__(self, *, config: ContextDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.global_branch = GlobalDiscriminator(size=config.resolution, width=config.width)
        self.local_branch = LocalDiscriminator(size=config.local_resolution, width=config.width)
        self.head = nn.Linear(2048, 1)

    def forward(self, image: torch.Tensor, local_patch: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([self.global_branch(image), self.local_branch(local_patch)], dim=1)
        return self.head(feats).squeeze(1)
