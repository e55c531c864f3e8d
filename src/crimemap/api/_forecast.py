"""The current forecast the map shows: computed once per data version, cached on disk.

At start-up the API loads the forecast for the store's data version from
``<out_dir>/forecasts/`` or, if there is none, fits the configured model per
force on the chosen crime set and forecasts the month after the last month of
data. The result is saved so that the next start (or the demo) reuses it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crimemap.errors import InsufficientDataError
from crimemap.evaluate.operational import forecast_next
from crimemap.evaluate.spec import ModelSpec
from crimemap.forecast import get_model
from crimemap.store import Store
from crimemap.table import IncidentTable
from crimemap.taxonomy import crime_set

__all__ = [
    "CurrentForecast",
    "DRIVER_LABELS",
    "cache_path",
    "fit_force",
    "load_or_compute",
    "refit",
    "save",
]

#: Component name (as models report them) -> the driver it stands for.
DRIVER_LABELS = {
    "near_repeat": "near-repeat effect",
    "recent": "recent events",
    "last": "recent events",
    "ewm": "recent events",
    "background": "long-run baseline",
    "long_run": "long-run baseline",
    "mean": "long-run baseline",
    "baseline": "average cell (model baseline)",
    "neighbours": "near-repeat / neighbouring cells",
    "category_mix": "recent category mix",
    "context": "overall crime level of the place and its neighbourhood",
    "covariates": "area covariates",
    "season": "season",
    "seasonal": "season",
}


@dataclass(frozen=True, eq=False)
class CurrentForecast:
    """One forecast window for every force, on one grid.

    Attributes
    ----------
    model, crime_set : str
        Model registry name and the crime set forecast.
    size : float
        Grid cell side (metres).
    start, end : str
        The window ``[start, end)`` as ``YYYY-MM``.
    ij : numpy.ndarray
        ``(n, 2)`` cell indices; ``force`` the force of each row.
    mean, lo90, hi90 : numpy.ndarray
        Expected count and 90 % band (NaN where the model has none).
    components : dict
        Driver name -> ``(n,)`` additive parts of ``mean``.
    """

    model: str
    crime_set: str
    size: float
    start: str
    end: str
    ij: np.ndarray
    force: np.ndarray
    mean: np.ndarray
    lo90: np.ndarray
    hi90: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)

    def lookup(self, i: int, j: int) -> np.ndarray:
        """Row positions of one cell (one per force that scores it)."""
        return np.flatnonzero((self.ij[:, 0] == i) & (self.ij[:, 1] == j))


def _month(t: np.datetime64) -> str:
    return str(t.astype("datetime64[M]"))


def fit_force(
    events: IncidentTable, force: str, *, spec: ModelSpec, crime_set_name: str, size: float
) -> dict[str, Any]:
    """Fit and forecast one force's events: plain arrays (picklable: refits run it in a
    worker process)."""
    # The back-test's own preparation, so its scores vouch for this surface.
    surf = forecast_next(events, crime_set=crime_set_name, model=spec, horizon="1m", cell_size=size)
    n = len(surf.units)
    return {
        "ij": np.asarray(surf.units.ij),
        "force": np.full(n, force, dtype=object),
        "mean": np.asarray(surf.mean),
        "lo90": np.asarray(surf.lo90) if surf.lo90 is not None else np.full(n, np.nan),
        "hi90": np.asarray(surf.hi90) if surf.hi90 is not None else np.full(n, np.nan),
        "components": {k: np.asarray(v) for k, v in surf.components.items()},
        "window": (_month(surf.start), _month(surf.end)),
    }


#: ``run(fn, *args, **kwargs)``: where a force's fit runs (in process by default).
Runner = Callable[..., Any]


def _direct(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def compute(
    store: Store,
    *,
    model: str,
    size: float,
    crime_set_name: str,
    forces: list[str] | None = None,
    run: Runner = _direct,
) -> CurrentForecast:
    """Fit ``model`` per force (every force, or ``forces``) and forecast the month after the
    data ends; ``run`` executes each force's :func:`fit_force` (e.g. in a worker process)."""
    cats = crime_set(crime_set_name)
    spec = ModelSpec.parse(model)
    if (
        "explain" in inspect.signature(get_model(spec.name)).parameters
        and "explain" not in spec.params
    ):
        # The map explains every cell: ask models that can for their drivers.
        spec = ModelSpec(spec.name, {**spec.params, "explain": True}, label=spec.label)
    parts: list[dict[str, Any]] = []
    window: tuple[str, str] | None = None
    for force in store.forces() if forces is None else forces:
        events = store.incidents(forces=[force])
        if len(events.filter(categories=cats, located=True)) == 0:
            continue
        part = run(fit_force, events, force, spec=spec, crime_set_name=crime_set_name, size=size)
        parts.append(part)
        window = part["window"]
    if not parts or window is None:
        raise InsufficientDataError("no located incidents to forecast from")
    names = sorted({k for p in parts for k in p["components"]})
    comps = {
        k: np.concatenate([p["components"].get(k, np.zeros(len(p["mean"]))) for p in parts])
        for k in names
    }
    return CurrentForecast(
        model=model,
        crime_set=crime_set_name,
        size=size,
        start=window[0],
        end=window[1],
        ij=np.concatenate([p["ij"] for p in parts]).astype(np.int64),
        force=np.concatenate([p["force"] for p in parts]),
        mean=np.concatenate([p["mean"] for p in parts]),
        lo90=np.concatenate([p["lo90"] for p in parts]),
        hi90=np.concatenate([p["hi90"] for p in parts]),
        components=comps,
    )


def _path(folder: Path, key: dict[str, Any]) -> Path:
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return folder / f"forecast-{key['model']}-{h}.npz"


def cache_path(
    store: Store,
    folder: Path,
    *,
    model: str,
    size: float,
    crime_set_name: str,
    version: tuple[int, int],
) -> Path:
    """Where the forecast of one model, grid, crime set and data version is cached."""
    db = getattr(store, "path", None)  # a DuckDB file; a server store is named by its URL
    ident = (
        getattr(store, "url", "")
        if db is None
        else (":memory:" if db == ":memory:" else str(Path(db).resolve()))
    )
    key = {
        "format": 2,
        "model": model,
        "size": size,
        "crime_set": crime_set_name,
        "version": list(version),
        "store": ident,
    }
    return _path(folder, key)


def refit(
    store: Store, current: CurrentForecast, forces: list[str], run: Runner = _direct
) -> CurrentForecast:
    """``current`` with the rows of ``forces`` recomputed from the store as it is now.

    The other forces keep their rows (their data did not change). The window
    is the latest of the two: an upload that opens a new month moves the
    refitted forces' forecast on by a month.
    """
    new = compute(
        store,
        model=current.model,
        size=current.size,
        crime_set_name=current.crime_set,
        forces=forces,
        run=run,
    )
    keep = ~np.isin(current.force.astype(str), np.asarray(forces, dtype=str))
    names = sorted(set(current.components) | set(new.components))

    def comp(fc: CurrentForecast, k: str, m: np.ndarray | None) -> np.ndarray:
        v = fc.components.get(k, np.zeros(len(fc.mean)))
        return v if m is None else v[m]

    start, end = max((current.start, current.end), (new.start, new.end))
    return CurrentForecast(
        model=current.model,
        crime_set=current.crime_set,
        size=current.size,
        start=start,
        end=end,
        ij=np.concatenate([current.ij[keep], new.ij]).astype(np.int64),
        force=np.concatenate([current.force[keep], new.force]),
        mean=np.concatenate([current.mean[keep], new.mean]),
        lo90=np.concatenate([current.lo90[keep], new.lo90]),
        hi90=np.concatenate([current.hi90[keep], new.hi90]),
        components={k: np.concatenate([comp(current, k, keep), comp(new, k, None)]) for k in names},
    )


def save(fc: CurrentForecast, path: Path) -> None:
    """Write a forecast to ``path`` (npz, written to a temporary name then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    meta = {k: getattr(fc, k) for k in ("model", "crime_set", "size", "start", "end")}
    arrays: dict[str, Any] = {
        "meta": np.array(json.dumps(meta)),
        "ij": fc.ij,
        "force": fc.force.astype(str),
        "mean": fc.mean,
        "lo90": fc.lo90,
        "hi90": fc.hi90,
    }
    arrays.update({f"c_{k}": v for k, v in fc.components.items()})
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load(path: Path) -> CurrentForecast:
    """Read a forecast written by :func:`save`."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return CurrentForecast(
            ij=z["ij"],
            force=z["force"].astype(object),
            mean=z["mean"],
            lo90=z["lo90"],
            hi90=z["hi90"],
            components={k[2:]: z[k] for k in z.files if k.startswith("c_")},
            **meta,
        )


def load_or_compute(
    store: Store,
    folder: Path,
    *,
    model: str,
    size: float,
    crime_set_name: str,
    version: tuple[int, int],
) -> CurrentForecast:
    """The cached forecast for this data version, computing and saving it if missing."""
    path = cache_path(
        store, folder, model=model, size=size, crime_set_name=crime_set_name, version=version
    )
    if path.exists():
        return load(path)
    fc = compute(store, model=model, size=size, crime_set_name=crime_set_name)
    save(fc, path)
    return fc
