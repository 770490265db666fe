"""evaluation/inpaint_quality.py's error by distance from the hole's edge."""

import numpy as np

from evaluation import inpaint_quality


def test_band_errors_put_each_hole_pixel_in_the_band_of_its_distance_from_the_edge():
    truth = np.zeros((40, 40, 3), np.uint8)
    hole = np.zeros((40, 40), bool)
    hole[10:30, 10:30] = True  # a 20 px square: distances 1..10 from its edge
    filled = truth.copy()
    filled[hole] = 10  # the same error everywhere in the hole
    bands = inpaint_quality.band_errors(filled, truth, inpaint_quality.edge_bands(hole))
    assert bands[:, 1].sum() == hole.sum()  # every hole pixel counted once (none beyond 11 px)
    assert np.allclose(bands[:, 0], 100 * bands[:, 1])
    ring = hole & ~np.pad(np.ones((16, 16), bool), 12)  # the outer 2 px of the square
    assert bands[0, 1] == ring.sum()
    outside = truth.copy()
    outside[~hole] = 200  # errors outside the hole are never counted
    assert inpaint_quality.band_errors(outside, truth, inpaint_quality.edge_bands(hole))[:, 0].sum() == 0
