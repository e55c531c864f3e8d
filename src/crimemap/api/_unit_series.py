"""Series of one H3 hexagon, LSOA or grid cell by month, day or hour (the unit indexes).

Grid cells by month come from the grid index (:mod:`crimemap.api._cells`); every
other series is read from :class:`crimemap.api._units.UnitLayers`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from crimemap.api._cellids import CELL_SIZES, month_label, parse_cell_id
from crimemap.api._layers import Filter
from crimemap.api._timebins import day_label, hour_label, is_fine, window
from crimemap.api._units import Unit, UnitLayers, parse_unit_id
from crimemap.errors import InputError

__all__ = ["MAX_SERIES_POINTS", "unit_series"]


#: Most points one series returns (an hourly series of a year is 8,760).
MAX_SERIES_POINTS = 10_000


def unit_series(
    layers: UnitLayers,
    f: Filter,
    *,
    unit_id: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    bin: str = "month",
) -> tuple[list[str], np.ndarray]:
    """Totals per time bin (labels, values) of one unit, or of the 250 m cells in a bbox.

    Month series cover every month with data in the window (zeros included);
    day and hour series every day or hour from the window's start (or the
    first exactly timed record) to its end (or the last one), zeros included.
    """
    if bin not in ("month", "day", "hour"):
        raise InputError("bin must be month, day or hour")
    fine = is_fine(f) or bin != "month"
    if fine and bin == "month":
        bin = "day"
    if unit_id is not None and unit_id.startswith("g"):
        unit = Unit("grid", parse_cell_id(unit_id)[0])
    elif unit_id is not None:
        unit = parse_unit_id(unit_id)
    else:
        unit = Unit("grid", CELL_SIZES[0])
    if unit.kind == "grid" and not fine:
        raise InputError("monthly grid series come from the grid index (api.routers.series)")
    ff = f if not fine or is_fine(f) else replace(f, fine=(0, (1 << 21) - 1))
    idx = layers.index_for(unit, ff)
    if unit_id is not None:
        p = idx.find(unit_id)
        pos = np.zeros(0, np.int64) if p is None else np.array([p])
    else:
        pos = idx.in_bbox(bbox)
    lo, hi, row_ok = window(ff)
    t, v = idx.series(
        pos, categories=f.categories, force=f.force, weights=f.weights, lo=lo, hi=hi, row_ok=row_ok
    )
    if not fine:
        months = np.union1d(layers.cells.month_indices(), t)
        months = months[(months >= lo) & (months < hi)]
        out = np.zeros(len(months))
        out[np.searchsorted(months, t)] = v
        return [month_label(int(m)) for m in months], out
    step = 24 if bin == "day" else 1
    every = idx.times() >> 1
    first = max(lo >> 1, int(every.min()) if len(every) else lo >> 1) // step
    last = min((hi >> 1) - 1, int(every.max()) if len(every) else first * step) // step
    if last - first + 1 > MAX_SERIES_POINTS:
        raise InputError(
            f"a {bin} series of {last - first + 1} points is too long "
            f"(at most {MAX_SERIES_POINTS}); narrow the window or use a coarser bin"
        )
    out = np.zeros(max(last - first + 1, 0))
    b = (t >> 1) // step - first
    ok = (b >= 0) & (b < len(out))
    np.add.at(out, b[ok], v[ok])
    label = day_label if bin == "day" else hour_label
    return [label(k) for k in range(first, last + 1)], out
