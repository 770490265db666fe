"""The labeller: photo -> per-pixel class logits, pix2pix's U-Net with a class head."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from landscape.trainers.networks.pix2pix import LabelledUNetConfig, UNet


@dataclass(frozen=True)
class SegmenterConfig(LabelledUNetConfig):
    num_downs: int = 6
    width: int = 32


class UNetSegmenter(UNet):
    """photo (N, 3, H, W) in [-1, 1] -> class logits (N, classes, H, W)."""

    def __init__(self, *, config: SegmenterConfig) -> None:
        super().__init__(3, len(config.classes), num_downs=config.num_downs, width=config.width, dropout=0.0,
                         head=nn.Identity(), max_mult=config.max_mult)
        self.config = config
