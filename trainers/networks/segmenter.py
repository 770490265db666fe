"""The labeller: photo -> per-pixel class logits, pix2pix's U-Net with a class head."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trainers.networks.pix2pix import UNet
from trainers.palette import LANDSCAPE_CLASSES, LANDSCAPE_PALETTE


@dataclass(frozen=True)
class SegmenterConfig:
    classes: tuple[str, ...] = LANDSCAPE_CLASSES
    palette: tuple[tuple[int, int, int], ...] = LANDSCAPE_PALETTE
    num_downs: int = 6
    width: int = 32
    resolution: int = 256  # training crop size; the network takes any multiple of 2**num_downs

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "palette", tuple(tuple(int(v) for v in c) for c in self.palette))
        if len(self.classes) != len(self.palette) or len(self.classes) < 2:
            raise ValueError("classes and palette must have the same length (>= 2)")
        if not 2 <= self.num_downs <= 9:
            raise ValueError(f"num_downs must be in 2..9, got {self.num_downs}")
        if self.resolution % (2**self.num_downs):
            raise ValueError(f"resolution {self.resolution} is not a multiple of 2**num_downs")

    @property
    def size_multiple(self) -> int:
        return 2**self.num_downs


class UNetSegmenter(UNet):
    """photo (N, 3, H, W) in [-1, 1] -> class logits (N, classes, H, W)."""

    def __init__(self, *, config: SegmenterConfig) -> None:
        super().__init__(3, len(config.classes), num_downs=config.num_downs, width=config.width, dropout=0.0,
                         head=nn.Identity())
        self.config = config
