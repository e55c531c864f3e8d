"""Everything one API process holds: the store connection, the cell index, caches, the broker.

DuckDB allows one read-write process per file, so the API process owns the
only connection (the store gives each query its own cursor) and every
upload goes through :meth:`AppState.ingest_files`, which also keeps the
in-memory index and caches in step with the store.

On PostgreSQL several API processes (workers) share the database. Each
keeps its own index; an upload to one worker is relayed to the others
through the store's event channel (``LISTEN``/``NOTIFY``, see
:mod:`crimemap.api._live`) with the ids of the files it stored, and each
worker adds those files' counts to its index (:meth:`AppState.apply_remote`)
before telling its own maps. File ids grow in commit order (the store
allocates them under its write lock), so the index records the highest file
id it was built from and never counts a file twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import numpy as np

from crimemap.api import _queries as q
from crimemap.api._cells import CELL_SIZES, CellIndex, month_label
from crimemap.api._forecast import CurrentForecast, cache_path, load_or_compute
from crimemap.api._forecast import load as load_forecast_file
from crimemap.api._layers import (
    EMERGING_MIN_CELL_M,
    Filter,
    StudyArea,
    emerging_layer,
    hotspot_layer,
    study_area,
)
from crimemap.api._live import Broker
from crimemap.api._refit import ForecastRefitter
from crimemap.api._units import UnitLayers
from crimemap.errors import CrimemapError, StoreError
from crimemap.ingest import ingest
from crimemap.settings import Settings
from crimemap.store import Store
from crimemap.taxonomy import crime_set

__all__ = ["AppState"]

log = logging.getLogger("crimemap.api")
_T = TypeVar("_T")


class AppState:
    """Shared state of one API process.

    Parameters
    ----------
    settings : Settings
        The configuration.
    store : Store
        The open store, of either backend (owned by the app from now on).
    """

    def __init__(self, settings: Settings, store: Store, cache_size: int = 256) -> None:
        if not isinstance(store, Store):
            raise StoreError(f"the API serves a crimemap store, not {type(store).__name__}")
        self.settings = settings
        self.store = store
        self.crs = q.main_crs(store)
        self.index = CellIndex(self.crs)
        # Files up to this id are in the index, and any above it listed in _loaded.
        self._upto = q.max_file_id(store)
        self._loaded: set[int] = set()
        self._index_lock = threading.Lock()
        self.index.add(q.cell_month_counts(store, self.crs, max_file_id=self._upto))
        # H3 / LSOA counts by month and day/hour counts of exactly timed records.
        self.units = UnitLayers(self.index, settings.lsoa_geojson_dir)
        self.units.add_store(store, max_file_id=self._upto)
        self.version = q.data_version(store)
        self.broker = Broker()
        self.forecast: CurrentForecast | None = None
        self.forecast_error: str | None = None
        self.refitter = ForecastRefitter(
            store,
            self.broker,
            get=lambda: self.forecast,
            put=self._set_forecast,
            version=lambda: self.version,
            cache_dir=Path(settings.out_dir) / "forecasts",
        )
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._inflight: dict[tuple[Any, ...], threading.Lock] = {}
        self.write_lock = threading.Lock()
        # Few compute threads: the work is CPU-bound under one GIL, and a short
        # queue in the event loop serves requests in order instead of
        # time-slicing dozens of them (which delays every one).
        self.limiter = anyio.CapacityLimiter(max(2, settings.threads))
        # Statistics computed on a cache miss (hot spots, emerging) queue on their
        # own thread, so one slow analysis never holds up viewport renders.
        self.heavy_limiter = anyio.CapacityLimiter(1)
        self._static: dict[Any, Any] = {}

    async def run(self, fn: Callable[..., _T], *args: Any, heavy: bool = False) -> _T:
        """Run CPU-bound ``fn(*args)`` in the API's small compute pool (or the heavy one)."""
        limiter = self.heavy_limiter if heavy else self.limiter
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    def is_cached(self, key: tuple[Any, ...]) -> bool:
        """True when ``key`` is cached for the current data version."""
        with self._cache_lock:
            return (self.version, *key) in self._cache

    # --------------------------------------------------------------- cache
    def cached(self, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
        """``compute()`` once per key and data version (LRU; concurrent misses compute once)."""
        full = (self.version, *key)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]
            lock = self._inflight.setdefault(full, threading.Lock())
        with lock:
            with self._cache_lock:
                if full in self._cache:
                    return self._cache[full]
            try:
                value = compute()
            finally:
                with self._cache_lock:
                    self._inflight.pop(full, None)
            with self._cache_lock:
                self._cache[full] = value
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return value

    def cached_static(self, key: str, compute: Callable[[], _T]) -> _T:
        """``compute()`` once per process (data that hardly moves with new incidents)."""
        with self._cache_lock:
            if key in self._static:
                return self._static[key]
        value = compute()
        with self._cache_lock:
            self._static.setdefault(key, value)
            return self._static[key]

    def study(self, size: float, force: str | None) -> StudyArea:
        """The study area of one cell size and force.

        Cached until cells are added (not per data version: new incidents in
        known cells leave the study area and its contiguity unchanged).
        """
        key = ("study", size, force, self.index.n_cells(size))
        with self._cache_lock:
            hit = self._static.get(key)
        if hit is not None:
            return hit
        area = study_area(self.index, size, force)
        with self._cache_lock:
            stale = [k for k in self._static if k[:3] == key[:3] and k != key]
            for k in stale:
                del self._static[k]
            self._static[key] = area
        return area

    def warm_up(self) -> None:
        """Build study areas, and the map's default hot spot layers, before the first view.

        The default view is every force, all crime, volume, the last three
        months (emerging: every month); errors (too little data) are left for
        the request to report.
        """
        months = self.index.month_indices()
        if len(months) == 0:
            return
        end = int(months[-1])
        start = int(months[max(len(months) - 3, 0)])
        cats = crime_set("all-crime")
        hot = Filter(cats, start, end, None, "volume")
        emerging = Filter(cats, None, end, None, "volume")
        for size in CELL_SIZES:
            area = self.study(size, None)
            with contextlib.suppress(CrimemapError):
                self.cached(("hotspots", size, hot), partial(hotspot_layer, self.index, area, hot))
            if size >= EMERGING_MIN_CELL_M:
                with contextlib.suppress(CrimemapError):
                    self.cached(
                        ("emerging", size, emerging),
                        partial(emerging_layer, self.index, area, emerging),
                    )

    # ------------------------------------------------------------ forecast
    def load_forecast(self) -> None:
        """Load or compute the current forecast (errors are kept, not raised)."""
        s = self.settings
        try:
            self.forecast = load_or_compute(
                self.store,
                Path(s.out_dir) / "forecasts",
                model=s.forecast_model,
                size=float(s.forecast_cell_m),
                crime_set_name=s.forecast_crime_set,
                version=self.version,
            )
            self.forecast_error = None
        except CrimemapError as exc:
            self.forecast, self.forecast_error = None, str(exc).split("\n", 1)[0]
            log.warning("no current forecast: %s", self.forecast_error)

    def _set_forecast(self, fc: CurrentForecast) -> None:
        self.forecast, self.forecast_error = fc, None

    def _remote_forecast(self, data: dict[str, Any]) -> None:
        """Another worker refitted the forecast: take its cached copy, or refit here."""
        fc = self.forecast
        if fc is None:
            return
        path = cache_path(
            self.store,
            Path(self.settings.out_dir) / "forecasts",
            model=fc.model,
            size=fc.size,
            crime_set_name=fc.crime_set,
            version=tuple(int(v) for v in data.get("version", ())),  # type: ignore[arg-type]
        )
        try:
            self._set_forecast(load_forecast_file(path))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            # Not on a shared disk (or not written yet): this worker refits on its own.
            self.refitter.schedule(data.get("forces", []), crime_set(fc.crime_set))

    # -------------------------------------------------------------- writes
    def ingest_files(self, paths: Sequence[Path], *, policy: str) -> tuple[Any, dict[str, Any]]:
        """Ingest files atomically, then update the index incrementally.

        Returns the store's report and what changed: base (250 m) cells,
        months and forces of the new incidents.
        """
        with self.write_lock:
            report = ingest(
                self.store,
                list(paths),
                policy=policy,
                pii_key=(
                    self.settings.pii_key.get_secret_value().encode()
                    if self.settings.pii_key
                    else None
                ),
                threads=1,
            )
            change = self._add_files(list(report.file_ids))
            change["file_ids"] = list(report.file_ids)
        return report, change

    def _add_files(self, file_ids: list[int]) -> dict[str, Any]:
        """Add the counts of stored files not yet in the index; refresh the data version."""
        change: dict[str, Any] = {
            "cells": np.zeros((0, 2), np.int64),
            "months": [],
            "forces": [],
            "categories": [],
        }
        with self._index_lock:
            todo = sorted(f for f in set(file_ids) if f > self._upto and f not in self._loaded)
            if todo:
                new = q.cell_month_counts(self.store, self.crs, file_ids=todo)
                self._loaded.update(todo)
                change["cells"] = self.index.add(new)
                change["months"] = sorted({month_label(int(m)) for m in new["month"].to_pylist()})
                change["forces"] = sorted(set(new["force"].to_pylist()))
                change["categories"] = sorted(set(new["category"].to_pylist()))
                self.units.add_store(self.store, file_ids=todo)
            self.version = q.data_version(self.store)
        return change

    # ------------------------------------------------------- other workers
    def start_relay(self) -> None:
        """Hear the other workers' uploads (PostgreSQL stores; nothing to do on DuckDB)."""
        channel = self.store.channel("crimemap_events")
        if channel is not None:
            self.broker.attach(channel, self.apply_remote)

    def apply_remote(self, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Bring the index up to date with another worker's upload; the event for our maps."""
        if event != "change":
            return data
        if "forecast" in data.get("layers", ()):
            self._remote_forecast(data)
        change = self._add_files([int(f) for f in data.pop("file_ids", [])])
        cells = [f"g{q.BASE_CELL_M:g}:{i}:{j}" for i, j in change["cells"]]
        return {**data, "cells": cells[:2000], "version": list(self.version)}
