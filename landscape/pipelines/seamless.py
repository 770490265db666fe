"""Seamless fills: a network's fill corrected so that it meets the picture at the hole's edge.

A fill g keeps its own texture (its gradients) while its values are bent to the known pixels
around the hole: f = g + c inside the hole, where c is harmonic there (the mean of its four
neighbours) and equals known - g on the pixels just outside it. This is Poisson blending with
the fill as the guidance field, the post-processing of GLCIC (Iizuka et al. 2017): a network
that fills from coarse features gets the hole's mean and texture right but misses the exact
colour of the pixels next to the edge, which is where a thin stroke has most of its pixels.

c is solved level by level, from the hole at the resolution where it has few pixels up to
the picture's own. At each finer level the coarser solution, interpolated, is kept deep
inside the hole (c is smooth there) and conjugate gradients correct it only in a band along
the edge, where the boundary's finer detail lives. The work grows with the hole's outline,
not its area, and never with the picture's: a wire across the frame is a thin band, a box of
a quarter of a 12-megapixel photo a ring around it. A picture edge that a hole touches gives
no condition (c's slope is zero across it).
"""
from __future__ import annotations

import cv2
import numpy as np

from landscape.imaging.codec import to_unit

STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))
# At or below this many hole pixels a level is solved whole, from zero.
COARSEST = 16384
# Finer levels: the band along the edge that is solved again (pixels), and its iterations.
BAND = 12
BAND_ITERATIONS = 40


class _Problem:
    """The discrete Laplace equation over the pixels of `unknown`: each is the mean of its
    in-picture neighbours, and a neighbour outside `unknown` holds its fixed value."""

    def __init__(self, unknown: np.ndarray, fixed: np.ndarray) -> None:
        h, w = unknown.shape
        self.rows, self.cols = np.nonzero(unknown)
        n = self.rows.size
        index = np.full(unknown.shape, n, np.int32)  # n: the slot that always holds zero
        index[self.rows, self.cols] = np.arange(n, dtype=np.int32)
        self.neighbours: list[np.ndarray] = []
        self.diagonal = np.zeros(n, np.float32)
        self.rhs = np.zeros((fixed.shape[2], n), np.float32)
        for dy, dx in STEPS:
            ny, nx = self.rows + dy, self.cols + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            ny, nx = np.where(inside, ny, 0), np.where(inside, nx, 0)
            neighbour = np.where(inside, index[ny, nx], n)
            self.diagonal += inside
            given = inside & (neighbour == n)
            self.rhs[:, given] += fixed[ny[given], nx[given]].T
            self.neighbours.append(neighbour)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A x for x of shape (C, n + 1) whose last column is zero."""
        out = self.diagonal * x[:, :-1]
        for neighbour in self.neighbours:
            out -= np.take(x, neighbour, axis=1)
        return out

    def solve(self, start: np.ndarray, iterations: int) -> np.ndarray:
        """(C, n) start -> (C, n): Jacobi-preconditioned conjugate gradients, per channel."""
        n = self.rows.size
        x = start.astype(np.float32, copy=True)
        p = np.zeros((x.shape[0], n + 1), np.float32)
        inverse = 1.0 / np.maximum(self.diagonal, 1.0)
        p[:, :-1] = x
        r = self.rhs - self.apply(p)
        z = inverse * r
        p[:, :-1] = z
        rz = np.einsum("ij,ij->i", r, z)
        for _ in range(iterations):
            if not rz.any():
                break
            q = self.apply(p)
            step = rz / np.maximum(np.einsum("ij,ij->i", p[:, :-1], q), 1e-30)
            x += step[:, None] * p[:, :-1]
            r -= step[:, None] * q
            z = inverse * r
            rz_next = np.einsum("ij,ij->i", r, z)
            p[:, :-1] = z + (rz_next / np.maximum(rz, 1e-30))[:, None] * p[:, :-1]
            rz = rz_next
        return x


def _spread(mismatch: np.ndarray, valid: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pixels of `where` that have no mismatch but a neighbour with one take the mean of those
    neighbours (a coarse ring pixel whose fine pixels lie just beyond the fine ring, say).
    `mismatch` is updated in place; returns where it is now valid."""
    filled = where & ~valid & grown(valid)
    rows, cols = np.nonzero(filled)
    if not rows.size:
        return valid
    h, w = valid.shape
    total = np.zeros((rows.size, mismatch.shape[2]), np.float32)
    count = np.zeros(rows.size, np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = np.clip(rows + dy, 0, h - 1), np.clip(cols + dx, 0, w - 1)
            given = valid[ny, nx] & (ny == rows + dy) & (nx == cols + dx)
            total += mismatch[ny, nx] * given[:, None]
            count += given
    mismatch[rows, cols] = total / count[:, None]
    return valid | filled


def _halve(hole: np.ndarray, mismatch: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The problem at half resolution: a coarse pixel is hole when any of its fine pixels is;
    its mismatch is the mean over its fine pixels that have one, once the fine mismatch has
    spread a pixel outwards (a fine ring pixel can share its coarse pixel with the hole)."""
    valid = _spread(mismatch, valid, ~hole)
    h2, w2 = (hole.shape[0] + 1) // 2, (hole.shape[1] + 1) // 2
    rows, cols = np.nonzero(hole)
    hole2 = np.zeros((h2, w2), bool)
    hole2[rows // 2, cols // 2] = True
    rows, cols = np.nonzero(valid)
    cell = (rows // 2) * w2 + cols // 2
    weight = np.bincount(cell, minlength=h2 * w2).reshape(h2, w2)
    values = mismatch[rows, cols]
    summed = np.stack([np.bincount(cell, weights=values[:, c], minlength=h2 * w2) for c in range(values.shape[1])], -1)
    mismatch2 = (summed.reshape(h2, w2, -1) / np.maximum(weight, 1)[:, :, None]).astype(np.float32)
    return hole2, mismatch2, (weight > 0) & ~hole2


def grown(mask: np.ndarray) -> np.ndarray:
    """The mask and every pixel next to it (its 8 neighbours)."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _ring(hole: np.ndarray) -> np.ndarray:
    return grown(hole) & ~hole


def _harmonic(hole: np.ndarray, mismatch: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(h, w, C): the correction on the hole pixels, harmonic there and meeting `mismatch` (read
    where `valid`) on the known pixels around it, which hold that mismatch (a finer level
    interpolates from them); other pixels are undefined. `mismatch` may be reused for it."""
    ring = _ring(hole)
    valid = _spread(mismatch, valid, ring)
    depth = cv2.distanceTransform(np.pad(hole, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    reach = float(depth.max())  # half the hole's width: CG converges in a few times that
    if reach <= BAND or hole.sum() <= COARSEST or min(hole.shape) < 8:
        problem = _Problem(hole, mismatch)
        solved = problem.solve(np.zeros(problem.rhs.shape, np.float32), int(8 * reach) + 30)
        mismatch[problem.rows, problem.cols] = solved.T
        return mismatch
    coarse = _harmonic(*_halve(hole, mismatch, valid))
    h, w = hole.shape
    fine = cv2.resize(coarse, (2 * coarse.shape[1], 2 * coarse.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = fine.reshape(fine.shape[0], fine.shape[1], -1)[:h, :w]
    rows, cols = np.nonzero(ring)
    out[rows, cols] = mismatch[rows, cols]
    # Only the band along the edge is solved again; its inner neighbours keep the interpolation.
    problem = _Problem(hole & (depth <= BAND), out)
    out[problem.rows, problem.cols] = problem.solve(out[problem.rows, problem.cols].T, BAND_ITERATIONS).T
    return out


def seamless_fill(fill: np.ndarray, picture: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """(H, W, C) fill in [0, 1] (read on the hole and the pixels next to it), (H, W, C) picture
    (uint8, uint16 or float in [0, 1]; read next to the hole), (H, W) bool hole -> the fill bent
    to meet the picture at the hole's edge, in [0, 1]; the hole's pixels of `fill` are updated
    in place, the others left as they are."""
    if not hole.any() or hole.all():
        return fill
    ring = _ring(hole)
    rows, cols = np.nonzero(hole | ring)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    mismatch = np.zeros(ring[box].shape + fill.shape[2:], np.float32)
    rows, cols = np.nonzero(ring[box])
    known = picture[box][rows, cols]
    known = to_unit(known) if known.dtype.kind in "ui" else known
    mismatch[rows, cols] = known - fill[box][rows, cols]
    correction = _harmonic(hole[box], mismatch, ring[box])
    region, inside = fill[box], hole[box][:, :, None]
    np.add(region, correction, out=region, where=inside)
    np.clip(region, 0.0, 1.0, out=region, where=inside)
    return fill
