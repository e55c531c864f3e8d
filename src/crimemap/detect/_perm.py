"""Conditional permutation engine shared by the local statistics (private).

Conditional randomisation (Anselin 1995) holds the focal value ``v[i]`` fixed
and draws the values of its ``k_i`` neighbours at random, without
replacement, from the other ``n - 1`` values. Like PySAL ``esda.crand``, one
set of draws is shared by every unit: draw ``p`` is a sample ``D[p]`` of
``kmax + 1`` distinct positions out of ``n``. Unit ``i`` uses the first
``k_i`` of them; if ``i`` itself is among those, it is replaced by the spare
``D[p, kmax]``. Because the positions in a draw are exchangeable, that gives
each unit a uniform ``k_i``-subset of the other units.

With the off-diagonal weights packed row-wise into a dense ``(n, kmax)``
array ``Wp`` (zero-padded), the random spatial lags for a chunk of draws are
one matrix product, ``Wp @ v[D[:, :kmax]].T`` -> ``(n, chunk)``, plus a
scatter for the few (unit, draw) pairs where the unit drew itself. Memory is
bounded by the chunk size; there are no Python loops over units.

Fast path. When every row's off-diagonal weights are equal (binary or
row-standardised binary contiguity, the usual case), unit ``i``'s random lag
in draw ``p`` is ``a_i * C[p, k_i]`` with ``C`` the running sums of the draw
values: the lag distribution depends on ``i`` only through ``k_i`` (<= 8 on a
queen grid). Each of the ``kmax + 1`` distributions is sorted once and every
unit's tail counts are a binary search, ``O(n log P)`` instead of ``O(n P)``;
the rare self-draws are then corrected one by one (vectorised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["PermSummary", "conditional_lags"]


@dataclass(frozen=True)
class PermSummary:
    """Counts and moments of the random lags, per unit.

    ``n_ge``/``n_le``: draws whose lag is >= / <= the observed lag;
    ``mean``/``std``: moments of the random lags.
    """

    n_ge: np.ndarray
    n_le: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def _pack(w_off: sp.csr_matrix) -> np.ndarray:
    w_off = sp.csr_matrix(w_off)
    card = np.diff(w_off.indptr)
    kmax = int(card.max()) if len(card) else 0
    out = np.zeros((w_off.shape[0], max(kmax, 1)))
    rows = np.repeat(np.arange(w_off.shape[0]), card)
    within = np.arange(w_off.nnz) - w_off.indptr[rows]
    out[rows, within] = w_off.data
    return out[:, :kmax] if kmax else out[:, :0]


def _draws(n: int, m: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` rows of ``m`` distinct positions out of ``n``."""
    if n <= 4096 or m * 4 > n:
        base = np.broadcast_to(np.arange(n), (count, n))
        return rng.permuted(base, axis=1)[:, :m].copy()
    d = rng.integers(0, n, size=(count, m))
    while True:
        s = np.sort(d, axis=1)
        bad = np.nonzero((np.diff(s, axis=1) == 0).any(axis=1))[0]
        if not len(bad):
            return d
        d[bad] = rng.integers(0, n, size=(len(bad), m))


def conditional_lags(
    v: np.ndarray,
    w_off: sp.csr_matrix,
    observed_lag: np.ndarray,
    permutations: int,
    rng: np.random.Generator,
    *,
    chunk: int = 128,
    rtol: float = 1e-9,
    general: bool = False,
) -> PermSummary:
    """Summaries of the conditionally permuted lags ``sum_j w_ij v_j``.

    Parameters
    ----------
    v : array (n,)
        Values being permuted.
    w_off : csr_matrix (n, n)
        Off-diagonal weights (the diagonal must be zero).
    observed_lag : array (n,)
        ``w_off @ v``; draws are compared with it with a relative tolerance
        ``rtol`` so that ties of integer counts are counted as ties.
    permutations, rng, chunk
        Number of draws, the random generator, and draws per block.
    general : bool
        Force the general (matrix product) path; used to test the fast path.
    """
    v = np.asarray(v, float)
    n = len(v)
    wp = _pack(w_off)
    kmax = wp.shape[1]
    n_ge = np.zeros(n, np.int64)
    n_le = np.zeros(n, np.int64)
    s1 = np.zeros(n)
    s2 = np.zeros(n)
    tol = rtol * (np.abs(observed_lag) + np.abs(v).max(initial=0.0) + 1.0)
    if kmax == 0 or permutations <= 0:
        z = np.zeros(n, np.int64)
        return PermSummary(z + permutations, z + permutations, np.zeros(n), np.zeros(n))
    card = (wp != 0).sum(axis=1)
    a = wp[:, 0]
    uniform = (
        bool(np.all((wp == a[:, None]) | (wp == 0)))
        and bool(np.all(a >= 0))
        and bool(np.all(card == np.diff(sp.csr_matrix(w_off).indptr)))
    )
    if uniform and not general:
        return _uniform_rows(v, a, card, kmax, observed_lag, tol, permutations, rng)
    done = 0
    while done < permutations:
        c = min(chunk, permutations - done)
        d = _draws(n, kmax + 1, c, rng)
        vals = v[d]
        lag = wp @ vals[:, :kmax].T
        # Units that drew themselves: swap their own value for the spare draw.
        pp, jj = np.nonzero(np.ones((c, kmax), bool))
        ii = d[pp, jj]
        wij = wp[ii, jj]
        hit = wij != 0
        np.add.at(lag, (ii[hit], pp[hit]), wij[hit] * (vals[pp[hit], kmax] - v[ii[hit]]))
        diff = lag - observed_lag[:, None]
        n_ge += (diff >= -tol[:, None]).sum(axis=1)
        n_le += (diff <= tol[:, None]).sum(axis=1)
        s1 += lag.sum(axis=1)
        s2 += (lag * lag).sum(axis=1)
        done += c
    mean = s1 / permutations
    var = np.maximum(s2 / permutations - mean**2, 0.0)
    return PermSummary(n_ge=n_ge, n_le=n_le, mean=mean, std=np.sqrt(var))


def _uniform_rows(
    v: np.ndarray,
    a: np.ndarray,
    card: np.ndarray,
    kmax: int,
    obs: np.ndarray,
    tol: np.ndarray,
    permutations: int,
    rng: np.random.Generator,
) -> PermSummary:
    """Fast path for rows whose neighbour weights are all ``a_i`` (see module doc)."""
    n = len(v)
    d = _draws(n, kmax + 1, permutations, rng)
    vals = v[d]
    csum = np.concatenate([np.zeros((permutations, 1)), np.cumsum(vals[:, :kmax], axis=1)], axis=1)
    n_ge = np.zeros(n, np.int64)
    n_le = np.zeros(n, np.int64)
    mean = np.zeros(n)
    msq = np.zeros(n)
    for c in range(kmax + 1):  # at most kmax + 1 groups, not a loop over units
        idx = np.nonzero(card == c)[0]
        if not len(idx):
            continue
        dist = csum[:, c]
        srt = np.sort(dist)
        ai = a[idx]
        # Compare a_i * C with the observed lag in C-space (a_i > 0 here).
        safe = np.where(ai != 0, ai, 1.0)
        lo = (obs[idx] - tol[idx]) / safe
        hi = (obs[idx] + tol[idx]) / safe
        n_ge[idx] = permutations - np.searchsorted(srt, lo, side="left")
        n_le[idx] = np.searchsorted(srt, hi, side="right")
        mean[idx] = ai * dist.mean()
        msq[idx] = ai**2 * (dist**2).mean()
    # Units that drew themselves in draw p: replace v_i by the spare value.
    pp, jj = np.nonzero(np.ones((permutations, kmax), bool))
    ii = d[pp, jj]
    hit = jj < card[ii]
    pp, ii = pp[hit], ii[hit]
    old = a[ii] * csum[pp, card[ii]]
    new = old + a[ii] * (vals[pp, kmax] - v[ii])
    o, t = obs[ii], tol[ii]
    np.add.at(n_ge, ii, (new >= o - t).astype(np.int64) - (old >= o - t))
    np.add.at(n_le, ii, (new <= o + t).astype(np.int64) - (old <= o + t))
    np.add.at(mean, ii, (new - old) / permutations)
    np.add.at(msq, ii, (new**2 - old**2) / permutations)
    std = np.sqrt(np.maximum(msq - mean**2, 0.0))
    return PermSummary(n_ge=n_ge, n_le=n_le, mean=mean, std=std)


def directed_p(n_ge: np.ndarray, n_le: np.ndarray, permutations: int) -> np.ndarray:
    """esda's folded pseudo p-value: ``(min(#>=, #<=) + 1) / (P + 1)``.

    esda counts ``#>=`` and uses ``P - #>=`` for the lower tail; with ties
    counted on both sides this is the same except at exact ties.
    """
    return (np.minimum(n_ge, n_le) + 1.0) / (permutations + 1.0)
