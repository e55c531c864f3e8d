from __future__ import annotations

import numpy as np
import pytest

from crimemap.detect.emerging import CATEGORIES, emerging_hotspots, space_time_gi_star
from crimemap.detect.gistar import gi_star_z
from crimemap.errors import InsufficientDataError
from crimemap.spatial import CountCube, Grid, count_cube, grid_units
from crimemap.spatial.weights import grid_contiguity


def _cube(counts: np.ndarray, units) -> CountCube:
    t = counts.shape[1]
    periods = (np.datetime64("2020-01") + np.arange(t)).astype("datetime64[s]")
    return CountCube(units=units, periods=periods, freq="M", counts=counts)


def _block(units, ci: int, cj: int) -> np.ndarray:
    return (np.abs(units.ij[:, 0] - ci) <= 1) & (np.abs(units.ij[:, 1] - cj) <= 1)


def test_time_window_zero_equals_per_period_gi_star_with_cube_moments() -> None:
    rng = np.random.default_rng(0)
    u = Grid(250).units(np.array([(i, j) for i in range(6) for j in range(5)]))
    w = grid_contiguity(u)
    x = rng.poisson(3, (len(u), 4)).astype(float)
    z = space_time_gi_star(x, w, time_window=0)
    # With no time neighbours, stacking periods as separate "units" with a
    # block-diagonal weight matrix gives the same z (same global moments).
    import scipy.sparse as sp

    big = sp.block_diag([w] * 4)
    zz = gi_star_z(x.T.ravel(), big).reshape(4, -1).T
    np.testing.assert_allclose(z, zz, atol=1e-12)


def test_planted_patterns_are_classified() -> None:
    rng = np.random.default_rng(4)
    u = Grid(250).units(np.array([(i, j) for i in range(24) for j in range(24)]))
    t = 20
    x = rng.poisson(4.0, (len(u), t)).astype(float)
    ramp = np.linspace(15, 60, t)
    blocks = {
        "intensifying hot spot": (_block(u, 3, 3), ramp),
        "diminishing hot spot": (_block(u, 3, 12), ramp[::-1]),
        "persistent hot spot": (_block(u, 3, 20), np.full(t, 30.0)),
        "new hot spot": (_block(u, 12, 3), np.r_[np.zeros(t - 1), 60.0]),
        "consecutive hot spot": (_block(u, 12, 12), np.r_[np.zeros(t - 4), np.full(4, 40.0)]),
        "historical hot spot": (_block(u, 12, 20), np.r_[np.full(t - 2, 30.0), 0.0, 0.0]),
    }
    for mask, add in blocks.values():
        x[mask] += add
    cold = _block(u, 20, 8)
    x[cold] = 0.0
    res = emerging_hotspots(_cube(x, u), grid_contiguity(u))
    labels = res.labels()
    for name, (mask, _) in blocks.items():
        centre = mask & (u.ij[:, 0] == u.ij[mask, 0].mean()) & (u.ij[:, 1] == u.ij[mask, 1].mean())
        assert labels[centre][0] == name, (name, labels[mask])
    centre = cold & (u.ij[:, 0] == 20) & (u.ij[:, 1] == 8)
    assert labels[centre][0] == "persistent cold spot"
    assert set(res.counts()) <= set(CATEGORIES)


def test_empty_periods_dropped_and_minimum_enforced() -> None:
    rng = np.random.default_rng(2)
    u = Grid(250).units(np.array([(i, j) for i in range(8) for j in range(8)]))
    x = rng.poisson(3, (len(u), 12)).astype(float)
    x[:, 5] = 0  # a publication gap
    res = emerging_hotspots(_cube(x, u), grid_contiguity(u))
    assert len(res.periods) == 11 and len(res.dropped_periods) == 1
    with pytest.raises(InsufficientDataError):
        emerging_hotspots(_cube(x[:, :9], u), grid_contiguity(u))


def test_translation_and_order_invariance() -> None:
    rng = np.random.default_rng(3)
    ij = np.array([(i, j) for i in range(10) for j in range(9)])
    u = Grid(250).units(ij)
    x = rng.poisson(3, (len(u), 12)).astype(float)
    a = emerging_hotspots(_cube(x, u), grid_contiguity(u))
    u2 = Grid(250).units(ij + 500)
    b = emerging_hotspots(_cube(x, u2), grid_contiguity(u2))
    np.testing.assert_array_equal(a.category, b.category)
    perm = rng.permutation(len(u))
    w = grid_contiguity(u).toarray()[np.ix_(perm, perm)]
    import scipy.sparse as sp

    c = emerging_hotspots(_cube(x[perm], u), sp.csr_matrix(w))
    np.testing.assert_array_equal(c.category, a.category[perm])
    np.testing.assert_allclose(c.z, a.z[perm], atol=1e-12)


@pytest.mark.slow
def test_real_year_of_northumbria(northumbria_year) -> None:
    inc = northumbria_year.filter(categories=["violent-crime"])
    units = grid_units(inc, 500)
    cube = count_cube(inc, units)
    res = emerging_hotspots(cube, grid_contiguity(units))
    assert len(res.periods) == 12
    counts = res.counts()
    assert counts.get("persistent hot spot", 0) > 0
    tot = cube.total()
    pers = res.labels() == "persistent hot spot"
    none = res.labels() == "no pattern"
    # Persistent hot spots are where the violence is.
    assert tot[pers].mean() > 5 * tot[none].mean()
