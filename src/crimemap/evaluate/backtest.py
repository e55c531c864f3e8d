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
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from crimemap.errors import InputError, InsufficientDataError
from crimemap.evaluate._models import cell_keys, check_surface, model_params
from crimemap.evaluate._spill import Spilled, spill, unspill
from crimemap.evaluate.metrics import DEFAULT_COVERAGES, forecast_scores
from crimemap.evaluate.results import BacktestResult, OriginResult
from crimemap.evaluate.spec import REFERENCE_MODELS, ModelSpec
from crimemap.forecast.base import get_model, make_model
from crimemap.forecast.memo import FitMemo
from crimemap.spatial.cube import bin_starts
from crimemap.spatial.grid import Grid, cell_index
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
]

_PRECISION_RANK = {"month": 0, "day": 1, "minute": 2}
_FREQ_NEEDS = {"M": 0, "W": 1, "D": 1}


@dataclass(frozen=True)
class BacktestConfig:
    """Settings of a back-test (stored with its outputs for reproduction).

    Attributes
    ----------
    cell_size : float
        Grid cell side in metres (250 m by default).
    freq : {"M", "W", "D"}
        Period of the origins and of the forecast window.
    horizons : tuple of int
        Forecast horizons in periods (1 = the period starting at the origin).
    coverages : tuple of float
        Area coverages of the hit rate / PAI / PEI columns.
    n_seeds : int
        Random tie-breaking permutations averaged in the ranking metrics.
    seed : int
        Seed of the tie-breaking.
    start : str or None
        Ignore incidents that start before this time (e.g. placeholder dates).
    """

    cell_size: float = 250.0
    freq: str = "M"
    horizons: tuple[int, ...] = (1,)
    coverages: tuple[float, ...] = DEFAULT_COVERAGES
    n_seeds: int = 10
    seed: int = 0
    start: str | None = None

    def __post_init__(self) -> None:
        if self.freq not in _FREQ_NEEDS:
            raise InputError(f"unknown back-test frequency {self.freq!r}; use M, W or D")
        if not self.horizons or min(self.horizons) < 1:
            raise InputError("horizons must be positive integers")


def _period_range(first: np.datetime64, last: np.datetime64, freq: str) -> np.ndarray:
    """Period starts from ``first`` to ``last`` (both bin starts), inclusive."""
    if freq == "M":
        m0, m1 = np.array([first, last], dtype="datetime64[s]").astype("datetime64[M]")
        return np.arange(m0, m1 + 1).astype("datetime64[s]")
    step = np.timedelta64({"W": 7, "D": 1}[freq], "D").astype("timedelta64[s]")
    return np.arange(first, last + step, step).astype("datetime64[s]")


def next_period(start: np.datetime64, freq: str, n: int = 1) -> np.datetime64:
    """Start of the period ``n`` periods after the one starting at ``start``."""
    s = np.array(start, dtype="datetime64[s]")
    if freq == "M":
        out = (s.astype("datetime64[M]") + n).astype("datetime64[s]")
    else:
        out = s + np.timedelta64({"W": 7, "D": 1}[freq] * n, "D").astype("timedelta64[s]")
    return np.datetime64(out.item(), "s")


@dataclass(frozen=True, eq=False)
class PreparedData:
    """One force's incidents indexed once for every origin of a back-test.

    Attributes
    ----------
    force : str
        Label of the data (force or city).
    incidents : IncidentTable
        All incidents used (every category), after the ``start`` cut, sorted
        by ``t_start`` (so the context of an origin is a zero-copy prefix).
    units : Units
        Every grid cell that ever holds a located incident.
    periods : numpy.ndarray
        Period starts from the first to the last incident.
    complete : numpy.ndarray
        ``(t,)`` bool: the period is inside the data span and has incidents.
    first_seen : numpy.ndarray
        ``(n_cells,)`` index of the first period with an incident in the cell.
    cubes : mapping
        Crime set -> ``(n_cells, t)`` counts of located incidents.
    unlocated : mapping
        Crime set -> ``(t,)`` counts of incidents without a cell.
    events : mapping
        Crime set -> its incidents sorted by ``t_start`` (so the training
        data of an origin is a zero-copy prefix).
    event_starts : mapping
        Crime set -> sorted ``t_start`` of those incidents.
    freq : str
        Period of the cube.
    """

    force: str
    incidents: IncidentTable
    units: Units
    periods: np.ndarray
    complete: np.ndarray
    first_seen: np.ndarray
    cubes: Mapping[str, np.ndarray]
    unlocated: Mapping[str, np.ndarray]
    events: Mapping[str, IncidentTable]
    event_starts: Mapping[str, np.ndarray]
    freq: str

    def training_events(self, crime_set: str, origin: np.datetime64) -> IncidentTable:
        """The crime set's incidents that start strictly before ``origin``."""
        n = int(np.searchsorted(self.event_starts[crime_set], origin, side="left"))
        ev = self.events[crime_set]
        return ev.rows(ev.arrow.slice(0, n))

    def training_context(self, origin: np.datetime64) -> IncidentTable:
        """Incidents of every category that start strictly before ``origin``.

        Passed to the models as ``context`` (explanatory features only).
        """
        n = int(np.searchsorted(self.incidents.starts(), origin, side="left"))
        return self.incidents.rows(self.incidents.arrow.slice(0, n))

    def period_index(self, origin: np.datetime64 | str) -> int:
        """Index of the period starting at ``origin``."""
        o = bin_starts(np.array([origin], dtype="datetime64[s]"), self.freq)[0]
        i = int(np.searchsorted(self.periods, o))
        if i >= len(self.periods) or self.periods[i] != o:
            raise InputError(f"origin {origin} is outside the data ({self.span()})")
        return i

    def span(self) -> str:
        """The data range, as text."""
        unit = "datetime64[M]" if self.freq == "M" else "datetime64[D]"
        first = self.periods[0].astype(unit)
        last = np.datetime64(next_period(self.periods[-1], self.freq)).astype(unit)
        return f"{first} .. {last} (exclusive)"

    def __reduce__(self) -> tuple[Any, ...]:
        # IncidentTable and mappingproxy do not pickle: send Arrow tables and
        # dicts, rebuild (and re-validate) on the other side.
        state = {
            "force": self.force,
            "incidents": self.incidents.arrow,
            "units": self.units,
            "periods": self.periods,
            "complete": self.complete,
            "first_seen": self.first_seen,
            "cubes": dict(self.cubes),
            "unlocated": dict(self.unlocated),
            "events": {k: v.arrow for k, v in self.events.items()},
            "event_starts": dict(self.event_starts),
            "freq": self.freq,
        }
        return (_rebuild_prepared, (state,))


def _rebuild_prepared(state: dict[str, Any]) -> PreparedData:
    state = dict(state)
    state["incidents"] = IncidentTable(state["incidents"])
    state["events"] = MappingProxyType({k: IncidentTable(v) for k, v in state["events"].items()})
    for k in ("cubes", "unlocated", "event_starts"):
        state[k] = MappingProxyType(state[k])
    return PreparedData(**state)


def prepare(
    incidents: IncidentTable,
    crime_sets: Sequence[str],
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, so safe
    *,
    force: str | None = None,
) -> PreparedData:
    """Index incidents by cell and period once for a whole back-test.

    Raises
    ------
    crimemap.errors.InputError
        If ``freq`` is finer than the incidents' time precision.
    crimemap.errors.InsufficientDataError
        If there are no located incidents.
    """
    if config.start is not None:
        incidents = incidents.filter(start=config.start)
    if len(incidents) == 0:
        raise InsufficientDataError("no incidents to back-test")
    # Sorted by start once (stable: ties keep their order), so every crime
    # set's events and the all-category context of an origin are prefixes.
    t0 = incidents.starts()
    if len(t0) > 1 and not (t0[1:] >= t0[:-1]).all():
        order = np.argsort(t0, kind="stable")
        incidents = incidents.rows(incidents.arrow.take(pa.array(order)))
    prec = incidents.arrow["t_precision"].unique().to_pylist()
    if min(_PRECISION_RANK[p] for p in prec) < _FREQ_NEEDS[config.freq]:
        raise InputError(
            f"back-test period {config.freq!r} is finer than the data's time precision "
            f"({', '.join(sorted(prec))}); police.uk data is month-only"
        )
    xy = incidents.xy()
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        raise InsufficientDataError("no located incidents to back-test")
    crs = int(incidents.arrow["crs"][0].as_py() or 27700)
    grid = Grid(config.cell_size, crs)
    ij_all = grid.ij(xy[ok, 0], xy[ok, 1])
    # Unique cells through one int64 key: much faster than unique rows.
    key = (ij_all[:, 0] + (1 << 31)) * (1 << 32) + (ij_all[:, 1] + (1 << 31))
    _, first = np.unique(key, return_index=True)
    units = grid.units(ij_all[first])
    pos = cell_index(units, incidents)

    t_start = incidents.starts()
    bins = bin_starts(t_start, config.freq)
    first, last = bins.min(), bins.max()
    periods = _period_range(first, last, config.freq)
    tix = np.searchsorted(periods, bins)

    # Categories as small integer codes, so crime-set membership is an integer isin.
    enc = incidents.arrow["category"].combine_chunks().dictionary_encode()
    cat_names = enc.dictionary.to_pylist()
    cat_codes = enc.indices.to_numpy(zero_copy_only=False)
    data_start = np.datetime64(config.start, "s") if config.start is not None else t_start.min()
    data_end = incidents.arrow["t_end"].to_numpy().astype("datetime64[s]").max()
    ends = np.array([next_period(p, config.freq) for p in periods], dtype="datetime64[s]")
    any_counts = np.bincount(tix, minlength=len(periods))
    complete = (periods >= bin_starts(np.array([data_start]), config.freq)[0]) & (ends <= data_end)
    complete &= any_counts > 0
    if config.freq != "M":
        complete &= periods >= data_start

    first_seen = np.full(len(units), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_seen, pos[pos >= 0], tix[pos >= 0])

    cubes: dict[str, np.ndarray] = {}
    unloc: dict[str, np.ndarray] = {}
    events: dict[str, IncidentTable] = {}
    starts: dict[str, np.ndarray] = {}
    for cs in dict.fromkeys(crime_sets):
        wanted = [i for i, c in enumerate(cat_names) if c in crime_set_categories(cs)]
        sel = np.isin(cat_codes, wanted)
        m = sel & (pos >= 0)
        c = (
            np.bincount(pos[m] * len(periods) + tix[m], minlength=len(units) * len(periods))
            .reshape(len(units), len(periods))
            .astype(float)
        )
        c.setflags(write=False)
        cubes[cs] = c
        u = np.bincount(tix[sel & (pos < 0)], minlength=len(periods)).astype(float)
        u.setflags(write=False)
        unloc[cs] = u
        idx = np.flatnonzero(sel)
        idx = idx[np.argsort(t_start[idx], kind="stable")]
        events[cs] = incidents.rows(incidents.arrow.take(pa.array(idx)))
        st = t_start[idx]
        st.setflags(write=False)
        starts[cs] = st
    for a in (periods, complete, first_seen):
        a.setflags(write=False)
    name = force
    if name is None:
        forces = incidents.arrow["force"].unique().to_pylist()
        name = forces[0] if len(forces) == 1 else "+".join(sorted(forces))
    return PreparedData(
        force=name,
        incidents=incidents,
        units=units,
        periods=periods,
        complete=complete,
        first_seen=first_seen,
        cubes=MappingProxyType(cubes),
        unlocated=MappingProxyType(unloc),
        events=MappingProxyType(events),
        event_starts=MappingProxyType(starts),
        freq=config.freq,
    )


def default_origins(
    prep: PreparedData, n: int = 12, horizons: Sequence[int] = (1,)
) -> list[np.datetime64]:
    """The last ``n`` periods usable as origins.

    An origin needs data before it and a complete period with data at every
    horizon (a month missing from the source is skipped, not scored as zero).
    """
    ok = []
    for i in range(1, len(prep.periods)):
        targets = [i + h - 1 for h in horizons]
        if all(t < len(prep.periods) and prep.complete[t] for t in targets):
            ok.append(prep.periods[i])
    if not ok:
        raise InsufficientDataError("no period can serve as a back-test origin")
    return ok[-n:]


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


def data_meta(prep: PreparedData, origins: Sequence[np.datetime64]) -> dict[str, Any]:
    """What a back-test ran on: force, data range, sizes, missing periods, origins."""
    return {
        "force": prep.force,
        "data_range": prep.span(),
        "n_incidents": len(prep.incidents),
        "n_cells_ever": len(prep.units),
        "crs": prep.units.crs,
        "missing_periods": [
            str(p) for p, c in zip(prep.periods, prep.complete, strict=True) if not c
        ],
        "origins": [str(o) for o in origins],
    }


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
