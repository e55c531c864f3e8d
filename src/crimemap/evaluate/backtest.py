"""Rolling-origin back-testing of forecasters (out-of-sample by construction).

For each origin ``t`` (a month for police.uk, a week or a day for sources
with exact times) every model is fitted on the incidents that start before
``t`` only, predicts the window ``[t + (h-1), t + h)`` periods for each
horizon ``h``, and is scored against what then happened (Tashman 2000,
*Int. J. Forecasting* 16, 437-450: "rolling-origin evaluation").

* **Study area** at ``t``: every grid cell holding at least one located
  incident of *any* category (including ASB) before ``t``. Every study cell
  gets a score; crimes in cells first seen at or after ``t`` (and unlocated
  ones) cannot be ranked by anyone and are counted apart (``n_outside``).
* **Observed counts**, the study area and the hindsight reference are
  computed once per (force, crime set) as a cell x period cube; each origin
  is then a slice.
* **Reference rows** (not forecasts): ``oracle`` scores the observed counts
  themselves (the ceiling), ``hindsight`` the long-run mean count of every
  *other* complete period with data, before and after the origin (it peeks
  at the future, so it is labelled as not a forecast).

Each (crime set, model, origin) task is a pure function of the prepared data
(:func:`run_task`); ``backtest(..., workers=n)`` fans them out to ``n``
processes (spawned, each receiving the prepared data once).
"""

from __future__ import annotations

import inspect
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap.errors import InsufficientDataError
from crimemap.evaluate._models import cell_keys, check_surface, model_params
from crimemap.evaluate._spill import Spilled, spill, unspill
from crimemap.evaluate.metrics import forecast_scores
from crimemap.evaluate.prepared import (
    BacktestConfig,
    PreparedData,
    data_meta,
    default_origins,
    next_period,
    prepare,
)
from crimemap.evaluate.results import BacktestResult, OriginResult
from crimemap.evaluate.spec import REFERENCE_MODELS, ModelSpec
from crimemap.forecast.base import get_model, make_model
from crimemap.forecast.memo import FitMemo
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable
from crimemap.taxonomy import crime_set as crime_set_categories

__all__ = [
    "BacktestConfig",
    "PreparedData",
    "prepare",
    "default_origins",
    "run_task",
    "run_group",
    "backtest",
    "next_period",
    "data_meta",
]


def run_task(
    prep: PreparedData,
    crime_set: str,
    spec: ModelSpec,
    origin: np.datetime64 | str,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, so safe
) -> list[OriginResult]:
    """Fit one model at one origin on data before it, predict and score.

    Pure: depends only on its arguments. Returns one result per horizon.
    """
    return run_group(prep, crime_set, [spec], origin, config, share_fits=False)


def run_group(
    prep: PreparedData,
    crime_set: str,
    specs: Sequence[ModelSpec],
    origin: np.datetime64 | str,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, so safe
    *,
    share_fits: bool = True,
) -> list[OriginResult]:
    """:func:`run_task` for several models at one origin, sharing what they can.

    The study area, the training incidents and, with ``share_fits``, a
    :class:`~crimemap.forecast.memo.FitMemo` are made once: models that accept
    a ``memo`` (the ensemble) run last and reuse the fits the others made
    (e.g. its ``lgbm`` member at this origin is the ``lgbm`` row's model). The
    results are exactly those of :func:`run_task` for each spec, in spec order;
    only the time a reusing model reports is smaller.
    """
    t = prep.period_index(origin)
    o = prep.periods[t]
    study = prep.first_seen < t
    if not study.any():
        raise InsufficientDataError(f"no incident before origin {o}: empty study area")
    units = prep.units.subset(study)
    memo = FitMemo() if share_fits else None
    events = context = None
    if any(s.name not in REFERENCE_MODELS for s in specs):
        events, context = prep.training_events(crime_set, o), prep.training_context(o)
    takes_memo = [
        s.name not in REFERENCE_MODELS and "memo" in inspect.signature(get_model(s.name)).parameters
        for s in specs
    ]
    # Models that take the memo (the ensemble) run after the fits they reuse.
    order = sorted(range(len(specs)), key=lambda i: takes_memo[i])
    done: dict[int, list[OriginResult]] = {}
    try:
        for i in order:
            done[i] = _run_spec(
                prep,
                crime_set,
                specs[i],
                t,
                study,
                units,
                events,
                context,
                config,
                memo,
                takes_memo[i],
            )
    finally:
        if memo is not None:
            # Drop the fits now: a memo-taking model refers back to the memo, and
            # large arrays in such a cycle would wait for the cyclic collector.
            memo.clear()
    return [r for i in range(len(specs)) for r in done[i]]


def _run_spec(
    prep: PreparedData,
    crime_set: str,
    spec: ModelSpec,
    t: int,
    study: np.ndarray,
    units: Units,
    events: IncidentTable | None,
    context: IncidentTable | None,
    config: BacktestConfig,
    memo: FitMemo | None,
    takes_memo: bool,
) -> list[OriginResult]:
    o = prep.periods[t]
    cube = prep.cubes[crime_set]
    areas = units.areas
    tie_ids = cell_keys(units)

    model: Any = None
    fit_s = 0.0
    if spec.name not in REFERENCE_MODELS:
        assert events is not None
        params = model_params(spec, prep.freq)
        t0 = time.perf_counter()
        if memo is not None and not takes_memo:
            model = memo.fit(spec.name, params, events, units=units, until=o, context=context)
        else:
            if memo is not None:
                # Uses the memo (the ensemble), is not kept in it.
                params.setdefault("memo", memo)
            model = make_model(spec.name, params)
            model.fit(events, units=units, until=o, context=context)
        fit_s = time.perf_counter() - t0

    out = []
    for h in config.horizons:
        ti = t + h - 1
        if ti >= len(prep.periods) or not prep.complete[ti]:
            raise InsufficientDataError(f"no complete data {h} period(s) after origin {o}")
        start, end = prep.periods[ti], next_period(prep.periods[ti], prep.freq)
        observed = cube[study, ti]
        lo = hi = None
        pred_s = 0.0
        if spec.name == "oracle":
            mean = observed.copy()
        elif spec.name == "hindsight":
            others = prep.complete.copy()
            others[ti] = False
            if not others.any():
                raise InsufficientDataError("hindsight needs at least one other period")
            mean = cube[study][:, others].mean(axis=1)
        else:
            t0 = time.perf_counter()
            surface = model.predict(start=start, end=end)
            # The band is computed on first read (RiskSurface.band): read it
            # inside the timed section, so a model's predict time includes it.
            mean, lo, hi = surface.mean, surface.lo90, surface.hi90
            pred_s = time.perf_counter() - t0
            check_surface(surface, units)
        scores = forecast_scores(
            mean,
            observed,
            areas=areas,
            lo90=lo,
            hi90=hi,
            coverages=config.coverages,
            seed=config.seed,
            n_seeds=config.n_seeds,
            ids=tie_ids,
        )
        outside = float(cube[:, ti].sum() - observed.sum() + prep.unlocated[crime_set][ti])
        out.append(
            OriginResult(
                force=prep.force,
                crime_set=crime_set,
                model=spec.label,
                origin=o,
                horizon=h,
                start=start,
                end=end,
                reference=spec.name in REFERENCE_MODELS,
                scores=scores,
                n_outside=outside,
                fit_seconds=fit_s,
                predict_seconds=pred_s,
                ij=units.ij if units.ij is not None else np.empty((0, 2), np.int64),
                mean=np.asarray(mean, float),
                lo90=lo,
                hi90=hi,
                params=MappingProxyType(dict(spec.params)),
            )
        )
    return out


def backtest(
    incidents: IncidentTable,
    *,
    crime_sets: Sequence[str],
    models: Iterable[ModelSpec | str],
    origins: Sequence[np.datetime64 | str] | None = None,
    n_origins: int = 12,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, so safe
    references: Sequence[str] = REFERENCE_MODELS,
    force: str | None = None,
    workers: int | None = None,
    progress: Callable[[OriginResult], None] | None = None,
    worker_imports: Sequence[str] = (),
    share_fits: bool = True,
) -> BacktestResult:
    """Run a rolling-origin back-test for one force (or city).

    Parameters
    ----------
    incidents : IncidentTable
        Every incident of the force (all categories: the study area uses
        them all).
    crime_sets : sequence of str
        Crime set names (see :data:`crimemap.taxonomy.CRIME_SETS`).
    models : iterable of ModelSpec or str
        Registered models (``"name"`` or ``"name:k=v,..."``).
    origins : sequence, optional
        Origin periods; default the last ``n_origins`` usable ones.
    config : BacktestConfig
        Grid, period, horizons, coverages and tie-breaking.
    references : sequence of str
        Reference rows to add (``oracle``, ``hindsight``).
    workers : int, optional
        Run the (crime set, model, origin) tasks in this many spawned
        processes (models must be registered on import of
        :mod:`crimemap.forecast` or of the modules listed in
        ``worker_imports``); serial when ``None`` or 1.
    worker_imports : sequence of str
        Modules each worker imports first (e.g. an add-on's models).
    progress : callable, optional
        Called with each result as it is produced.
    share_fits : bool
        Run every model of a (crime set, origin) in one task and let the
        ensemble reuse its members' fits (:func:`run_group`). Results are
        identical either way; ``False`` runs each (crime set, model, origin)
        alone, so that each model's reported time is its stand-alone cost.
    """
    specs = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
    specs = [ModelSpec(r) for r in references if r not in {s.name for s in specs}] + specs
    for cs in crime_sets:
        crime_set_categories(cs)
    prep = prepare(incidents, crime_sets, config, force=force)
    if origins is None:
        origin_list = default_origins(prep, n_origins, config.horizons)
    else:
        origin_list = [prep.periods[prep.period_index(o)] for o in origins]
    results: list[OriginResult] = []

    def collect(rs: list[OriginResult]) -> None:
        for r in rs:
            results.append(r)
            if progress is not None:
                progress(r)

    if share_fits:
        # One task per (crime set, origin) running every model: the ensemble
        # reuses the fits of its members made in the same task.
        tasks: list[tuple[str, list[ModelSpec], np.datetime64]] = [
            (cs, specs, o) for cs in crime_sets for o in origin_list
        ]
    else:
        tasks = [(cs, [s], o) for cs in crime_sets for s in specs for o in origin_list]
    if workers is None or workers <= 1:
        for cs, ss, o in tasks:
            collect(run_group(prep, cs, ss, o, config, share_fits=share_fits))
    else:
        # Spawned (not forked) workers: forking after Arrow/OpenMP thread pools
        # have started can deadlock. The incident tables reach the workers as
        # memory-mapped Arrow files (see evaluate/_spill.py), the rest pickled.
        ctx = multiprocessing.get_context("spawn")
        with tempfile.TemporaryDirectory(prefix="crimemap-backtest-") as tmp:
            handle = spill(prep, Path(tmp))
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(handle, config, tuple(worker_imports)),
            ) as ex:
                for rs in ex.map(_run_in_worker, [(cs, ss, o, share_fits) for cs, ss, o in tasks]):
                    collect(rs)
    # The same order whatever the grouping: crime set, model, origin, horizon.
    rank_cs = {c: i for i, c in enumerate(dict.fromkeys(crime_sets))}
    rank_m = {s.label: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: (rank_cs[r.crime_set], rank_m[r.model], r.origin, r.horizon))
    meta = {
        **data_meta(prep, origin_list),
        "crime_sets": list(crime_sets),
        "models": [s.to_dict() for s in specs],
    }
    return BacktestResult(config=config, results=tuple(results), meta=(meta,))


_WORKER: dict[str, Any] = {}


def _init_worker(
    prep: PreparedData | Spilled, config: BacktestConfig, imports: tuple[str, ...]
) -> None:
    import importlib

    from threadpoolctl import threadpool_limits

    # One worker per core: BLAS/OpenMP pools of their own would oversubscribe the
    # cores and spin (LightGBM models already default to one thread).
    threadpool_limits(1)
    importlib.import_module("crimemap.forecast")  # registers the built-in models
    for m in imports:
        importlib.import_module(m)
    _WORKER["prep"] = unspill(prep) if isinstance(prep, Spilled) else prep
    _WORKER["config"] = config


def _run_in_worker(
    task: tuple[str, list[ModelSpec], np.datetime64, bool],
) -> list[OriginResult]:
    cs, specs, origin, share = task
    return run_group(_WORKER["prep"], cs, specs, origin, _WORKER["config"], share_fits=share)
