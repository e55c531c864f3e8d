"""Emerging hot spot analysis over a space-time count cube.

Method
------
Follows ESRI's *Emerging Hot Spot Analysis* (ArcGIS Pro, Space Time Pattern
Mining toolbox, "How Emerging Hot Spot Analysis works").

1. **Space-time Gi\\*.** Every bin ``(unit i, period t)`` is scored with the
   Getis-Ord Gi* z-score over the whole cube. Its neighbourhood is the unit
   and its spatial neighbours (queen contiguity on a grid) in period ``t`` and
   the ``time_window`` periods before it (ESRI's "neighborhood time step").
   Mean and variance are those of all bins. Bins are significant hot (cold)
   spots when their Benjamini-Hochberg FDR-adjusted p-value is ``<= alpha``
   and ``z > 0`` (``< 0``).
2. **Trend.** A Mann-Kendall test on each unit's series of Gi* z-scores says
   whether clustering of high values is intensifying or diminishing
   (``trend_alpha``).
3. **Categories** (ESRI's definitions; "90 %" means at least 90 % of the
   periods; "final" the last period):

   * *new*: hot in the final period and never before;
   * *consecutive*: a single unbroken run of >= 2 hot periods ending in the
     final one, never hot before the run, hot in < 90 % of periods;
   * *intensifying*: hot in >= 90 % of periods including the final one, with
     a significant upward trend;
   * *persistent*: hot in >= 90 % of periods including the final one, no
     significant trend;
   * *diminishing*: hot in >= 90 % of periods including the final one, with
     a significant downward trend;
   * *sporadic*: hot in the final period, hot in < 90 % of periods, on and
     off, never a significant cold spot;
   * *oscillating*: hot in the final period, hot in < 90 % of periods, and a
     significant cold spot in some earlier period;
   * *historical*: not hot in the final period but hot in >= 90 % of periods;

   and the same eight for cold spots, else *no pattern*. Where ESRI's rules
   overlap (a first-time hot spot with a cold history), *oscillating* wins,
   then *new*, then *consecutive*, then *sporadic*.

Gaps: a period where the whole cube is empty is a gap in publication (e.g.
Northumbria 2022-01), not a month without crime; such periods are dropped
(``drop_empty=True``) and listed in the result.

References
----------
ESRI (2024). How Emerging Hot Spot Analysis works. ArcGIS Pro 3.x help,
Space Time Pattern Mining toolbox.
Getis, A. & Ord, J. K. (1992); Mann (1945); Kendall (1975) - see
:mod:`crimemap.detect.gistar` and :mod:`crimemap.detect.trend`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

from crimemap.detect.fdr import fdr_bh
from crimemap.detect.trend import mann_kendall
from crimemap.errors import InputError, InsufficientDataError
from crimemap.spatial.cube import CountCube

__all__ = ["CATEGORIES", "EmergingResult", "emerging_hotspots", "space_time_gi_star"]

_KINDS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
#: Category labels in code order: 0 = no pattern, 1-8 hot, 9-16 cold.
CATEGORIES: tuple[str, ...] = (
    ("no pattern",)
    + tuple(f"{k} hot spot" for k in _KINDS)
    + tuple(f"{k} cold spot" for k in _KINDS)
)
MIN_PERIODS = 10


@dataclass(frozen=True, eq=False)
class EmergingResult:
    """Emerging hot spot analysis of a cube.

    Attributes
    ----------
    periods : numpy.ndarray
        Periods analysed (after dropping empty ones).
    dropped_periods : numpy.ndarray
        Periods dropped because the whole cube was empty then.
    z : numpy.ndarray
        ``(n_units, t)`` space-time Gi* z-scores.
    q : numpy.ndarray
        ``(n_units, t)`` BH-adjusted p-values.
    hot, cold : numpy.ndarray
        ``(n_units, t)`` significant hot / cold bins.
    trend_z, trend_p : numpy.ndarray
        Mann-Kendall trend of each unit's Gi* z-scores.
    count_trend_z, count_trend_p : numpy.ndarray
        Mann-Kendall trend of each unit's counts.
    category : numpy.ndarray
        ``(n_units,)`` codes into :data:`CATEGORIES`.
    alpha, trend_alpha : float
        Significance levels used.
    time_window : int
        Previous periods in each bin's neighbourhood.
    """

    periods: np.ndarray
    dropped_periods: np.ndarray
    z: np.ndarray
    q: np.ndarray
    hot: np.ndarray
    cold: np.ndarray
    trend_z: np.ndarray
    trend_p: np.ndarray
    count_trend_z: np.ndarray
    count_trend_p: np.ndarray
    category: np.ndarray
    alpha: float
    trend_alpha: float
    time_window: int

    def labels(self) -> np.ndarray:
        """Category label of each unit."""
        return np.asarray(CATEGORIES, dtype=object)[self.category]

    def counts(self) -> dict[str, int]:
        """Number of units in each category (categories with none omitted)."""
        c = np.bincount(self.category, minlength=len(CATEGORIES))
        return {CATEGORIES[i]: int(c[i]) for i in range(len(CATEGORIES)) if c[i]}


def space_time_gi_star(
    counts: np.ndarray, weights: sp.spmatrix, time_window: int = 1
) -> np.ndarray:
    """Gi* z-score of every (unit, period) bin with a space-time neighbourhood.

    The neighbourhood of ``(i, t)`` is ``{i} + neighbours(i)`` in periods
    ``t - time_window .. t`` (binary weights, self included).
    """
    x = np.asarray(counts, float)
    n, t = x.shape
    w = sp.csr_matrix(weights, dtype=float)
    w = sp.csr_matrix(w - sp.diags(w.diagonal()) + sp.identity(n))
    if time_window < 0:
        raise InputError("time_window must be >= 0")
    spatial = w @ x  # (n, t): neighbourhood sums per period
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(spatial, axis=1)], axis=1)
    lo = np.maximum(np.arange(t) - time_window, 0)
    lag = csum[:, 1:] - csum[:, lo]
    n_steps = (np.arange(t) - lo + 1).astype(float)  # periods in each window
    card = np.asarray(w.sum(axis=1)).ravel()
    wi = card[:, None] * n_steps[None, :]  # binary: W_i == S1_i
    big_n = x.size
    xbar = x.mean()
    s = np.sqrt(max((x * x).mean() - xbar**2, 0.0))
    if s == 0:
        raise InsufficientDataError("every bin of the cube has the same count")
    den = s * np.sqrt((big_n * wi - wi**2) / (big_n - 1))
    return (lag - xbar * wi) / den


def _trailing_run(b: np.ndarray) -> np.ndarray:
    rev = b[:, ::-1]
    first_false = np.argmin(rev, axis=1)
    return np.where(rev.all(axis=1), b.shape[1], first_false)


def _classify(sig: np.ndarray, other: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Codes 0-8 (kinds in ``_KINDS`` order, 1-based) for one direction."""
    t = sig.shape[1]
    final = sig[:, -1]
    n_sig = sig.sum(axis=1)
    most = n_sig >= 0.9 * t
    run = _trailing_run(sig)
    ever_other = other.any(axis=1)
    code = np.zeros(sig.shape[0], np.int16)
    conds = [
        (~final & most, 8),  # historical
        (final & most & up, 3),  # intensifying
        (final & most & down, 5),  # diminishing
        (final & most & ~up & ~down, 4),  # persistent
        (final & ~most & ever_other, 7),  # oscillating
        (final & ~most & (n_sig == 1), 1),  # new
        (final & ~most & (run >= 2) & (n_sig == run), 2),  # consecutive
        (final & ~most, 6),  # sporadic (on and off, no cold history)
    ]
    for cond, k in reversed(conds):  # earlier entries take precedence
        code[cond] = k
    return code


def emerging_hotspots(
    cube: CountCube,
    weights: sp.spmatrix,
    *,
    time_window: int = 1,
    alpha: float = 0.05,
    trend_alpha: float = 0.05,
    drop_empty: bool = True,
) -> EmergingResult:
    """Classify every unit of a space-time cube into ESRI's emerging hot spot categories.

    Parameters
    ----------
    cube : CountCube
        Counts (or harm) per unit and period.
    weights : sparse (n, n)
        Spatial neighbour weights aligned with ``cube.units``.
    time_window : int
        Previous periods included in each bin's neighbourhood.
    alpha : float
        FDR level for hot/cold bins.
    trend_alpha : float
        Level of the Mann-Kendall trend test.
    drop_empty : bool
        Drop periods in which the whole cube is empty (publication gaps).

    Raises
    ------
    crimemap.errors.InsufficientDataError
        With fewer than 10 non-empty periods (ESRI's minimum) or 3 units.
    """
    x = np.asarray(cube.counts, float)
    keep = x.sum(axis=0) > 0 if drop_empty else np.ones(x.shape[1], bool)
    x = x[:, keep]
    if x.shape[1] < MIN_PERIODS:
        raise InsufficientDataError(
            f"emerging hot spot analysis needs at least {MIN_PERIODS} periods with data, got {x.shape[1]}"
        )
    if x.shape[0] < 3:
        raise InsufficientDataError("emerging hot spot analysis needs at least 3 units")
    z = space_time_gi_star(x, weights, time_window)
    p = 2 * stats.norm.sf(np.abs(z))
    q = fdr_bh(p.ravel()).reshape(p.shape)
    sig = q <= alpha
    hot = sig & (z > 0)
    cold = sig & (z < 0)
    tr = mann_kendall(z)
    ct = mann_kendall(x)
    up = (tr.p <= trend_alpha) & (tr.z > 0)
    down = (tr.p <= trend_alpha) & (tr.z < 0)
    hot_code = _classify(hot, cold, up, down)
    # For cold spots "intensifying" means getting colder: z trending down.
    cold_code = _classify(cold, hot, down, up)
    category = np.where(hot_code > 0, hot_code, np.where(cold_code > 0, cold_code + 8, 0))
    return EmergingResult(
        periods=cube.periods[keep].copy(),
        dropped_periods=cube.periods[~keep].copy(),
        z=z,
        q=q,
        hot=hot,
        cold=cold,
        trend_z=tr.z,
        trend_p=tr.p,
        count_trend_z=ct.z,
        count_trend_p=ct.p,
        category=category.astype(np.int16),
        alpha=alpha,
        trend_alpha=trend_alpha,
        time_window=int(time_window),
    )
