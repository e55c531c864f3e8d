"""Space-time count cubes: incidents counted per unit per time bin.

The cube is the common input of the hotspot statistics, the emerging-hotspot
analysis and the forecasters' feature builders. Time bins are calendar months
(``"M"``), ISO weeks starting Monday (``"W"``), days (``"D"``) or hours
(``"h"``); an incident falls in the bin containing its ``t_start``. Bins finer
than a source's time precision are refused (police.uk is month-only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimemap._time import dt64
from crimemap.errors import InputError
from crimemap.spatial.grid import cell_index
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "CountCube",
    "bin_starts",
    "category_weights",
    "check_freq",
    "count_cube",
    "cube_from_positions",
]

_PRECISION_RANK = {"month": 0, "day": 1, "minute": 2}
_FREQ_NEEDS = {"M": 0, "W": 1, "D": 1, "h": 2}


@dataclass(frozen=True, eq=False)
class CountCube:
    """Counts (or harm) per unit and time bin.

    Attributes
    ----------
    units : Units
        The spatial units (rows).
    periods : numpy.ndarray
        ``(t,)`` bin start times, ``datetime64``.
    freq : str
        ``"M"``, ``"W"``, ``"D"`` or ``"h"``.
    counts : numpy.ndarray
        ``(n_units, t)`` float array of counts or harm sums.
    dropped : int
        Incidents not counted because they were unlocated or outside the units.
    """

    units: Units
    periods: np.ndarray
    freq: str
    counts: np.ndarray
    dropped: int = 0

    def __post_init__(self) -> None:
        if self.counts.shape != (len(self.units), len(self.periods)):
            raise InputError("count cube shape does not match units x periods")
        self.counts.setflags(write=False)
        self.periods.setflags(write=False)

    def total(self) -> np.ndarray:
        """Total per unit over all periods."""
        return self.counts.sum(axis=1)


def bin_starts(times: np.ndarray, freq: str) -> np.ndarray:
    """Start of the bin holding each time (``datetime64[s]``)."""
    t = np.asarray(times, dtype="datetime64[s]")
    if freq == "M":
        return t.astype("datetime64[M]").astype("datetime64[s]")
    if freq == "D":
        return t.astype("datetime64[D]").astype("datetime64[s]")
    if freq == "h":
        return t.astype("datetime64[h]").astype("datetime64[s]")
    if freq == "W":
        d = t.astype("datetime64[D]")
        # 1970-01-01 was a Thursday: shift so weeks start on Monday.
        dow = (d.astype(np.int64) + 3) % 7
        return (d - dow.astype("timedelta64[D]")).astype("datetime64[s]")
    raise InputError(f"unknown time bin {freq!r}; use M, W, D or h")


def _step(freq: str) -> np.timedelta64 | None:
    return {
        "W": np.timedelta64(7, "D"),
        "D": np.timedelta64(1, "D"),
        "h": np.timedelta64(1, "h"),
    }.get(freq)


def _period_range(start: np.datetime64, end: np.datetime64, freq: str) -> np.ndarray:
    if freq == "M":
        m0 = dt64(start, "M")
        m1 = dt64(end, "M")
        return np.arange(m0, m1 + (0 if dt64(end, "s") == dt64(m1, "s") else 1)).astype(
            "datetime64[s]"
        )
    step = _step(freq)
    assert step is not None
    s = bin_starts(np.array([start]), freq)[0]
    return np.arange(s, dt64(end, "s"), step).astype("datetime64[s]")


def count_cube(
    incidents: IncidentTable,
    units: Units,
    *,
    freq: str = "M",
    start: str | np.datetime64 | None = None,
    end: str | np.datetime64 | None = None,
    weights: Mapping[str, float] | None = None,
) -> CountCube:
    """Count incidents per unit and time bin.

    Parameters
    ----------
    incidents : IncidentTable
        Incidents to count. Unlocated ones are not counted (see ``dropped``).
    units : Units
        Grid units (H3 and LSOA units are handled by their own modules,
        which map incidents to unit positions first).
    freq : {"M", "W", "D", "h"}
        Time bin.
    start, end : datetime-like, optional
        Window ``[start, end)``; defaults to the span of the data.
    weights : mapping, optional
        Category slug -> weight (e.g. harm weights); counts become weighted sums.

    Raises
    ------
    crimemap.errors.InputError
        If ``freq`` is finer than the incidents' time precision.
    """
    pos = cell_index(units, incidents) if units.kind == "grid" else _other_index(units, incidents)
    return cube_from_positions(
        pos, incidents, units, freq=freq, start=start, end=end, weights=weights
    )


def _other_index(units: Units, incidents: IncidentTable) -> np.ndarray:
    raise InputError(f"count_cube: map incidents to {units.kind} units with cube_from_positions")


def category_weights(incidents: IncidentTable, weights: Mapping[str, float]) -> np.ndarray:
    """Weight of each incident from its category (0 for categories not in ``weights``)."""
    keys = list(weights)
    if not keys or len(incidents) == 0:
        return np.zeros(len(incidents))
    # A vectorised lookup: harm-weighting a large force must not loop in Python.
    idx = pc.index_in(incidents.arrow["category"], value_set=pa.array(keys, pa.string()))
    ix = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=float)
    vals = np.array([float(weights[k]) for k in keys] + [0.0])
    return vals[np.where(np.isnan(ix), len(keys), ix).astype(np.int64)]


def check_freq(incidents: IncidentTable, freq: str) -> None:
    """Refuse unknown time bins and bins finer than the data's time precision.

    Raises
    ------
    crimemap.errors.InputError
        E.g. weekly bins on police.uk data, which is month-only.
    """
    if freq not in _FREQ_NEEDS:
        raise InputError(f"unknown time bin {freq!r}; use M, W, D or h")
    if len(incidents):
        prec = incidents.arrow["t_precision"].unique().to_pylist()
        if min(_PRECISION_RANK[p] for p in prec) < _FREQ_NEEDS[freq]:
            raise InputError(
                f"time bin {freq!r} is finer than the data's time precision "
                f"({', '.join(sorted(prec))}); police.uk data is month-only"
            )


def cube_from_positions(
    pos: np.ndarray,
    incidents: IncidentTable,
    units: Units,
    *,
    freq: str = "M",
    start: str | np.datetime64 | None = None,
    end: str | np.datetime64 | None = None,
    weights: Mapping[str, float] | None = None,
) -> CountCube:
    """Build a cube when each incident's unit position is already known.

    Every unit kind goes through here, so the time-precision guard
    (:func:`check_freq`) applies to grid, H3 and LSOA cubes alike.
    """
    check_freq(incidents, freq)
    t = incidents.arrow["t_start"].to_numpy().astype("datetime64[s]")
    b = bin_starts(t, freq)
    if start is None:
        start = b.min() if len(b) else dt64("1970-01-01", "s")
    if end is None:
        if len(b):
            last = b.max()
            end = (
                (dt64(last, "M") + 1).astype("datetime64[s]") if freq == "M" else last + _step(freq)
            )
        else:
            end = dt64(start, "s")
    periods = _period_range(dt64(start, "s"), dt64(end, "s"), freq)
    w = np.ones(len(incidents)) if weights is None else category_weights(incidents, weights)
    tix = np.searchsorted(periods, b, side="right") - 1
    inwin = (tix >= 0) & (b >= dt64(start, "s")) & (b < dt64(end, "s"))
    ok = (pos >= 0) & inwin
    # bincount sums in input order like np.add.at, several times faster.
    n, T = len(units), len(periods)
    counts = np.bincount(pos[ok] * T + tix[ok], weights=w[ok], minlength=n * T).reshape(n, T)
    dropped = int(np.count_nonzero(inwin & (pos < 0)))
    return CountCube(units=units, periods=periods, freq=freq, counts=counts, dropped=dropped)
