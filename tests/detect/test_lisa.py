from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from crimemap.detect.lisa import LISA_LABELS, local_moran
from crimemap.errors import InsufficientDataError
from crimemap.spatial import Grid, cell_index, grid_units
from crimemap.spatial.weights import grid_contiguity


def _grid(nx: int, ny: int, shift: tuple[int, int] = (0, 0)):
    ij = np.array([(i + shift[0], j + shift[1]) for i in range(nx) for j in range(ny)])
    return Grid(250).units(ij)


def _ref_local_moran(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Plain-loop local Moran's I with row-standardised weights."""
    n = len(x)
    m = sum(x) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / n)
    z = [(v - m) / sd for v in x]
    den = sum(v * v for v in z)
    out = np.zeros(n)
    for i in range(n):
        nb = [j for j in range(n) if w[i, j] and j != i]
        lag = sum(z[j] for j in nb) / len(nb)
        out[i] = (n - 1) * z[i] * lag / den
    return out


def test_two_block_hand_case() -> None:
    # A 2x2 block of highs in a 4x4 grid: its cells are high-high.
    u = _grid(4, 4)
    x = np.where((u.ij[:, 0] < 2) & (u.ij[:, 1] < 2), 10.0, 0.0)
    res = local_moran(x, grid_contiguity(u), permutations=0)
    hi = x > 0
    assert (res.quadrant[hi] == 1).all()
    far = (u.ij[:, 0] >= 2) & (u.ij[:, 1] >= 2)
    assert (res.quadrant[far] == 3).all()
    # Cell (0,0): z = +sqrt(3), its 3 neighbours are highs -> lag = sqrt(3);
    # I = (n-1) z lag / sum z^2 = 15 * 3 / 16.
    i00 = u.position(np.array(["g250:0:0"]))[0]
    assert res.I[i00] == pytest.approx(15 * 3 / 16)


def test_matches_slow_reference() -> None:
    rng = np.random.default_rng(4)
    u = _grid(7, 5)
    w = grid_contiguity(u)
    x = rng.poisson(3.0, len(u)).astype(float)
    res = local_moran(x, w, permutations=0)
    np.testing.assert_allclose(res.I, _ref_local_moran(x, w.toarray()), atol=1e-12)


def test_translation_invariance_and_refusal() -> None:
    rng = np.random.default_rng(6)
    x = rng.poisson(3.0, 80).astype(float)
    a = local_moran(x, grid_contiguity(_grid(10, 8)), permutations=99, seed=1)
    b = local_moran(x, grid_contiguity(_grid(10, 8, (-500, 321))), permutations=99, seed=1)
    np.testing.assert_array_equal(a.I, b.I)
    np.testing.assert_array_equal(a.classes, b.classes)
    with pytest.raises(InsufficientDataError):
        local_moran(np.zeros(80), grid_contiguity(_grid(10, 8)))


def test_planted_cluster_and_outlier_classes() -> None:
    rng = np.random.default_rng(8)
    u = _grid(30, 30)
    x = rng.poisson(2.0, len(u)).astype(float)
    block = (np.abs(u.ij[:, 0] - 8) <= 1) & (np.abs(u.ij[:, 1] - 8) <= 1)
    x[block] += 15
    res = local_moran(x, grid_contiguity(u), permutations=999, seed=0)
    assert (res.classes[block] == 1).all()
    assert set(res.counts()) == {LISA_LABELS[k] for k in (1, 2, 3, 4)}


@pytest.mark.slow
def test_cross_check_esda_on_real_extract(northumbria_month) -> None:
    esda = pytest.importorskip("esda")
    from libpysal.weights import WSP

    units = grid_units(northumbria_month, 250)
    pos = cell_index(units, northumbria_month)
    y = np.bincount(pos[pos >= 0], minlength=len(units)).astype(float)
    w = grid_contiguity(units)
    linked = np.diff(w.indptr) > 0
    # esda row-standardisation needs every unit to have neighbours.
    sub = units.subset(linked)
    w = grid_contiguity(sub)
    while (np.diff(w.indptr) == 0).any():
        sub = sub.subset(np.diff(w.indptr) > 0)
        w = grid_contiguity(sub)
    y = y[units.position(sub.ids)]
    lw = WSP(w).to_W(silence_warnings=True)
    yj = y + np.random.default_rng(0).random(len(y)) * 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.Moran_Local(yj, lw, transformation="r", permutations=999, seed=3)
    ours = local_moran(yj, w, permutations=999, seed=3)
    np.testing.assert_allclose(ours.I, ref.Is, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.EI, ref.EI, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.VI, ref.VI, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.z, (ref.Is - ref.EI) / np.sqrt(ref.VI), rtol=1e-7, atol=1e-9)
    assert (ours.quadrant == ref.q).all()
    assert ours.p_sim is not None
    d = np.abs(ours.p_sim - ref.p_sim)
    p = (ours.p_sim + ref.p_sim) / 2
    assert (d <= 4.5 * np.sqrt(2 * p * (1 - p) / 999) + 2 / 1000).all()
    assert abs(float(np.mean(ours.p_sim - ref.p_sim))) < 0.005


def test_order_invariance() -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(12)
    u = _grid(9, 7)
    w = grid_contiguity(u).toarray()
    x = rng.poisson(3.0, len(u)).astype(float)
    p = rng.permutation(len(u))
    a = local_moran(x, sp.csr_matrix(w), permutations=0)
    b = local_moran(x[p], sp.csr_matrix(w[np.ix_(p, p)]), permutations=0)
    np.testing.assert_allclose(b.I, a.I[p], atol=1e-12)
    np.testing.assert_array_equal(b.quadrant, a.quadrant[p])
