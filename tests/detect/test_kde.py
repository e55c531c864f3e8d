from __future__ import annotations

import math

import numpy as np
import pytest

from crimemap.detect.kde import kde_at, kde_grid, kernel
from crimemap.errors import InputError
from crimemap.spatial import Grid, cell_index, grid_units


def _units(n: int, shift: int = 0):
    return Grid(100).units(np.array([(i + shift, j + shift) for i in range(n) for j in range(n)]))


def test_kernels_integrate_to_one() -> None:
    h = 300.0
    r = np.linspace(0, 4 * h, 20001)
    for name in ("quartic", "gaussian"):
        mass = np.trapezoid(kernel(r, h, name) * 2 * math.pi * r, r)
        assert mass == pytest.approx(1.0, abs=1e-3)
    assert kernel(np.array([0.0]), h)[0] == pytest.approx(3 / (math.pi * h * h))


def test_grid_kde_matches_loop_reference_for_points_at_centres() -> None:
    u = _units(20)
    rng = np.random.default_rng(0)
    cells = u.ij[rng.integers(0, len(u), 30)]
    xy = (cells + 0.5) * 100.0
    h = 250.0
    got = kde_grid(xy, u, h).density
    # Reference: sampled kernel normalised over its own support, with loops.
    offs = [(a, b) for a in range(-3, 4) for b in range(-3, 4)]
    norm = sum(kernel(np.array([math.hypot(a * 100, b * 100)]), h)[0] for a, b in offs)
    ref = np.zeros(len(u))
    for k, (ci, cj) in enumerate(u.ij):
        for pi, pj in cells:
            d = math.hypot((ci - pi) * 100, (cj - pj) * 100)
            ref[k] += kernel(np.array([d]), h)[0] / norm
    np.testing.assert_allclose(got, ref / 1e4 * 1e6, rtol=1e-9, atol=1e-9)


def test_mass_conservation_translation_and_order() -> None:
    u = _units(40)
    rng = np.random.default_rng(1)
    xy = rng.uniform(1000, 3000, (200, 2))
    d = kde_grid(xy, u, 400.0)
    assert (d.density * 0.01).sum() == pytest.approx(200.0)  # per km^2 x 0.01 km^2 cells
    u2 = _units(40, shift=50)
    d2 = kde_grid(xy + 5000.0, u2, 400.0)
    np.testing.assert_allclose(d.density, d2.density, atol=1e-9)
    d3 = kde_grid(xy[rng.permutation(200)], u, 400.0)
    np.testing.assert_allclose(d.density, d3.density, atol=1e-9)


def test_kde_at_agrees_with_grid_for_centred_points() -> None:
    u = _units(30)
    xy = (u.ij[::7] + 0.5) * 100.0
    exact = kde_at(xy, u.centroids, 500.0).density
    binned = kde_grid(xy, u, 500.0).density
    # Same kernel; only the normalisation of the sampled kernel differs (<1 %).
    np.testing.assert_allclose(binned, exact, rtol=0.02, atol=1e-6 * exact.max())


def test_refuses_bad_bandwidth() -> None:
    u = _units(5)
    with pytest.raises(InputError):
        kde_grid(np.zeros((1, 2)), u, 50.0)
    with pytest.raises(InputError):
        kde_at(np.zeros((1, 2)), np.zeros((1, 2)), -1.0)


def test_real_extract_density_peaks_where_counts_peak(northumbria_month) -> None:
    xy = northumbria_month.xy()
    lo, hi = xy.min(axis=0) - 1000, xy.max(axis=0) + 1000
    cover = Grid(250).cover(lo[0], lo[1], hi[0], hi[1])
    d = kde_grid(xy, cover, 500.0)
    assert float((d.density * 0.0625).sum()) == pytest.approx(len(northumbria_month), rel=1e-6)
    units = grid_units(northumbria_month, 250)
    on_units = kde_grid(xy, units, 500.0).density
    busiest = np.argmax(np.bincount(cell_index(units, northumbria_month)))
    assert on_units[busiest] >= np.quantile(on_units, 0.99)
