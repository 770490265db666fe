"""pix2pix: a U-Net generator from one-hot segmentation maps to photos, and the 70x70 PatchGAN."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from landscape.trainers.palette import LANDSCAPE_CLASSES, LANDSCAPE_PALETTE


@dataclass(frozen=True)
class LabelledUNetConfig:
    """What every U-Net over the landscape classes shares: the classes with their colours,
    the depth, and the training crop (the network itself takes any multiple of 2**num_downs)."""

    classes: tuple[str, ...] = LANDSCAPE_CLASSES
    palette: tuple[tuple[int, int, int], ...] = LANDSCAPE_PALETTE
    num_downs: int = 8
    width: int = 64
    resolution: int = 256
    max_mult: int = 8  # channels stop growing at width * max_mult (pix2pix: 8)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "palette", tuple(tuple(int(v) for v in c) for c in self.palette))
        if len(self.classes) != len(self.palette) or len(self.classes) < 2:
            raise ValueError("classes and palette must have the same length (>= 2)")
        if len(set(self.palette)) != len(self.palette):
            raise ValueError("palette colours must be distinct")
        if not 2 <= self.num_downs <= 9:
            raise ValueError(f"num_downs must be in 2..9, got {self.num_downs}")
        if self.resolution % (2**self.num_downs):
            raise ValueError(f"resolution {self.resolution} is not a multiple of 2**num_downs")
        if self.max_mult not in (1, 2, 4, 8, 16):
            raise ValueError(f"max_mult must be 1, 2, 4, 8 or 16, got {self.max_mult}")

    @property
    def size_multiple(self) -> int:
        return 2**self.num_downs


@dataclass(frozen=True)
class UNetConfig(LabelledUNetConfig):
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")


@dataclass(frozen=True)
class PatchGANConfig:
    num_classes: int = len(LANDSCAPE_CLASSES)
    width: int = 64
    layers: int = 3  # 3 gives the 70x70 receptive field of pix2pix
    scales: int = 1  # pix2pixHD: more PatchGANs on the pair halved, quartered, ...


class UNet(nn.Module):
    """Encoder-decoder with skip connections between mirrored levels (pix2pix's U-Net).

    (N, in_channels, H, W) -> (N, out_channels, H, W), H and W multiples of 2**num_downs;
    `head` follows the last layer (tanh for photos, nothing for class logits). The three
    decoder blocks nearest the bottleneck use dropout when it is > 0 (the noise source of
    pix2pix); in eval mode, as exported, they are the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, *, num_downs: int, width: int, dropout: float,
                 head: nn.Module, max_mult: int = 8) -> None:
        super().__init__()
        chans = [width * min(2**i, max_mult) for i in range(num_downs)]
        in_chans = [in_channels] + chans[:-1]
        self.down = nn.ModuleList()
        for level, (c_in, c_out) in enumerate(zip(in_chans, chans)):
            outermost, innermost = level == 0, level == num_downs - 1
            block: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2, inplace=True)]
            block.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=outermost or innermost))
            # No norm at the outermost level (raw input) nor the innermost (1x1 at 256 px,
            # where batch statistics of a single position are meaningless).
            if not (outermost or innermost):
                block.append(nn.BatchNorm2d(c_out))
            self.down.append(nn.Sequential(*block))
        self.up = nn.ModuleList()
        for level in reversed(range(num_downs)):
            innermost, outermost = level == num_downs - 1, level == 0
            c_in = chans[level] if innermost else chans[level] * 2
            c_out = out_channels if outermost else in_chans[level]
            block = [nn.ReLU(inplace=True), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=outermost)]
            if outermost:
                block.append(head)
            else:
                block.append(nn.BatchNorm2d(c_out))
                if num_downs - 1 - level in (1, 2, 3) and dropout > 0:
                    block.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck is not concatenated with itself
        for i, block in enumerate(self.up):
            x = block(x if i == 0 else torch.cat([x, skips.pop()], dim=1))
        return x


class UNetGenerator(UNet):
    """one-hot map (N, C, H, W) -> photo (N, 3, H, W) in [-1, 1]."""

    def __init__(self, *, config: UNetConfig) -> None:
        super().__init__(len(config.classes), 3, num_downs=config.num_downs, width=config.width, dropout=config.dropout,
                         head=nn.Tanh(), max_mult=config.max_mult)
        self.config = config


class _Patches(nn.Module):
    """One PatchGAN: the features after each of its blocks, the last being the logits."""

    def __init__(self, in_channels: int, width: int, layers: int) -> None:
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True))]
        c = width
        for i in range(1, layers + 1):
            c_out = width * min(2**i, 8)
            stride = 1 if i == layers else 2
            blocks.append(nn.Sequential(nn.Conv2d(c, c_out, 4, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                                        nn.LeakyReLU(0.2, True)))
            c = c_out
        blocks.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class PatchGAN(nn.Module):
    """Classifies overlapping 70x70 patches of (map, photo) pairs as real or fake, at one or
    more scales (pix2pixHD's multi-scale discriminator: the coarser ones judge layout, the
    full-size one texture).

    map (N, C, H, W) + photo (N, 3, H, W) -> per scale, the features after each block, the
    last being the logits (N, 1, H', W'): the generator's feature-matching loss reads them.
    """

    def __init__(self, *, config: PatchGANConfig) -> None:
        super().__init__()
        self.scales = nn.ModuleList(_Patches(config.num_classes + 3, config.width, config.layers)
                                    for _ in range(config.scales))

    def forward(self, onehot: torch.Tensor, photo: torch.Tensor) -> list[list[torch.Tensor]]:
        x = torch.cat([onehot, photo], dim=1)
        out = []
        for k, patches in enumerate(self.scales):
            if k:
                x = nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(patches(x))
        return out
