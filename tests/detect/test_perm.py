from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from crimemap.detect._perm import conditional_lags
from crimemap.spatial import Grid
from crimemap.spatial.weights import grid_contiguity, row_standardise


def _ref_lags(v, w, draws):
    """Plain loops: unit i takes the first k_i draws, swapping itself for the spare."""
    n, kmax = len(v), draws.shape[1] - 1
    out = np.zeros((n, len(draws)))
    for i in range(n):
        nb = w[i].indices
        ws = w[i].data
        for p, d in enumerate(draws):
            picks = list(d[: len(nb)])
            if i in picks:
                picks[picks.index(i)] = d[kmax]
            out[i, p] = sum(wj * v[j] for wj, j in zip(ws, picks, strict=True))
    return out


def _setup(seed: int):
    rng = np.random.default_rng(seed)
    ij = np.unique(rng.integers(0, 9, (60, 2)), axis=0)
    u = Grid(100).units(ij)
    return rng.poisson(2, len(u)).astype(float), grid_contiguity(u)


def test_fast_path_equals_general_path_on_same_draws() -> None:
    v, w = _setup(0)
    for ww in (w, row_standardise(w)):
        obs = ww @ v
        fast = conditional_lags(v, ww, obs, 300, np.random.default_rng(5))
        slow = conditional_lags(v, ww, obs, 300, np.random.default_rng(5), general=True, chunk=300)
        np.testing.assert_array_equal(fast.n_ge, slow.n_ge)
        np.testing.assert_array_equal(fast.n_le, slow.n_le)
        np.testing.assert_allclose(fast.mean, slow.mean, atol=1e-9)
        np.testing.assert_allclose(fast.std, slow.std, atol=1e-9)


def test_general_path_matches_loop_reference() -> None:
    from crimemap.detect import _perm

    v, w = _setup(1)
    w = sp.csr_matrix(w.multiply(np.random.default_rng(2).random(w.shape)))  # non-uniform
    w.sort_indices()
    obs = w @ v
    draws = _perm._draws(len(v), int(np.diff(w.indptr).max()) + 1, 200, np.random.default_rng(7))
    ref = _ref_lags(v, w, draws)
    got = conditional_lags(v, w, obs, 200, np.random.default_rng(7), chunk=200)
    tol = 1e-9 * (np.abs(obs) + np.abs(v).max() + 1)
    np.testing.assert_array_equal(got.n_ge, (ref >= obs[:, None] - tol[:, None]).sum(1))
    np.testing.assert_allclose(got.mean, ref.mean(1), atol=1e-9)
