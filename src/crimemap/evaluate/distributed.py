"""Back-tests and forecasts for many forces, run as independent tasks on Dask.

A national run is many small, independent jobs: one per (force, crime set,
model) for a back-test (every origin of it), one per (force, crime set) for
an operational forecast. This module runs them serially in this process or
on a :mod:`dask.distributed` cluster: a local one (``workers=N``: ``N``
single-threaded worker processes on this machine) or an existing scheduler
(``scheduler="tcp://host:8786"``, workers on other machines).

Nothing large goes through the scheduler. A task carries only its small
arguments (the store URL, force, crime sets, model spec, dates, settings);
the worker opens the store itself, read-only, and reads the force's
incidents. DuckDB allows any number of read-only processes on one file (no
writer may hold it meanwhile); PostgreSQL serves any number of readers. A
force's tasks go preferably to one worker, which keeps the last two forces
it prepared, so a force's incidents are read and indexed about once.

Results do not depend on where a task ran: every task is a pure function of
its arguments and of the store's contents (models draw randomness only from
their ``seed``, the tie-breaking of the metrics is seeded), and results are
gathered back into the order of the task list, whatever order they finish
in. The serial run and a Dask run therefore give identical numbers (only the
measured fit and predict seconds differ); the test suite checks it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from crimemap.errors import InputError, NotFoundError
from crimemap.evaluate.backtest import run_group
from crimemap.evaluate.export import surface_frame
from crimemap.evaluate.operational import forecast_next, parse_horizon
from crimemap.evaluate.prepared import (
    BacktestConfig,
    PreparedData,
    data_meta,
    default_origins,
    prepare,
)
from crimemap.evaluate.results import BacktestResult, OriginResult
from crimemap.evaluate.spec import REFERENCE_MODELS, ModelSpec
from crimemap.table import IncidentTable
from crimemap.taxonomy import crime_set as crime_set_categories

__all__ = [
    "BacktestJob",
    "ForecastJob",
    "worker_store_url",
    "run_backtest_job",
    "run_forecast_job",
    "distributed_backtest",
    "distributed_forecasts",
]

T = TypeVar("T")
R = TypeVar("R")

#: Progress callback: ``progress(done, total)`` after each finished task.
Progress = Callable[[int, int], None]


def worker_store_url(store: str | Path) -> str:
    """The store URL as a worker (another process, maybe another machine) must see it.

    A DuckDB path becomes an absolute ``duckdb:////...`` URL, because a
    worker's working directory may differ; PostgreSQL URLs pass unchanged.
    An in-memory DuckDB store cannot be shared and is refused.

    Raises
    ------
    crimemap.errors.InputError
        For an in-memory store or an unknown scheme.
    """
    s = str(store)
    if s.startswith(("postgresql://", "postgres://")):
        return s
    if s.startswith("duckdb://"):
        rest = s[len("duckdb://") :]
        s = rest[1:] if rest.startswith("/") else rest
    elif "://" in s:
        raise InputError(f"unknown store URL scheme in {s!r}; use duckdb:///path or a file path")
    if s in ("", ":memory:"):
        raise InputError("an in-memory store cannot be read by worker processes; use a file")
    return f"duckdb:///{Path(s).resolve()}"


# --------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class BacktestJob:
    """One back-test task: a model on one force's crime set, at every origin.

    Attributes
    ----------
    store : str
        Store URL the worker opens read-only (see :func:`worker_store_url`).
    force : str
        Force (or city) slug.
    crime_set : str
        Crime set scored by this task.
    spec : ModelSpec
        Model (or reference row) and its hyperparameters.
    crime_sets : tuple of str
        Every crime set of the run: a worker prepares them together once per
        force and reuses the preparation for the force's other tasks.
    n_origins : int
        The last ``n_origins`` usable periods are origins (unless ``origins``).
    origins : tuple of str or None
        Explicit origins (``YYYY-MM`` or ISO dates).
    config : BacktestConfig
        Grid, period, horizons, coverages, tie-breaking.
    worker_imports : tuple of str
        Modules imported before the task runs (add-ons registering models).
    also : tuple of ModelSpec
        Further models run in the same task, origin by origin with ``spec``
        (:func:`crimemap.evaluate.run_group`), so that the ensemble reuses the
        fits of its members made in the task. Results are those of separate
        tasks.
    """

    store: str
    force: str
    crime_set: str
    spec: ModelSpec
    crime_sets: tuple[str, ...]
    n_origins: int = 12
    origins: tuple[str, ...] | None = None
    config: BacktestConfig = BacktestConfig()
    worker_imports: tuple[str, ...] = ()
    also: tuple[ModelSpec, ...] = ()


@dataclass(frozen=True)
class ForecastJob:
    """One operational forecast task: a model's next-period surface for one force.

    Attributes
    ----------
    store, force, crime_set : str
        As in :class:`BacktestJob`.
    spec : ModelSpec
        Forecast model.
    horizon : str
        ``1m``, ``2w``, ``1d`` (see :func:`crimemap.evaluate.parse_horizon`).
    cell_size : float
        Grid cell side in metres.
    start : str or None
        Ignore incidents before this time.
    worker_imports : tuple of str
        Modules imported before the task runs.
    """

    store: str
    force: str
    crime_set: str
    spec: ModelSpec
    horizon: str = "1m"
    cell_size: float = 250.0
    start: str | None = None
    worker_imports: tuple[str, ...] = ()


# A worker process keeps the last two forces it read: tasks of one force are
# sent preferably to one worker, but the scheduler may move some to an idle
# worker, which must not then evict the force it is working on. Two entries
# at most, so a national run never holds many large forces at once.
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_SIZE = 2


def _cached(key: tuple[Any, ...], make: Callable[[], T]) -> T:
    if key in _CACHE:
        _CACHE[key] = _CACHE.pop(key)  # most recently used last
    else:
        while len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = make()
    value: T = _CACHE[key]
    return value


def _import(modules: Iterable[str]) -> None:
    importlib.import_module("crimemap.forecast")  # registers the built-in models
    for m in modules:
        importlib.import_module(m)


def _read_force(store: str, force: str) -> IncidentTable:
    from crimemap.store import open_store

    with open_store(store, read_only=True) as st:
        incidents = st.incidents(forces=[force])
    if len(incidents) == 0:
        raise NotFoundError(f"no incidents for force {force!r} in the store")
    return incidents


def _prepared(job: BacktestJob) -> PreparedData:
    key = ("backtest", job.store, job.force, job.crime_sets, job.config)
    return _cached(
        key,
        lambda: prepare(
            _read_force(job.store, job.force), job.crime_sets, job.config, force=job.force
        ),
    )


def run_backtest_job(job: BacktestJob) -> tuple[list[OriginResult], dict[str, Any]]:
    """Run one back-test task (in a worker or in this process).

    Returns
    -------
    results : list of OriginResult
        One per origin and horizon, in origin order.
    meta : dict
        The force's data description (as in :attr:`BacktestResult.meta`).
    """
    _import(job.worker_imports)
    prep = _prepared(job)
    if job.origins is None:
        origins = default_origins(prep, job.n_origins, job.config.horizons)
    else:
        origins = [prep.periods[prep.period_index(o)] for o in job.origins]
    specs = [job.spec, *job.also]
    per_spec: list[list[OriginResult]] = [[] for _ in specs]
    for o in origins:
        rs = run_group(prep, job.crime_set, specs, o, job.config, share_fits=bool(job.also))
        n = len(rs) // len(specs)  # one result per horizon for each spec, in spec order
        for i in range(len(specs)):
            per_spec[i].extend(rs[i * n : (i + 1) * n])
    # Model by model, then origin: the order of separate tasks.
    return [r for rs in per_spec for r in rs], data_meta(prep, origins)


def run_forecast_job(job: ForecastJob) -> pd.DataFrame:
    """Run one forecast task; the surface in the export format.

    Returns
    -------
    pandas.DataFrame
        :data:`crimemap.evaluate.EXPORT_COLUMNS` (``origin`` = the window's
        start), one row per cell of the study area.
    """
    _import(job.worker_imports)
    incidents = _cached(
        ("incidents", job.store, job.force), lambda: _read_force(job.store, job.force)
    )
    h = parse_horizon(job.horizon)
    surface = forecast_next(
        incidents,
        crime_set=job.crime_set,
        model=job.spec,
        horizon=h,
        cell_size=job.cell_size,
        start=job.start,
    )
    return surface_frame(
        surface, force=job.force, crime_set=job.crime_set, freq=h.freq, horizon=h.steps
    )


# ------------------------------------------------------------------ execution
@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, timeout: float = 30.0) -> Iterator[Any]:
    """A Dask client on an existing scheduler or on a new local cluster."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            remote = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
        with remote as client:
            yield client
        return
    # One thread per worker process: the models are single-threaded numpy /
    # LightGBM code holding the GIL part of the time, so processes, not
    # threads, give the speed-up. The scheduler's HTTP server (metrics; the
    # dashboard if bokeh is installed) takes a free port, never a fixed one.
    with (
        LocalCluster(
            n_workers=int(workers or 1),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _execute(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int | None,
    scheduler: str | None,
    progress: Progress | None,
    timeout: float = 30.0,
) -> list[R]:
    """Run ``fn`` on every task; results in task order, whatever finishes first."""
    n = len(tasks)
    if scheduler is None and (workers is None or workers <= 1):
        out: list[R] = []
        try:
            for t in tasks:
                out.append(fn(t))
                if progress is not None:
                    progress(len(out), n)
        finally:
            _CACHE.clear()  # the caller's process keeps no force in memory
        return out

    from dask.distributed import as_completed

    results: list[Any] = [None] * n
    with _client(workers, scheduler, timeout) as client:
        # Locality: all tasks of one force go preferably to one worker, which
        # then reads and prepares the force once (its cache); the scheduler
        # may still move them to an idle worker (allow_other_workers).
        # pure=False: each task runs once, under its own key.
        addrs = sorted(client.scheduler_info(n_workers=-1)["workers"])
        home: dict[str, str] = {}
        futures = []
        for t in tasks:
            force = str(getattr(t, "force", ""))
            where_to = home.setdefault(force, addrs[len(home) % len(addrs)]) if addrs else None
            futures.append(
                client.submit(
                    fn,
                    t,
                    pure=False,
                    workers=[where_to] if where_to else None,
                    allow_other_workers=True,
                )
            )
        where = {f.key: i for i, f in enumerate(futures)}
        done = 0
        try:
            for fut in as_completed(futures):
                results[where[fut.key]] = fut.result()  # re-raises a task's error here
                done += 1
                if progress is not None:
                    progress(done, n)
        except BaseException:
            client.cancel(futures)
            raise
    return results


def _specs(models: Iterable[ModelSpec | str], references: Sequence[str]) -> list[ModelSpec]:
    specs = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
    names = {s.name for s in specs}
    return [ModelSpec(r) for r in references if r not in names] + specs


def distributed_backtest(
    store: str | Path,
    *,
    forces: Sequence[str],
    crime_sets: Sequence[str],
    models: Iterable[ModelSpec | str],
    n_origins: int = 12,
    origins: Sequence[np.datetime64 | str] | None = None,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, so safe
    references: Sequence[str] = REFERENCE_MODELS,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    worker_imports: Sequence[str] = (),
    connect_timeout: float = 30.0,
    share_fits: bool = True,
) -> BacktestResult:
    """Back-test models for many forces, one task per (force, crime set, model).

    With ``share_fits`` (the default) the models of a (force, crime set) run in
    one task instead, origin by origin, and the ensemble reuses its members'
    fits (:func:`crimemap.evaluate.run_group`); the results are the same.

    Parameters
    ----------
    store : str or Path
        Store URL or DuckDB path; every task opens it read-only.
    forces : sequence of str
        Force slugs, in the order of the result.
    crime_sets, models, n_origins, origins, config, references
        As in :func:`crimemap.evaluate.backtest` (origins apply to every force).
    workers : int, optional
        Start a local Dask cluster of this many single-threaded worker
        processes; serial in this process when ``None`` or 1.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its
        workers must reach the store at the same URL. Overrides ``workers``.
    progress : callable, optional
        ``progress(done, total)`` after each task.
    worker_imports : sequence of str
        Modules each task imports first (add-ons registering models).
    connect_timeout : float
        Seconds to wait for ``scheduler`` before giving up.

    Returns
    -------
    BacktestResult
        Results ordered by force, crime set, model (references first), origin
        and horizon, exactly as a serial run; one ``meta`` entry per force.

    Raises
    ------
    crimemap.errors.InputError
        On an unknown crime set or model, or a store workers cannot open.
    crimemap.errors.NotFoundError
        If a force has no incidents in the store.
    """
    if not forces:
        raise InputError("no force to back-test")
    url = worker_store_url(store)
    sets = tuple(dict.fromkeys(crime_sets))
    for cs in sets:
        crime_set_categories(cs)
    specs = _specs(models, references)
    _import(worker_imports)
    from crimemap.forecast.base import get_model

    for s in specs:
        if not s.reference:
            get_model(s.name)  # fail before starting a cluster
    when = None if origins is None else tuple(str(o) for o in origins)
    forces = list(dict.fromkeys(forces))
    imports = tuple(worker_imports)
    if share_fits and len(specs) > 1:
        jobs = [
            BacktestJob(
                url, f, cs, specs[0], sets, n_origins, when, config, imports, tuple(specs[1:])
            )
            for f in forces
            for cs in sets
        ]
    else:
        jobs = [
            BacktestJob(url, f, cs, s, sets, n_origins, when, config, imports)
            for f in forces
            for cs in sets
            for s in specs
        ]
    outputs = _execute(
        run_backtest_job,
        jobs,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        timeout=connect_timeout,
    )
    metas: dict[str, dict[str, Any]] = {}
    results: list[OriginResult] = []
    for job, (rs, meta) in zip(jobs, outputs, strict=True):
        results.extend(rs)
        metas.setdefault(job.force, meta)
    extra = {"crime_sets": list(sets), "models": [s.to_dict() for s in specs]}
    return BacktestResult(
        config=config,
        results=tuple(results),
        meta=tuple(metas[f] | extra for f in forces),
    )


def distributed_forecasts(
    store: str | Path,
    *,
    forces: Sequence[str],
    crime_sets: Sequence[str],
    model: ModelSpec | str,
    horizon: str = "1m",
    cell_size: float = 250.0,
    start: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    worker_imports: Sequence[str] = (),
    connect_timeout: float = 30.0,
) -> pd.DataFrame:
    """Next-period forecasts for many forces, one task per (force, crime set).

    Each surface is the one :func:`crimemap.evaluate.forecast_next` makes
    (the back-test's protocol with the origin after the data). Arguments as
    in :func:`distributed_backtest`; ``model`` and ``horizon`` as in
    :func:`crimemap.evaluate.forecast_next`.

    Returns
    -------
    pandas.DataFrame
        Every surface in the export format
        (:data:`crimemap.evaluate.EXPORT_COLUMNS`), ordered by force, then
        crime set, then cell, exactly as a serial run.
    """
    if not forces:
        raise InputError("no force to forecast")
    url = worker_store_url(store)
    spec = model if isinstance(model, ModelSpec) else ModelSpec.parse(model)
    if spec.reference:
        raise InputError(f"{spec.name!r} is a back-test reference, not a forecast model")
    parse_horizon(horizon)
    _import(worker_imports)
    sets = tuple(dict.fromkeys(crime_sets))
    for cs in sets:
        crime_set_categories(cs)
    jobs = [
        ForecastJob(url, f, cs, spec, horizon, cell_size, start, tuple(worker_imports))
        for f in dict.fromkeys(forces)
        for cs in sets
    ]
    frames = _execute(
        run_forecast_job,
        jobs,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        timeout=connect_timeout,
    )
    return pd.concat(frames, ignore_index=True)
