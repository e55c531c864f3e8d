"""Data of a back-test, prepared once: configuration, cubes, study area, origins.

:func:`prepare` indexes one force's incidents by grid cell and period a
single time for a whole back-test (Tashman 2000, *Int. J. Forecasting* 16,
437-450: every rolling origin is then a slice): the observed count cube of
each crime set, its unlocated counts, the first period each cell is seen in
(the study area at an origin), and each crime set's events sorted by start
so that an origin's training data is a zero-copy prefix.
:func:`default_origins` picks the origins whose target periods are complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from crimemap.errors import InputError, InsufficientDataError
from crimemap.evaluate.metrics import DEFAULT_COVERAGES
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
    "next_period",
    "data_meta",
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
