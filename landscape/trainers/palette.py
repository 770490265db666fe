"""The landscape label set: the eight classes of the Stanford Background Dataset, in its
index order, with the colours our colour-coded maps use."""
from __future__ import annotations

LANDSCAPE_CLASSES: tuple[str, ...] = (
    "sky", "tree", "road", "grass", "water", "building", "mountain", "foreground",
)
LANDSCAPE_PALETTE: tuple[tuple[int, int, int], ...] = (
    (110, 170, 235),  # sky
    (30, 100, 40),    # tree
    (128, 128, 128),  # road
    (130, 200, 70),   # grass
    (30, 70, 190),    # water
    (190, 80, 60),    # building
    (120, 90, 70),    # mountain
    (240, 200, 40),   # foreground
)
