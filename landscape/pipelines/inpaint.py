"""Fill the holes of a picture, changing nothing outside them.

Each group of holes gets a context window around it; a window larger than the model's
native size is resized down to it and the fill resized back. A thin hole (a stroke over a
wire, a pole, a scratch) whose window would be shrunk is filled where it lies instead, at the
picture's own resolution, by windows of the model's native size along it: shrinking would
leave a stroke a pixel or two wide for the network, which fills such slivers with grey. The
windows' fills are gathered, then bent together to meet the picture at the holes' edges
(seamless.py), so that the cells along a stroke never show where they meet. Only hole pixels
are written back: pixels outside the (dilated) holes stay byte-identical. When the holes are
grown with `dilate`, the grown ring is feathered so the seam fades into the original.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from landscape.errors import ItemError
from landscape.imaging.codec import LUMA_WEIGHTS, from_unit, rgb_unit, to_unit
from landscape.pipelines.seamless import grown, seamless_fill
from landscape.pipelines.tiling import pad_to_multiple, round_up
from landscape.runtime.sessions import Model

CONTEXT = 2.0  # a window spans at least this many times the hole's extent
# A hole is thin when its widest point is at most this share of the model's native side
# (64 px for a 256 px model): such a hole is filled at full resolution along its length.
THIN = 0.25


@dataclass(frozen=True)
class Box:
    top: int
    left: int
    bottom: int
    right: int

    def overlaps(self, other: "Box") -> bool:
        return not (self.bottom <= other.top or other.bottom <= self.top or self.right <= other.left or other.right <= self.left)

    def union(self, other: "Box") -> "Box":
        return Box(min(self.top, other.top), min(self.left, other.left), max(self.bottom, other.bottom), max(self.right, other.right))


def prepare_hole(mask: np.ndarray, dilate: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean mask (True = hole) -> (hole, alpha): the dilated hole, and the blend weight
    (1 on the original hole, fading to 0 across the dilated ring)."""
    core = mask.astype(bool)
    if dilate <= 0 or not core.any():
        return core, core.astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    hole = cv2.dilate(core.astype(np.uint8), kernel).astype(bool)
    distance = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, 3)
    alpha = np.clip(1.0 - distance / (dilate + 1.0), 0.0, 1.0).astype(np.float32)
    return hole, np.where(hole, alpha, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Window:
    """A context window, and what it writes: the hole pixels inside `core` that belong to the
    components in `owns` (labels of the connected holes)."""

    box: Box
    core: Box
    owns: frozenset[int]


def _centred(cy: float, cx: float, win_h: int, win_w: int, h: int, w: int) -> Box:
    top = int(np.clip(cy - win_h / 2, 0, h - win_h))
    left = int(np.clip(cx - win_w / 2, 0, w - win_w))
    return Box(top, left, top + win_h, left + win_w)


def context_windows(hole: np.ndarray, smallest: tuple[int, int],
                    native: tuple[int, int]) -> tuple[list[Window], np.ndarray]:
    """Windows that together write every hole pixel once, and the label image of the holes.
    Each spans CONTEXT times its hole, and at least `smallest`; past `native` (the largest
    the model runs at full resolution) it is shrunk. A hole whose window fits the model, or
    that is wide, gets one window holding it whole (and windows that overlap become one); a
    thin hole that the model would see shrunk gets windows of the native size along it, each
    writing one cell of its bounding box."""
    h, w = hole.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    half_width = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    whole: list[tuple[Box, frozenset[int]]] = []
    tiles: list[Window] = []
    for label, (x, y, bw, bh, _) in enumerate(stats[1:count], start=1):
        win_h = min(h, max(smallest[0], int(CONTEXT * bh)))
        win_w = min(w, max(smallest[1], int(CONTEXT * bw)))
        shrunk = win_h > native[0] or win_w > native[1]
        inside = (slice(y, y + bh), slice(x, x + bw))  # the component's box, not the whole picture per hole
        thin = 2 * float(half_width[inside][labels[inside] == label].max()) <= THIN * min(native)
        if not (shrunk and thin):
            whole.append((_centred(y + bh / 2, x + bw / 2, win_h, win_w, h, w), frozenset([label])))
            continue
        cell_h, cell_w = max(1, native[0] // 2), max(1, native[1] // 2)
        for top in range(y, y + bh, cell_h):
            for left in range(x, x + bw, cell_w):
                core = Box(top, left, min(top + cell_h, y + bh), min(left + cell_w, x + bw))
                if (labels[core.top:core.bottom, core.left:core.right] == label).any():
                    box = _centred((core.top + core.bottom) / 2, (core.left + core.right) / 2, min(h, native[0]),
                                   min(w, native[1]), h, w)
                    tiles.append(Window(box, core, frozenset([label])))
    merged = True
    while merged:  # whole-hole windows that overlap become one, until none do
        merged = False
        for i in range(len(whole)):
            for j in range(i + 1, len(whole)):
                if whole[i][0].overlaps(whole[j][0]):
                    box, owns = whole.pop(j)
                    whole[i] = (whole[i][0].union(box), whole[i][1] | owns)
                    merged = True
                    break
            if merged:
                break
    return [Window(box, box, owns) for box, owns in whole] + tiles, labels


def _fill_window(model: Model, rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """One window: (h, w, 3) [0, 1] + (h, w) bool -> the model's (h, w, 3) [0, 1] fill."""
    h, w = hole.shape
    native_h, native_w = model.info.windows[1]
    factor = min(1.0, native_h / h, native_w / w)
    mult = model.info.size_multiple
    if factor < 1.0:
        size = (max(mult, round_up(round(w * factor), mult)), max(mult, round_up(round(h * factor), mult)))
        rgb_in = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        # Any pixel touched by the hole counts as hole: the fill must never copy hole content.
        hole_in = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    else:
        rgb_in, hole_in = rgb, hole
    image_name, mask_name = model.info.inputs[0].name, model.info.inputs[1].name
    rh, rw = hole_in.shape
    image = pad_to_multiple(model.to_input_range(rgb_in.transpose(2, 0, 1), image_name), mult)
    mask = pad_to_multiple(hole_in[None].astype(np.float32), mult)
    out = model.run(**{image_name: image[None], mask_name: mask[None]})[0, :, :rh, :rw]
    fill = model.from_output_range(out).transpose(1, 2, 0)
    if factor < 1.0:
        fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(fill, 0.0, 1.0)


def inpaint_pixels(model: Model, pixels: np.ndarray, mask: np.ndarray, *, dilate: int = 0,
                   seamless: bool = True) -> np.ndarray | None:
    """Decoded picture (H, W, C) + bool mask (H, W) -> the filled picture, same dtype and
    channels (alpha untouched), or None when the mask holds no hole. `seamless` bends the
    network's fill to meet the picture at each hole's edge (Poisson blending, seamless.py)."""
    hole, alpha = prepare_hole(mask, dilate)
    if not hole.any():
        return None
    if min(hole.shape) < model.info.min_side:
        raise ItemError(f"{hole.shape[1]}x{hole.shape[0]} is under the {model.info.min_side} pixels a side "
                        f"that this model ({model.info.family}) needs")
    gray = pixels.shape[2] in (1, 2)
    colour = pixels[:, :, :1] if gray else pixels[:, :, :3]
    # The fills of every window on the holes and the pixels around them, within the holes' box.
    reach = grown(hole)
    ys, xs = np.nonzero(reach)
    top, left = int(ys.min()), int(xs.min())
    area = (slice(top, int(ys.max()) + 1), slice(left, int(xs.max()) + 1))
    fills = np.zeros(reach[area].shape + (colour.shape[2],), np.float32)
    windows, labels = context_windows(hole, *model.info.windows)
    for window in windows:
        box, core = window.box, window.core
        rows, cols = slice(box.top, box.bottom), slice(box.left, box.right)
        # Each window is made float on its own: a 12 MP photo as float32 would be 144 MB more.
        fill = _fill_window(model, rgb_unit(pixels[rows, cols]), hole[rows, cols])
        if gray:
            fill = (fill @ LUMA_WEIGHTS)[:, :, None]
        # Written: this window's share of the holes (the core's pixels of the holes it owns),
        # and the known pixels next to them, where the seam is measured.
        core_rows, core_cols = slice(core.top - box.top, core.bottom - box.top), slice(core.left - box.left, core.right - box.left)
        writes = np.zeros(hole[rows, cols].shape, bool)
        writes[core_rows, core_cols] = np.isin(labels[core.top:core.bottom, core.left:core.right], list(window.owns))
        writes = grown(writes) & (writes | ~hole[rows, cols])
        ys, xs = np.nonzero(writes)
        fills[ys + box.top - top, xs + box.left - left] = fill[ys, xs]
    if seamless:
        fills = seamless_fill(fills, colour[area], hole[area])
    rows, cols = np.nonzero(hole[area])
    a = alpha[area][rows, cols][:, None]
    blended = from_unit(a * fills[rows, cols] + (1.0 - a) * to_unit(colour[area][rows, cols]), pixels.dtype)
    out = pixels.copy()
    out[area][rows, cols, : colour.shape[2]] = blended
    return out
