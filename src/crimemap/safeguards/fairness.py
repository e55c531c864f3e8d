"""Bias audit of place-based forecasts: deprivation, parity, enforcement data, feedback.

Method
------
For one force and crime set, a forecasting model (default the fast ``ewm``
baseline) is run at ``n_origins`` monthly origins (train on everything
before the origin, predict the next month). Each month the top
``top_share`` of the study cells by forecast are *flagged* (ties broken by a
seeded random key). Cells get an IMD 2019 decile and a resident population
(:mod:`crimemap.safeguards.areas`). Summed over origins:

exposure
    per decile ``d``: ``flag_share_d`` = flagged cell-months in ``d`` /
    all flagged cell-months; ``crime_share_d`` = recorded crime in ``d`` in
    the forecast months / all; ``exposure_ratio_d = flag_share_d /
    crime_share_d`` (1 = flagged in proportion to recorded crime);
    ``pop_flag_rate_d`` = share of the decile's residents living in a
    flagged cell (averaged over months).
performance parity
    per decile: ``hit_rate_d`` = crimes of ``d`` that fell in flagged cells
    / crimes of ``d``; ``area_share_d`` = flagged cell-months of ``d`` / cell-
    months of ``d``; ``PAI_d = hit_rate_d / area_share_d`` (Chainey et al.
    2008). The overall hit rate and PAI are cross-checked with
    :func:`crimemap.evaluate.metrics.rank_scores`.
enforcement-driven data
    crimes that are mostly *found* by police rather than reported
    (:data:`crimemap.taxonomy.POLICE_INITIATED`: drugs, possession of
    weapons) measure police activity as much as crime. Reported: the share
    of the forecast in flagged cells that comes from a forecast of those
    categories alone, the overlap (Jaccard) of the flagged cells with and
    without them, and the hit rate of both forecasts on victim-reported crime.
feedback loop
    :func:`crimemap.safeguards.feedback.simulate_feedback` on the force's
    own cell rates, stationary and with crime moving after 6 months.

A result is marked a **concern** by the fixed rules of :class:`Thresholds`
(chosen before looking at any force's results; documented in
``docs/safeguards.md``). Deciles with fewer than ``min_cells`` cells are
reported but not judged.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. *Security Journal* 21, 4-28.
Ensign, D. et al. (2018). Runaway feedback loops in predictive policing.
*PMLR* 81, 160-171.
Lum, K. & Isaac, W. (2016). To predict and serve? *Significance* 13(5).
Richardson, R., Schultz, J. & Crawford, K. (2019). Dirty data, bad
predictions. *NYU Law Review Online* 94, 192-233.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crimemap.errors import InsufficientDataError
from crimemap.safeguards.areas import CellDeprivation, MatchRate, cell_deprivation
from crimemap.safeguards.concerns import Concern, Thresholds, find_concerns
from crimemap.safeguards.feedback import FeedbackConfig, FeedbackRun, simulate_feedback, top_k
from crimemap.spatial.covariates import LsoaCovariates
from crimemap.spatial.cube import count_cube
from crimemap.spatial.grid import grid_units
from crimemap.spatial.lsoa import LsoaPolygons, lsoa_index
from crimemap.table import IncidentTable
from crimemap.taxonomy import POLICE_INITIATED, crime_set

__all__ = [
    "Concern",
    "DecileTable",
    "EnforcementResult",
    "FairnessResult",
    "Thresholds",
    "decile_table",
    "fairness_audit",
    "find_concerns",
    "shifted_rates",
]

DECILES = np.arange(11)  # 0 = unknown, 1 = most deprived, 10 = least


@dataclass(frozen=True, eq=False)
class DecileTable:
    """Exposure and parity per IMD decile (index 0 = unknown decile, 1..10).

    Every attribute is an ``(11,)`` array (see the module docstring):
    ``cells``, ``flagged`` (cell-months), ``observed`` (crimes),
    ``flag_share``, ``crime_share``, ``exposure_ratio``, ``population``,
    ``pop_flag_rate``, ``hit_rate``, ``area_share``, ``pai``; plus the
    overall ``hit_rate_all``, ``area_share_all`` and ``pai_all``.
    """

    cells: np.ndarray
    flagged: np.ndarray
    observed: np.ndarray
    flag_share: np.ndarray
    crime_share: np.ndarray
    exposure_ratio: np.ndarray
    population: np.ndarray
    pop_flag_rate: np.ndarray
    hit_rate: np.ndarray
    area_share: np.ndarray
    pai: np.ndarray
    hit_rate_all: float
    area_share_all: float
    pai_all: float

    def rows(self) -> list[dict[str, float | None]]:
        """One dict per decile (0 = unknown; NaN -> None), for tables and JSON."""
        names = (
            "cells",
            "flagged",
            "observed",
            "flag_share",
            "crime_share",
            "exposure_ratio",
            "population",
            "pop_flag_rate",
            "hit_rate",
            "area_share",
            "pai",
        )
        return [{"decile": int(d), **{k: _f(getattr(self, k)[d]) for k in names}} for d in DECILES]


def _f(v: Any) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def decile_table(
    flagged: np.ndarray, observed: np.ndarray, decile: np.ndarray, population: np.ndarray
) -> DecileTable:
    """Exposure and parity by decile from flags and outcomes over origins.

    Parameters
    ----------
    flagged : numpy.ndarray
        ``(n_origins, n)`` bool, cells flagged at each origin.
    observed : numpy.ndarray
        ``(n_origins, n)`` crimes recorded in each forecast month.
    decile : numpy.ndarray
        ``(n,)`` int in 0..10 (0 = unknown).
    population : numpy.ndarray
        ``(n,)`` residents per cell.
    """
    f = np.atleast_2d(np.asarray(flagged, bool)).astype(float)
    o = np.atleast_2d(np.asarray(observed, float))
    dec = np.asarray(decile, np.int64)
    pop = np.asarray(population, float)
    n_o = f.shape[0]

    def by(v: np.ndarray) -> np.ndarray:
        return np.bincount(dec, weights=v, minlength=11)[:11]

    cells = by(np.ones(len(dec)))
    fl = by(f.sum(axis=0))
    obs = by(o.sum(axis=0))
    hits = by((f * o).sum(axis=0))
    popd = by(pop)
    pop_fl = by((f * pop).sum(axis=0)) / n_o
    area = _div(fl, cells * n_o)
    hit = _div(hits, obs)
    flag_share = fl / fl.sum() if fl.sum() else np.full(11, np.nan)
    crime_share = obs / obs.sum() if obs.sum() else np.full(11, np.nan)
    hit_all = float(hits.sum() / obs.sum()) if obs.sum() else float("nan")
    area_all = float(fl.sum() / (len(dec) * n_o)) if len(dec) else float("nan")
    return DecileTable(
        cells=cells,
        flagged=fl,
        observed=obs,
        flag_share=flag_share,
        crime_share=crime_share,
        exposure_ratio=_div(flag_share, crime_share),
        population=popd,
        pop_flag_rate=_div(pop_fl, popd),
        hit_rate=hit,
        area_share=area,
        pai=_div(hit, area),
        hit_rate_all=hit_all,
        area_share_all=area_all,
        pai_all=hit_all / area_all if area_all > 0 else float("nan"),
    )


@dataclass(frozen=True)
class EnforcementResult:
    """How much of the flagging comes from police-initiated categories.

    Attributes
    ----------
    applicable : bool
        False when the crime set has no police-initiated category.
    share : float
        Mean over origins of (police-initiated forecast / full forecast) in
        the flagged cells.
    overlap : float
        Mean Jaccard overlap of flagged cells with and without them.
    hit_victim_with, hit_victim_without : float
        Hit rate on victim-reported crime of the forecast with / without them.
    """

    applicable: bool
    share: float
    overlap: float
    hit_victim_with: float
    hit_victim_without: float


@dataclass(frozen=True, eq=False)
class FairnessResult:
    """Everything the fairness report shows (see :func:`fairness_audit`).

    ``outside_area`` counts the force's located incidents outside its LSOA
    polygons (recorded elsewhere in England and Wales), which are dropped;
    ``match`` is computed on the incidents inside the area.
    """

    force: str
    crime_set: str
    model: str
    origins: tuple[str, ...]
    cell_m: float
    top_share: float
    n_cells: int
    outside_area: int
    match: MatchRate
    deciles: DecileTable
    overall_rank: Mapping[str, float]
    enforcement: EnforcementResult
    feedback: Mapping[str, FeedbackRun]
    feedback_deprived_share: Mapping[str, Mapping[str, float]]
    thresholds: Thresholds
    concerns: tuple[Concern, ...] = field(default_factory=tuple)


def shifted_rates(rate: np.ndarray, config: FeedbackConfig, at: int = 6) -> np.ndarray:
    """Truth for the "crime moves" scenario: after ``at`` simulated months the
    top-k cells swap rates with the next k cells."""
    rate = np.asarray(rate, float)
    n = len(rate)
    k = max(1, int(np.floor(config.top_share * n)))
    order = np.lexsort((np.arange(n), -rate))
    moved = rate.copy()
    a, b = order[:k], order[k : 2 * k]
    moved[a], moved[b] = rate[b], rate[a]
    before = config.warmup + at
    return np.vstack(
        [np.tile(rate, (before, 1)), np.tile(moved, (config.warmup + config.months - before, 1))]
    )


def _mask(inc: IncidentTable, m: np.ndarray) -> IncidentTable:
    import pyarrow as pa

    return IncidentTable(inc.arrow.filter(pa.array(m)))


def fairness_audit(
    incidents: IncidentTable,
    *,
    force: str,
    crime_set_name: str = "all-crime",
    imd: LsoaCovariates,
    polys: LsoaPolygons | None = None,
    model: str = "ewm",
    params: Mapping[str, Any] | None = None,
    cell_m: float = 500.0,
    top_share: float = 0.05,
    n_origins: int = 6,
    feedback: FeedbackConfig | None = None,
    thresholds: Thresholds | None = None,
    seed: int = 0,
) -> FairnessResult:
    """Run the bias audit for one force and crime set (see the module docstring).

    Raises
    ------
    crimemap.errors.InsufficientDataError
        With fewer than ``n_origins + 6`` months of data.
    """
    from crimemap.evaluate.metrics import rank_scores
    from crimemap.forecast import make_model

    th = thresholds or Thresholds()
    fb_cfg = feedback or FeedbackConfig(top_share=top_share, seed=seed)
    inc = incidents.filter(forces=[force], located=True)
    n_located = len(inc)
    if polys is not None:
        inc = _mask(inc, lsoa_index(polys, inc) >= 0)  # clip to the force area
    cats = crime_set(crime_set_name)
    ev = inc.filter(categories=cats)
    months = np.unique(ev.months())
    if len(months) < n_origins + 6:
        raise InsufficientDataError(
            f"fairness audit needs at least {n_origins + 6} months of {crime_set_name} for {force}"
        )
    units = grid_units(inc, cell_m)
    dep: CellDeprivation = cell_deprivation(units, inc, imd, polys)
    origins = months[-n_origins:]
    end = months[-1] + 1
    cube = count_cube(ev, units, freq="M", start=months[0], end=end)
    per = cube.periods.astype("datetime64[M]")
    pi = cats & POLICE_INITIATED
    victim_cube = (
        count_cube(ev.filter(categories=cats - POLICE_INITIATED), units, start=months[0], end=end)
        if pi
        else cube
    )
    n = len(units)
    k = max(1, int(np.floor(top_share * n)))
    rng = np.random.default_rng(seed)
    flags, obs, ranks = [], [], []
    shares, overlaps, hv_with, hv_without = [], [], [], []

    # Models may use every category as explanatory context, as in operation;
    # the counterfactual without police-initiated records drops them there too.
    every = frozenset(inc.arrow["category"].unique().to_pylist())
    ctx_no_pi = inc.filter(categories=every - POLICE_INITIATED)

    def forecast(
        events: IncidentTable, o: np.datetime64, context: IncidentTable = inc
    ) -> np.ndarray:
        t, t1 = o.astype("datetime64[s]"), (o + 1).astype("datetime64[s]")
        m = make_model(model, params).fit(events, units=units, until=t, context=context)
        return np.asarray(m.predict(start=t, end=t1).mean)

    for o in origins:
        t = o
        col = int(np.flatnonzero(per == o)[0])
        y = cube.counts[:, col]
        score = forecast(ev, t)
        fl = top_k(score, k, rng)
        flags.append(fl)
        obs.append(y)
        rs = rank_scores(score, y, coverages=(top_share,), seed=seed, ids=units.ids)
        ranks.append((rs.hit_rate[0], rs.pai[0]))
        if pi:
            yv = victim_cube.counts[:, col]
            s_pi = forecast(ev.filter(categories=pi), t)
            s_no = forecast(ev.filter(categories=cats - POLICE_INITIATED), t, ctx_no_pi)
            fl_no = top_k(s_no, k, np.random.default_rng(seed + 1))
            tot = score[fl].sum()
            shares.append(float(s_pi[fl].sum() / tot) if tot > 0 else 0.0)
            overlaps.append(float((fl & fl_no).sum() / (fl | fl_no).sum()))
            if yv.sum() > 0:
                hv_with.append(float(yv[fl].sum() / yv.sum()))
                hv_without.append(float(yv[fl_no].sum() / yv.sum()))
    table = decile_table(np.array(flags), np.array(obs), dep.decile, dep.population)
    enf = EnforcementResult(
        applicable=bool(pi),
        share=float(np.mean(shares)) if shares else 0.0,
        overlap=float(np.mean(overlaps)) if overlaps else 1.0,
        hit_victim_with=float(np.mean(hv_with)) if hv_with else float("nan"),
        hit_victim_without=float(np.mean(hv_without)) if hv_without else float("nan"),
    )
    # Feedback simulation on the force's own rates (months with data only).
    has = cube.counts.sum(axis=0) > 0
    rate = cube.counts[:, has].mean(axis=1)
    runs = {
        "stationary": simulate_feedback(rate, fb_cfg),
        "crime moves": simulate_feedback(shifted_rates(rate, fb_cfg), fb_cfg),
    }
    deprived = (dep.decile >= 1) & (dep.decile <= 2)
    dep_share = {
        name: {
            "truth": float(deprived[r.true_top[-1]].mean()),
            **{s: float(deprived[f[-1]].mean()) for s, f in r.flagged.items()},
        }
        for name, r in runs.items()
    }
    hr, pai = np.mean(ranks, axis=0)
    result = FairnessResult(
        force=force,
        crime_set=crime_set_name,
        model=model,
        origins=tuple(str(o) for o in origins),
        cell_m=float(cell_m),
        top_share=float(top_share),
        n_cells=n,
        outside_area=n_located - len(inc),
        match=dep.match,
        deciles=table,
        overall_rank={"hit_rate": float(hr), "pai": float(pai)},
        enforcement=enf,
        feedback=runs,
        feedback_deprived_share=dep_share,
        thresholds=th,
    )
    object.__setattr__(result, "concerns", tuple(find_concerns(result)))
    return result
