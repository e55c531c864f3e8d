"""Back-testing patrol plans against what happened next.

Method
------
At each rolling origin ``t`` (Tashman 2000), exactly as in
:func:`crimemap.evaluate.backtest.run_task`: the study area is every grid
cell holding any incident before ``t``, the model is fitted on the crime
set's incidents before ``t`` and forecasts the period starting at ``t``.
From that forecast we build

* the **plan**: ``N`` compact contiguous areas (:func:`plan_patrols`);
* optionally the **fair plan**: the same with the IMD fairness cap;
* the **top-k** reference: the ``k`` cells with the highest forecast, with
  ``k`` the plan's number of cells (the same area, scattered);

and score each against the incidents of the period (never seen by the model):
crime captured, captured per km² patrolled, hit rate (captured / all crime in
the study area) and the prediction accuracy index
``PAI = hit rate / (area patrolled / study area)`` (Chainey, Tompson & Uhlig
2008). The **price of compactness** is ``1 - captured(plan) /
captured(top-k)``; the **price of fairness** ``1 - captured(fair plan) /
captured(plan)``. Ties in the top-k ranking are broken by cell position
(grid ``(i, j)``), so the reference is deterministic.

References
----------
Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy.
*Int. J. Forecasting* 16, 437-450.
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. *Security Journal* 21, 4-28.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from crimemap.allocate.plan import PatrolPlan, plan_patrols
from crimemap.errors import InputError, InsufficientDataError
from crimemap.evaluate.prepared import PreparedData, default_origins, next_period
from crimemap.evaluate.spec import REFERENCE_MODELS, ModelSpec
from crimemap.forecast.base import get_model, make_model
from crimemap.forecast.surface import RiskSurface

__all__ = [
    "PlanScore",
    "PlanOriginResult",
    "PlanBacktest",
    "score_cells",
    "top_k_mask",
    "plan_backtest",
]


@dataclass(frozen=True)
class PlanScore:
    """How one set of patrolled cells did in the forecast period.

    Attributes
    ----------
    label : str
        ``"plan"``, ``"fair plan"``, ``"top-k"`` or ``"top-k (fair area)"``.
    n_cells : int
        Cells patrolled.
    area_km2 : float
        Area patrolled.
    forecast : float
        Forecast count in those cells.
    captured : float
        Incidents that then happened in them.
    per_km2 : float
        ``captured / area_km2``.
    hit_rate : float
        ``captured`` over every incident in the study area.
    pai : float
        Hit rate over the share of the study area patrolled.
    cells : tuple of str
        Ids of the cells patrolled.
    """

    label: str
    n_cells: int
    area_km2: float
    forecast: float
    captured: float
    per_km2: float
    hit_rate: float
    pai: float
    cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanOriginResult:
    """All scores of one origin.

    Attributes
    ----------
    force, crime_set, model : str
        What was planned.
    origin : numpy.datetime64
        Start of the forecast period.
    n_study_cells : int
        Cells in the study area.
    observed : float
        Incidents in the study area in the period.
    n_outside : float
        Incidents of the period outside the study area or unlocated (no
        plan can capture them; not in ``observed``).
    scores : tuple of PlanScore
        One row per plan / reference.
    gap, fair_gap : float
        Optimality gap of the plan (and the fair plan) to CP-SAT's bound.
    status : str
        CP-SAT status of the plan (and fair plan), e.g. ``OPTIMAL/FEASIBLE``.
    seconds : float
        Wall time of the origin (fit, forecast and plans).
    """

    force: str
    crime_set: str
    model: str
    origin: np.datetime64
    n_study_cells: int
    observed: float
    n_outside: float
    scores: tuple[PlanScore, ...]
    gap: float
    fair_gap: float
    status: str
    seconds: float

    def score(self, label: str) -> PlanScore:
        """The row with this label."""
        for s in self.scores:
            if s.label == label:
                return s
        raise InputError(f"no {label!r} row at origin {self.origin}")


@dataclass(frozen=True)
class PlanBacktest:
    """Per-origin plan scores of one force and their summary.

    Attributes
    ----------
    results : tuple of PlanOriginResult
        One per origin, in time order.
    params : dict
        The planning request (areas, cells, radius, cap, time limit).
    """

    results: tuple[PlanOriginResult, ...]
    params: dict[str, object]

    def labels(self) -> list[str]:
        """Row labels present at every origin."""
        return [s.label for s in self.results[0].scores] if self.results else []

    def total(self, label: str, field: str) -> float:
        """Sum of a score field over the origins."""
        return float(sum(getattr(r.score(label), field) for r in self.results))

    def mean(self, label: str, field: str) -> float:
        """Mean of a score field over the origins."""
        return self.total(label, field) / max(len(self.results), 1)

    def price(self, label: str, reference: str) -> float:
        """``1 - captured(label) / captured(reference)``, pooled over origins."""
        ref = self.total(reference, "captured")
        return 1.0 - self.total(label, "captured") / ref if ref > 0 else float("nan")


def top_k_mask(scores: np.ndarray, k: int, tie_keys: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the ``k`` highest scores (ties: smallest ``tie_keys`` first)."""
    scores = np.asarray(scores, float)
    keys = np.arange(len(scores)) if tie_keys is None else np.asarray(tie_keys)
    order = np.lexsort((keys, -scores))
    mask = np.zeros(len(scores), bool)
    mask[order[: max(int(k), 0)]] = True
    return mask


def score_cells(
    label: str,
    mask: np.ndarray,
    *,
    observed: np.ndarray,
    forecast: np.ndarray,
    areas_m2: np.ndarray,
    ids: np.ndarray | None = None,
) -> PlanScore:
    """Score the cells in ``mask`` against the observed counts of the period."""
    mask = np.asarray(mask, bool)
    km2 = float(areas_m2[mask].sum()) / 1e6
    total_km2 = float(areas_m2.sum()) / 1e6
    captured = float(observed[mask].sum())
    total = float(observed.sum())
    hit = captured / total if total > 0 else float("nan")
    share = km2 / total_km2 if total_km2 > 0 else float("nan")
    return PlanScore(
        label=label,
        n_cells=int(mask.sum()),
        area_km2=km2,
        forecast=float(forecast[mask].sum()),
        captured=captured,
        per_km2=captured / km2 if km2 > 0 else float("nan"),
        hit_rate=hit,
        pai=hit / share if share and share > 0 else float("nan"),
        cells=() if ids is None else tuple(str(v) for v in np.asarray(ids)[mask]),
    )


def _surface(prep: PreparedData, crime_set: str, spec: ModelSpec, t: int) -> RiskSurface:
    o = prep.periods[t]
    study = prep.first_seen < t
    units = prep.units.subset(study)
    params = dict(spec.params)
    if "freq" in inspect.signature(get_model(spec.name)).parameters:
        params.setdefault("freq", prep.freq)
    model = make_model(spec.name, params)
    model.fit(
        prep.training_events(crime_set, o), units=units, until=o, context=prep.training_context(o)
    )
    surface: RiskSurface = model.predict(start=o, end=next_period(o, prep.freq))
    if not np.array_equal(surface.units.ids, units.ids):
        raise InputError(f"model {spec.name} scored other units than the study area")
    return surface


def plan_backtest(
    prep: PreparedData,
    *,
    crime_set: str = "all-crime",
    model: ModelSpec | str = "ewm",
    origins: Sequence[np.datetime64 | str] | None = None,
    n_origins: int = 12,
    n_areas: int = 10,
    max_cells: int = 16,
    fairness_cap: float | None = None,
    deciles: np.ndarray | None = None,
    time_limit_s: float = 5.0,
    seed: int = 0,
    progress: Callable[[PlanOriginResult], None] | None = None,
) -> PlanBacktest:
    """Plan at every origin and score plans and top-k cells against the next period.

    Parameters
    ----------
    prep : PreparedData
        From :func:`crimemap.evaluate.prepare` (one force, the crime set in it).
    crime_set : str
        Crime set planned for.
    model : ModelSpec or str
        Forecaster (``"ewm"`` by default).
    origins : sequence, optional
        Origin periods; default the last ``n_origins`` usable ones.
    n_areas, max_cells : int
        Plan size.
    fairness_cap : float, optional
        Also plan with this IMD cap (needs ``deciles``).
    deciles : numpy.ndarray, optional
        IMD decile per cell of ``prep.units`` (NaN unknown); build it from
        incidents before the first origin.
    time_limit_s : float
        CP-SAT time limit per plan.
    """
    spec = model if isinstance(model, ModelSpec) else ModelSpec.parse(model)
    if spec.name in REFERENCE_MODELS:
        raise InputError(f"{spec.name!r} is a reference, not a forecast model")
    if crime_set not in prep.cubes:
        raise InputError(f"crime set {crime_set!r} was not prepared")
    if fairness_cap is not None and (deciles is None or len(deciles) != len(prep.units)):
        raise InputError("the fairness cap needs one decile per prepared cell")
    if origins is None:
        origin_list = default_origins(prep, n_origins)
    else:
        origin_list = [prep.periods[prep.period_index(o)] for o in origins]
    cube = prep.cubes[crime_set]
    out = []
    for o in origin_list:
        t0 = time.perf_counter()
        t = prep.period_index(o)
        if not prep.complete[t]:
            raise InsufficientDataError(f"no complete data in the period starting {o}")
        study = prep.first_seen < t
        surface = _surface(prep, crime_set, spec, t)
        observed = cube[study, t]
        areas = surface.units.areas
        ij = surface.units.ij
        ties = None if ij is None else (ij[:, 0] + (1 << 31)) * (1 << 32) + (ij[:, 1] + (1 << 31))

        row = partial(
            score_cells,
            observed=observed,
            forecast=surface.mean,
            areas_m2=areas,
            ids=surface.units.ids,
        )

        plan = plan_patrols(
            surface, n_areas, max_cells=max_cells, time_limit_s=time_limit_s, seed=seed
        )
        rows = [
            row("plan", plan.covered),
            row("top-k", top_k_mask(surface.mean, plan.n_cells, ties)),
        ]
        fair: PatrolPlan | None = None
        if fairness_cap is not None and deciles is not None:
            fair = plan_patrols(
                surface,
                n_areas,
                max_cells=max_cells,
                time_limit_s=time_limit_s,
                seed=seed,
                fairness_cap=fairness_cap,
                deciles=np.asarray(deciles, float)[study],
            )
            rows.append(row("fair plan", fair.covered))
            rows.append(row("top-k (fair area)", top_k_mask(surface.mean, fair.n_cells, ties)))
        outside = float(cube[:, t].sum() - observed.sum() + prep.unlocated[crime_set][t])
        res = PlanOriginResult(
            force=prep.force,
            crime_set=crime_set,
            model=spec.label,
            origin=prep.periods[t],
            n_study_cells=int(study.sum()),
            observed=float(observed.sum()),
            n_outside=outside,
            scores=tuple(rows),
            gap=plan.gap,
            fair_gap=fair.gap if fair is not None else float("nan"),
            status=plan.status + (f"/{fair.status}" if fair is not None else ""),
            seconds=time.perf_counter() - t0,
        )
        out.append(res)
        if progress is not None:
            progress(res)
    params: dict[str, object] = {
        "n_areas": n_areas,
        "max_cells": max_cells,
        "fairness_cap": fairness_cap,
        "time_limit_s": time_limit_s,
        "model": spec.label,
        "crime_set": crime_set,
    }
    return PlanBacktest(results=tuple(out), params=params)
