"""Seamless fills: the harmonic correction against an exact solve, and what it must preserve."""
import numpy as np
import pytest

from landscape.pipelines import seamless
from landscape.pipelines.seamless import seamless_fill


def _exact(hole: np.ndarray, mismatch: np.ndarray) -> np.ndarray:
    """The same discrete Laplace problem, assembled densely and solved directly."""
    problem = seamless._Problem(hole, mismatch)
    n = problem.rows.size
    assert n == hole.sum()
    matrix = np.diag(problem.diagonal.astype(np.float64))
    for neighbour in problem.neighbours:
        linked = neighbour < n
        matrix[np.nonzero(linked)[0], neighbour[linked]] -= 1.0
    out = np.zeros(hole.shape + (mismatch.shape[2],))
    out[problem.rows, problem.cols] = np.linalg.solve(matrix, problem.rhs.T.astype(np.float64))
    return out


def test_the_correction_is_the_exact_harmonic_solution_on_holes_that_touch_the_edge_too():
    rng = np.random.default_rng(0)
    hole = np.zeros((30, 40), bool)
    hole[5:20, 3:30] = True
    hole[0:10, 35:40] = True  # touches the top and right edges: no condition there
    mismatch = np.where(seamless._ring(hole)[:, :, None], rng.normal(size=(30, 40, 3)), 0).astype(np.float32)
    got = seamless._harmonic(hole, mismatch.copy(), seamless._ring(hole))
    assert np.abs(got - _exact(hole, mismatch))[hole].max() < 1e-3


@pytest.mark.parametrize("top,left", [(20, 30), (21, 31)])
def test_every_pixel_around_the_hole_at_half_resolution_has_a_boundary_value(top, left):
    """A fine ring pixel can share its coarse pixel with the hole (an odd edge): the coarse
    ring pixel beyond it still gets a value, or the coarse start pulls that side to zero."""
    hole = np.zeros((60, 70), bool)
    hole[top:top + 21, left:left + 25] = True
    mismatch = np.where(seamless._ring(hole)[:, :, None], 1.0, 0.0).astype(np.float32)
    hole2, mismatch2, valid2 = seamless._halve(hole, mismatch, seamless._ring(hole))
    assert valid2[seamless._ring(hole2)].all()
    assert np.allclose(mismatch2[seamless._ring(hole2)], 1.0)


def test_a_large_hole_solved_from_half_resolution_agrees_with_the_exact_solution(monkeypatch):
    """Deep inside a wide hole the solution interpolated from the coarser level is kept (only
    a band along the edge is solved again): an approximation, within a few percent of the
    mismatch's span."""
    h, w = 90, 110
    hole = np.zeros((h, w), bool)
    hole[21:70, 30:95] = True
    monkeypatch.setattr(seamless, "COARSEST", 400)
    monkeypatch.setattr(seamless, "BAND", 6)  # three levels
    yy, xx = np.mgrid[:h, :w]
    smooth = (np.sin(xx / 9.0) + np.cos(yy / 13.0))[:, :, None].astype(np.float32)
    mismatch = np.where(seamless._ring(hole)[:, :, None], smooth, 0).astype(np.float32)
    error = np.where(hole[:, :, None], seamless._harmonic(hole, mismatch.copy(), seamless._ring(hole)) - _exact(hole, mismatch), 0)
    assert np.abs(error).max() < 0.2 and np.sqrt((error[hole] ** 2).mean()) < 0.06  # of a mismatch that spans 4


@pytest.mark.parametrize("touches_edge", [False, True])
def test_a_fill_off_by_a_harmonic_function_comes_back_exactly(touches_edge):
    """A fill that is the picture plus a constant (or, away from the picture's edges, a plane,
    both harmonic) is bent back onto the picture; nothing outside the hole moves."""
    rng = np.random.default_rng(1)
    picture = rng.uniform(0.2, 0.8, (60, 80, 3)).astype(np.float32)
    hole = np.zeros((60, 80), bool)
    yy, xx = np.mgrid[:60, :80]
    if touches_edge:
        hole[0:25, 50:80] = True
        offset = np.full((60, 80, 1), 0.1, np.float32)
    else:
        hole[20:40, 10:70] = True
        offset = (0.002 * xx - 0.003 * yy + 0.05)[:, :, None].astype(np.float32)
    fill = picture + offset
    out = seamless_fill(fill, picture, hole)
    assert np.abs(out[hole] - picture[hole]).max() < 2e-3
    assert np.array_equal(out[~hole], fill[~hole])


def test_the_fill_keeps_its_texture_and_stays_in_range():
    """The correction is smooth: the fill's own detail (here a checkerboard) survives it, and
    the result is clipped to [0, 1]."""
    picture = np.full((40, 40, 1), 0.95, np.float32)
    hole = np.zeros((40, 40), bool)
    hole[10:30, 10:30] = True
    checker = ((np.indices((40, 40)).sum(0) % 2) * 0.1)[:, :, None].astype(np.float32)
    fill = 0.5 + checker
    out = seamless_fill(fill, picture, hole)
    assert out.max() <= 1.0 and out.min() >= 0.0
    inner = out[15:25, 15:25, 0]
    detail = np.abs(np.diff(inner, axis=1)).mean()
    assert detail == pytest.approx(0.1, abs=0.02)  # the checkerboard's steps, kept
    assert inner.mean() > 0.8  # raised from 0.55 towards the picture around it


def test_nothing_to_bend_when_there_is_no_hole_or_no_picture_around_it():
    fill = np.full((8, 8, 3), 0.3, np.float32)
    picture = np.zeros((8, 8, 3), np.float32)
    assert seamless_fill(fill, picture, np.zeros((8, 8), bool)) is fill
    assert seamless_fill(fill, picture, np.ones((8, 8), bool)) is fill
