"""ESRGAN (Wang et al. 2018): RRDBNet x4 and a VGG-style discriminator.

Images are RGB in [0, 1], as in the ESRGAN/BasicSR lineage.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class RRDBConfig:
    # A light default (~1 M parameters): ships small and runs on a CPU; the paper's network
    # is num_feat=64, num_grow_ch=32, num_block=23.
    num_feat: int = 32
    num_grow_ch: int = 16
    num_block: int = 6
    scale: int = 4
    resolution: int = 64  # low-resolution training patch; the network takes any size
    # "bicubic": the network learns the residual over bicubic upsampling (VDSR's global skip).
    # It starts as bicubic instead of as noise, which a short run needs; "none" is ESRGAN's.
    skip: str = "none"

    def __post_init__(self) -> None:
        if self.scale != 4:
            raise ValueError("only x4 is supported")
        if self.skip not in ("none", "bicubic"):
            raise ValueError(f"skip must be 'none' or 'bicubic', got {self.skip!r}")
        if min(self.num_feat, self.num_grow_ch, self.num_block) < 1:
            raise ValueError("num_feat, num_grow_ch and num_block must be positive")


@dataclass(frozen=True)
class VGGDiscriminatorConfig:
    width: int = 64


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions; the output is scaled by 0.2 before the
    residual sum, which keeps very deep stacks trainable without batch norm."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(num_feat + i * num_grow_ch, num_grow_ch if i < 4 else num_feat, 3, 1, 1) for i in range(5)
        )
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(self.lrelu(out))
        return x + 0.2 * out


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks inside a scaled residual."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualDenseBlock(num_feat, num_grow_ch) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBNet(nn.Module):
    """image (N, 3, H, W) in [0, 1] -> image (N, 3, 4H, 4W) in [0, 1] (not clamped: the
    runtime clips when it quantises). Any H, W >= 1."""

    def __init__(self, *, config: RRDBConfig) -> None:
        super().__init__()
        self.config = config
        f = config.num_feat
        self.conv_first = nn.Conv2d(3, f, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(f, config.num_grow_ch) for _ in range(config.num_block)))
        self.conv_body = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_hr = nn.Conv2d(f, f, 3, 1, 1)
        self.conv_last = nn.Conv2d(f, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        for m in self.modules():
            # ESRGAN scales the default init down by 0.1 in the residual blocks: each block
            # then starts close to the identity.
            if isinstance(m, ResidualDenseBlock):
                for conv in m.convs:
                    nn.init.kaiming_normal_(conv.weight)
                    conv.weight.data *= 0.1
                    nn.init.zeros_(conv.bias)
        if config.skip == "bicubic":
            # The residual starts at zero: the untrained network is exactly bicubic.
            nn.init.zeros_(self.conv_last.weight)
            nn.init.zeros_(self.conv_last.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(image)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        if self.config.skip == "bicubic":
            out = out + F.interpolate(image, scale_factor=4.0, mode="bicubic", align_corners=False)
        return out


class VGGDiscriminator(nn.Module):
    """ESRGAN's VGG-style discriminator: conv pairs that halve the size five times, then
    global pooling (so any patch size >= 32 works) and a small MLP. (N, 3, H, W) -> (N,)."""

    def __init__(self, *, config: VGGDiscriminatorConfig) -> None:
        super().__init__()
        w = config.width
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(5):
            c = w * min(2**i, 8)
            layers += [
                nn.Conv2d(c_in, c, 3, 1, 1, bias=i == 0),
                *([] if i == 0 else [nn.BatchNorm2d(c)]),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(c, c, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(c_in * 16, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image)).squeeze(1)
