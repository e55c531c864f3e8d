"""Refit the map's current forecast after uploads: in the background, debounced.

An accepted ``POST /api/incidents`` calls :meth:`ForecastRefitter.schedule`
with the forces and categories it touched. When they meet the forecast's
crime set, the refit of those forces runs on a background thread once no new
upload has arrived for ``delay`` seconds (a burst of uploads costs one refit;
a steady stream still refits at least every ``max_wait`` seconds). When it
is ready the new forecast replaces the old one in one assignment, is saved
to the forecast cache under the new data version, and a ``change`` event
with ``layers: ["forecast"]`` goes to every open map.

The fits themselves run in one worker *process* (spawned on the first refit
and kept): model fitting is CPU-bound Python and NumPy, and in a thread of
the API process it would hold the GIL against every viewport request. The
API process only reads the force's incidents from the store (DuckDB allows a
single process on the file) and ships them to the worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from crimemap.api._forecast import CurrentForecast, cache_path, refit, save
from crimemap.api._live import Broker
from crimemap.errors import CrimemapError
from crimemap.store import Store
from crimemap.taxonomy import crime_set

__all__ = ["REFIT_DELAY_S", "ForecastRefitter"]

log = logging.getLogger("crimemap.api")

#: Quiet seconds after the last upload before the forecast is refitted.
REFIT_DELAY_S = 2.0


class ForecastRefitter:
    """Debounced background refits of the current forecast.

    Parameters
    ----------
    store : Store
        The store (read by the refit).
    broker : Broker
        Where the ``change`` event is published.
    get : callable
        Returns the current forecast (None: nothing to refit).
    put : callable
        Installs a new forecast.
    version : callable
        The store's data version now (the cache key of the new forecast).
    cache_dir : Path
        The forecast cache folder.
    delay, max_wait : float
        Debounce delay and longest wait since the first pending upload (seconds).
    """

    def __init__(
        self,
        store: Store,
        broker: Broker,
        get: Callable[[], CurrentForecast | None],
        put: Callable[[CurrentForecast], None],
        version: Callable[[], tuple[int, int]],
        cache_dir: Path,
        delay: float = REFIT_DELAY_S,
        max_wait: float = 5 * REFIT_DELAY_S,
        in_process: bool = False,
    ) -> None:
        self.store, self.broker = store, broker
        self._get, self._put, self._version = get, put, version
        self.cache_dir = cache_dir
        self.delay, self.max_wait = delay, max_wait
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._pending: set[str] = set()
        self._first: float | None = None
        self._timer: threading.Timer | None = None
        self.refits = 0
        self.last_error: str | None = None
        self.in_process = in_process
        self._pool: ProcessPoolExecutor | None = None

    def _runner(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.in_process:
            return fn(*args, **kwargs)
        if self._pool is None:
            # spawn, not fork: the API process has threads and an open DuckDB connection.
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        """Stop pending refits and the worker process."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def schedule(self, forces: Iterable[str], categories: Iterable[str]) -> bool:
        """Queue a refit of ``forces`` if ``categories`` meet the forecast's crime set."""
        fc = self._get()
        if fc is None or not set(categories) & crime_set(fc.crime_set):
            return False
        with self._lock:
            self._pending |= set(forces)
            now = time.monotonic()
            self._first = self._first if self._first is not None else now
            wait = max(0.0, min(self.delay, self._first + self.max_wait - now))
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(wait, self._run)
            self._timer.daemon = True
            self._timer.start()
        return True

    def _run(self) -> None:
        with self._run_lock:  # one refit at a time; later uploads wait for the next
            with self._lock:
                forces, self._pending = sorted(self._pending), set()
                self._first, self._timer = None, None
            fc = self._get()
            if not forces or fc is None:
                return
            version = self._version()
            t0 = time.perf_counter()
            try:
                new = refit(self.store, fc, forces, run=self._runner)
            except (CrimemapError, BrokenProcessPool) as exc:
                self._pool = None if isinstance(exc, BrokenProcessPool) else self._pool
                self.last_error = str(exc).split("\n", 1)[0]
                log.warning("forecast refit of %s failed: %s", forces, self.last_error)
                return
            self._put(new)
            self.refits += 1
            self.last_error = None
            try:
                save(
                    new,
                    cache_path(
                        self.store,
                        self.cache_dir,
                        model=new.model,
                        size=new.size,
                        crime_set_name=new.crime_set,
                        version=version,
                    ),
                )
            except OSError as exc:  # the map still has it; only the next start pays
                log.warning("could not cache the refitted forecast: %s", exc)
            event: dict[str, Any] = {
                "layers": ["forecast"],
                "forces": forces,
                "rows_inserted": 0,
                "cells": [],
                "months": [],
                "version": list(version),
                "forecast": {
                    "model": new.model,
                    "crime_set": new.crime_set,
                    "window": [new.start, new.end],
                    "seconds": round(time.perf_counter() - t0, 3),
                },
            }
            self.broker.publish("change", event)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no refit is pending or running (tools and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = self._timer is not None
            if not pending and self._run_lock.acquire(timeout=0.05):
                self._run_lock.release()
                return True
            time.sleep(0.02)
        return False
