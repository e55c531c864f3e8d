"""Forecast metrics for place-based crime predictions.

Ranking metrics (the police use of a forecast is "patrol the top cells"):

* **hit rate** at area coverage ``c``: share of the period's crimes that fall
  in the top-ranked cells covering the share ``c`` of the study area
  (Bowers, Johnson & Pease 2004; Chainey, Tompson & Uhlig 2008);
* **PAI**, predictive accuracy index = hit rate / area share
  (Chainey, Tompson & Uhlig 2008, *Security Journal* 21, 4-28);
* **PEI**, predictive efficiency index = hits / the most hits any selection of
  the same area could have caught, i.e. PAI / PAI of the oracle (Hunt 2016,
  as scored in the NIJ Real-Time Crime Forecasting Challenge; Drawve 2016) -
  1 is perfect;
* the **oracle**: hit rate and PAI of the perfect ranking (by observed count),
  the ceiling for every model at that coverage.

Count metrics (the forecast as a distribution of counts):

* **Spearman** rank correlation between score and observed count;
* mean per-cell **Poisson log-likelihood** ``log P(Y = y | Poisson(mu))``;
* **CRPS** of the Poisson distribution with the model's mean (closed form of
  Wei & Held 2014, *TEST* 23, 309-331), for every model, so models with and
  without a band are comparable;
* empirical **coverage of the 90 % band** ``lo90 <= y <= hi90``.

Conventions (see ``docs/metrics.md``):

* Cells are taken in rank order while their cumulative area stays within
  ``c`` times the study area (for ``N`` equal cells: ``k = floor(c N)``
  cells, at least one). PAI divides by the *realised* area share ``k / N``.
* Ties in the score are broken by a seeded random permutation, and the
  ranking metrics are averaged over ``n_seeds`` such permutations; they are
  never broken by cell order.
* The oracle ranks by observed count (by count per unit area when areas
  differ, larger counts first among equal densities: a greedy answer to the
  knapsack problem, exact for equal areas; with unequal areas PEI can
  therefore slightly exceed 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from crimemap.errors import InputError

__all__ = [
    "DEFAULT_COVERAGES",
    "CURVE_COVERAGES",
    "RankScores",
    "ForecastScores",
    "rank_scores",
    "forecast_scores",
    "poisson_crps",
    "poisson_loglik",
    "band_coverage",
    "spearman",
    "cells_for_coverage",
]

#: Area coverages reported in tables (1 %, 5 %, 10 %, 20 % of the study area).
DEFAULT_COVERAGES: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20)
#: Coverages of the hit-rate curves (1 % steps up to 50 %).
CURVE_COVERAGES: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 51))

#: Floor on the Poisson mean in the log-likelihood, so that a zero forecast
#: where crime happened costs a large finite penalty instead of -inf.
MU_FLOOR = 1e-6
# Float slack when comparing cumulative areas with c * A (0.05 * 200 != 10.0).
_EPS = 1e-9


@dataclass(frozen=True)
class RankScores:
    """Ranking metrics at several area coverages (averaged over tie seeds).

    Attributes
    ----------
    coverages : tuple of float
        Nominal area shares ``c``.
    hit_rate : numpy.ndarray
        Share of the crimes caught in the top cells covering ``c``.
    area_share : numpy.ndarray
        Realised area share of the selected cells.
    pai : numpy.ndarray
        ``hit_rate / area_share`` (realised area share, Chainey's ``a / A``).
    pai_nominal : numpy.ndarray
        ``hit_rate / coverage`` (nominal share; slightly lower because
        ``floor`` selects at most ``c N`` cells). Kept to compare with
        figures computed that way.
    pei : numpy.ndarray
        Hits / oracle hits with the same area (NaN when no crime).
    oracle_hit_rate, oracle_pai : numpy.ndarray
        The same for the perfect ranking.
    n_events : float
        Crimes in the study area in the period.
    """

    coverages: tuple[float, ...]
    hit_rate: np.ndarray
    area_share: np.ndarray
    pai: np.ndarray
    pai_nominal: np.ndarray
    pei: np.ndarray
    oracle_hit_rate: np.ndarray
    oracle_pai: np.ndarray
    n_events: float

    def at(self, coverage: float) -> dict[str, float]:
        """The metrics at one coverage, as a dict."""
        i = _index(self.coverages, coverage)
        return {
            "hit": float(self.hit_rate[i]),
            "pai": float(self.pai[i]),
            "pai_nominal": float(self.pai_nominal[i]),
            "pei": float(self.pei[i]),
            "oracle_hit": float(self.oracle_hit_rate[i]),
            "oracle_pai": float(self.oracle_pai[i]),
        }


@dataclass(frozen=True)
class ForecastScores:
    """Every metric of one forecast against one period's observed counts.

    Attributes
    ----------
    n_cells : int
        Cells in the study area.
    n_events : float
        Crimes observed in the study area.
    rank : RankScores
        Hit rate, PAI, PEI and oracle at the table coverages.
    curve : RankScores
        The same at :data:`CURVE_COVERAGES` (for plots).
    spearman : float
        Spearman's rho between score and count (NaN if either is constant).
    loglik : float
        Mean per-cell Poisson log-likelihood.
    crps : float
        Mean per-cell Poisson CRPS (lower is better).
    coverage90 : float
        Share of cells with ``lo90 <= y <= hi90``; NaN without a band.
    """

    n_cells: int
    n_events: float
    rank: RankScores
    curve: RankScores
    spearman: float
    loglik: float
    crps: float
    coverage90: float

    def as_dict(self) -> dict[str, float]:
        """Flat ``{metric: value}``: ``hit@5%``, ``pai@5%``, ``pei@5%``, ..."""
        out: dict[str, float] = {"n_cells": float(self.n_cells), "n_events": self.n_events}
        for c in self.rank.coverages:
            tag = f"{c * 100:g}%"
            for k, v in self.rank.at(c).items():
                out[f"{k}@{tag}"] = v
        out.update(
            spearman=self.spearman, loglik=self.loglik, crps=self.crps, coverage90=self.coverage90
        )
        return out


def _index(coverages: Sequence[float], c: float) -> int:
    for i, v in enumerate(coverages):
        if abs(v - c) < 1e-12:
            return i
    raise InputError(f"coverage {c} not among {tuple(coverages)}")


def _check(score: np.ndarray, observed: np.ndarray, areas: np.ndarray | None) -> np.ndarray:
    if score.ndim != 1 or score.shape != observed.shape:
        raise InputError("score and observed must be 1-d arrays of the same length")
    if len(score) == 0:
        raise InputError("no cells to score")
    if not np.all(np.isfinite(score)):
        raise InputError("scores must be finite")
    if np.any(observed < 0) or not np.all(np.isfinite(observed)):
        raise InputError("observed counts must be finite and non-negative")
    a = np.ones(len(score)) if areas is None else np.asarray(areas, float)
    if a.shape != score.shape or np.any(a <= 0):
        raise InputError("areas must be positive, one per cell")
    return a


def cells_for_coverage(sorted_areas: np.ndarray, coverage: float) -> np.ndarray:
    """Number of leading cells whose cumulative area is within ``coverage``.

    ``sorted_areas`` is ``(..., N)`` in rank order; the result is at least 1.
    For equal areas this is ``max(1, floor(coverage * N))``.
    """
    return _k_from_cum(np.cumsum(sorted_areas, axis=-1), coverage)


def _k_from_cum(cum: np.ndarray, coverage: float) -> np.ndarray:
    budget = coverage * cum[..., -1:] * (1 + _EPS)
    # cum is increasing along the last axis, so the count is a sorted search.
    if cum.ndim == 1:
        return np.maximum(np.searchsorted(cum, budget[0], side="right"), 1)
    k = np.array(
        [np.searchsorted(row, b, side="right") for row, b in zip(cum, budget, strict=True)]
    )
    return np.maximum(k.reshape(cum.shape[:-1]), 1)


def _selected(
    sorted_areas: np.ndarray, sorted_obs: np.ndarray, coverages: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Hits and realised area share for each coverage, rows = rankings."""
    cum_a = np.cumsum(sorted_areas, axis=-1)
    cum_o = np.cumsum(sorted_obs, axis=-1)
    total_a = cum_a[:, -1]
    n_rows, n = sorted_areas.shape
    rows = np.arange(n_rows)
    hits = np.empty((n_rows, len(coverages)))
    share = np.empty_like(hits)
    equal = bool(np.all(sorted_areas == sorted_areas[0, 0]))
    for j, c in enumerate(coverages):
        if equal:
            # Same rule as _k_from_cum, in closed form: k = max(1, floor(c N)).
            k = np.full(n_rows, max(1, min(n, int(np.floor(c * n * (1 + _EPS))))))
        else:
            k = _k_from_cum(cum_a, c).ravel()
        hits[:, j] = cum_o[rows, k - 1]
        share[:, j] = cum_a[rows, k - 1] / total_a
    return hits, share


def rank_scores(
    score: np.ndarray,
    observed: np.ndarray,
    *,
    areas: np.ndarray | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    seed: int = 0,
    n_seeds: int = 10,
    ids: np.ndarray | None = None,
) -> RankScores:
    """Hit rate, PAI, PEI and oracle at each area coverage.

    Parameters
    ----------
    score : numpy.ndarray
        ``(N,)`` forecast score per cell (higher = riskier).
    observed : numpy.ndarray
        ``(N,)`` crimes observed per cell in the period.
    areas : numpy.ndarray, optional
        ``(N,)`` cell areas; equal when omitted.
    coverages : sequence of float
        Area shares in ``(0, 1]``.
    seed, n_seeds : int
        Ties in ``score`` are broken by ``n_seeds`` random permutations drawn
        from ``numpy.random.default_rng(seed)``; metrics are their average.
    ids : numpy.ndarray, optional
        ``(N,)`` unique sortable cell ids. The random keys are drawn in id
        order, so the result does not depend on the order of the cells
        (without ids they are drawn in array order, and reordering tied cells
        gives another, equally valid, draw).

    Returns
    -------
    RankScores
    """
    score = np.asarray(score, float)
    observed = np.asarray(observed, float)
    a = _check(score, observed, areas)
    cov = tuple(float(c) for c in coverages)
    if any(not 0 < c <= 1 for c in cov):
        raise InputError("coverages must be in (0, 1]")
    if n_seeds < 1:
        raise InputError("n_seeds must be at least 1")
    n = len(score)
    total = float(observed.sum())

    # Rank by (score, random key): the dense rank of the score plus a uniform
    # key in [0, 1) sorts by score first and breaks ties at random, in one
    # vectorised argsort for all seeds.
    dense = np.unique(score, return_inverse=True)[1].astype(float)
    keys = np.random.default_rng(seed).random((n_seeds, n))
    if ids is not None:
        ids = np.asarray(ids)
        if ids.shape != (n,):
            raise InputError("ids must give one id per cell")
        # Key j goes to the j-th cell in id order: invariant to cell order.
        canon = np.empty_like(keys)
        canon[:, np.argsort(ids, kind="stable")] = keys
        keys = canon
    order = np.argsort(-(dense[None, :] + keys), axis=1, kind="stable")
    hits, share = _selected(a[order], observed[order], cov)

    # Oracle: by observed count (per unit area when areas differ); ties among
    # equal counts do not change the hits for equal areas.
    # Among equal densities, larger counts first (better greedy knapsack).
    o_order = np.lexsort((-observed, -(observed / a)))[None, :]
    o_hits, o_share = _selected(a[o_order], observed[o_order], cov)

    with np.errstate(invalid="ignore", divide="ignore"):
        hr = hits / total if total > 0 else np.full_like(hits, np.nan)
        pai = hr / share
        pei = np.where(o_hits > 0, hits / o_hits, np.nan)
        o_hr = o_hits / total if total > 0 else np.full_like(o_hits, np.nan)
        o_pai = o_hr / o_share
    return RankScores(
        coverages=cov,
        hit_rate=_ro(hr.mean(axis=0)),
        area_share=_ro(share.mean(axis=0)),
        pai=_ro(pai.mean(axis=0)),
        pai_nominal=_ro(hr.mean(axis=0) / np.asarray(cov)),
        pei=_ro(pei.mean(axis=0)),
        oracle_hit_rate=_ro(o_hr[0]),
        oracle_pai=_ro(o_pai[0]),
        n_events=total,
    )


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.setflags(write=False)
    return a


def spearman(score: np.ndarray, observed: np.ndarray) -> float:
    """Spearman's rho with average ranks for ties; NaN if either is constant."""
    score = np.asarray(score, float)
    observed = np.asarray(observed, float)
    if len(score) < 2 or np.ptp(score) == 0 or np.ptp(observed) == 0:
        return float("nan")
    return float(stats.spearmanr(score, observed).statistic)


def poisson_loglik(mean: np.ndarray, observed: np.ndarray) -> float:
    """Mean over cells of ``log P(y | Poisson(max(mean, MU_FLOOR)))``."""
    mu = np.maximum(np.asarray(mean, float), MU_FLOOR)
    return float(np.mean(stats.poisson.logpmf(np.asarray(observed, float), mu)))


def poisson_crps(mean: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per-cell CRPS of ``Poisson(mean)`` at the observed counts.

    Closed form (Wei & Held 2014, eq. in sec. 2.3)::

        CRPS = (y - mu) (2 F(y) - 1) + 2 mu f(floor y)
               - mu exp(-2 mu) (I0(2 mu) + I1(2 mu))

    with ``F``/``f`` the Poisson cdf/pmf and ``I0``, ``I1`` modified Bessel
    functions (computed scaled, ``i0e``/``i1e``, to avoid overflow).
    """
    mu = np.asarray(mean, float)
    y = np.asarray(observed, float)
    if np.any(mu < 0):
        raise InputError("Poisson means must be non-negative")
    fy = np.floor(y)
    cdf = stats.poisson.cdf(fy, mu)
    pmf = stats.poisson.pmf(fy, mu)
    bessel = mu * (special.i0e(2 * mu) + special.i1e(2 * mu))
    out = (y - mu) * (2 * cdf - 1) + 2 * mu * pmf - bessel
    # mu == 0 is a point mass at 0: CRPS = y.
    return np.where(mu == 0, y, out)


def band_coverage(lo: np.ndarray | None, hi: np.ndarray | None, observed: np.ndarray) -> float:
    """Share of cells whose count lies in ``[lo, hi]``; NaN when no band."""
    if lo is None or hi is None:
        return float("nan")
    y = np.asarray(observed, float)
    return float(np.mean((np.asarray(lo) <= y) & (y <= np.asarray(hi))))


def forecast_scores(
    mean: np.ndarray,
    observed: np.ndarray,
    *,
    areas: np.ndarray | None = None,
    lo90: np.ndarray | None = None,
    hi90: np.ndarray | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    curve: Sequence[float] = CURVE_COVERAGES,
    seed: int = 0,
    n_seeds: int = 10,
    ids: np.ndarray | None = None,
) -> ForecastScores:
    """Score one forecast surface (expected counts) against observed counts.

    The ranking uses ``mean`` as the score. See the module docstring for the
    definitions and :func:`rank_scores` for the tie-breaking and ``ids``.
    """
    mean = np.asarray(mean, float)
    observed = np.asarray(observed, float)
    _check(mean, observed, areas)
    both = tuple(sorted(set(map(float, coverages)) | set(map(float, curve))))
    rs = rank_scores(
        mean, observed, areas=areas, coverages=both, seed=seed, n_seeds=n_seeds, ids=ids
    )
    return ForecastScores(
        n_cells=len(mean),
        n_events=float(observed.sum()),
        rank=_pick(rs, coverages),
        curve=_pick(rs, curve),
        spearman=spearman(mean, observed),
        loglik=poisson_loglik(mean, observed),
        crps=float(np.mean(poisson_crps(mean, observed))),
        coverage90=band_coverage(lo90, hi90, observed),
    )


def _pick(rs: RankScores, coverages: Sequence[float]) -> RankScores:
    idx = [_index(rs.coverages, float(c)) for c in coverages]
    return RankScores(
        coverages=tuple(float(c) for c in coverages),
        hit_rate=_ro(rs.hit_rate[idx]),
        area_share=_ro(rs.area_share[idx]),
        pai=_ro(rs.pai[idx]),
        pai_nominal=_ro(rs.pai_nominal[idx]),
        pei=_ro(rs.pei[idx]),
        oracle_hit_rate=_ro(rs.oracle_hit_rate[idx]),
        oracle_pai=_ro(rs.oracle_pai[idx]),
        n_events=rs.n_events,
    )
