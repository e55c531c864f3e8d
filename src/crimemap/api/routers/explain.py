"""Per-cell explanation for the side panel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Request

from crimemap.api._access import ACTION_KEY, audit, require
from crimemap.api._cells import CellIndex, month_index, month_label, parse_cell_id
from crimemap.api._explain import backtest_part, coverage_part, forecast_part, layer_value
from crimemap.api._layers import (
    EMERGING_MIN_CELL_M,
    Filter,
    Layer,
    StudyArea,
    counts_layer,
    emerging_layer,
    hotspot_layer,
)
from crimemap.api._state import AppState
from crimemap.api._unit_series import unit_series
from crimemap.api._units import is_fine, parse_unit_id
from crimemap.api.deps import Filters, State
from crimemap.errors import CrimemapError
from crimemap.safeguards import Principal

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["explain"])


def _explain_unit(state: AppState, cell: str, fp: Filters) -> dict[str, Any]:
    """An H3 hexagon or LSOA: counts over time and rank (statistics live on grid cells)."""
    f = fp.filter
    unit = parse_unit_id(cell)
    labels, vals = unit_series(state.units, f, unit_id=cell, bin="day" if is_fine(f) else "month")
    lay = state.cached(("unit-counts", unit, f), lambda: state.units.layer(unit, f, None))
    total = float(vals.sum())
    hits = np.flatnonzero(lay.ids == cell)
    here = float(lay.value[hits[0]]) if len(hits) else 0.0
    grid_only = (
        f"computed on grid cells: switch the map to grid cells to see it for this {unit.kind}"
    )
    months = np.array([month_index(m[:7]) for m in labels], np.int64) if not is_fine(f) else None
    return {
        "cell": cell,
        "unit": unit.kind,
        "unit_label": unit.label,
        "cell_m": None,
        "measure": f.measure,
        "window": [labels[0], labels[-1]] if labels else None,
        "total": total,
        "series": [{"month": lab, "value": float(v)} for lab, v in zip(labels, vals, strict=True)],
        "rank": {"position": int((lay.value > here).sum()) + 1, "of": int(len(lay.value))}
        if len(hits)
        else None,
        "hotspot": {"unavailable": "hot spots are " + grid_only},
        "emerging": {"unavailable": "emerging hot spots are " + grid_only},
        "forecast": {"unavailable": "the forecast is " + grid_only},
        "backtest": None,
        "coverage": coverage_part(
            state,
            f.force,
            f,
            months if months is not None else np.zeros(0, np.int64),
            vals if months is not None else np.zeros(0),
        ),
    }


def _explain(state: AppState, cell: str, fp: Filters) -> dict[str, Any]:
    if not cell.startswith("g"):
        return _explain_unit(state, cell, fp)
    size, i, j = parse_cell_id(cell)
    f = fp.filter
    if is_fine(f):
        # A grid cell's panel is monthly (hot spots and forecasts are): the window's months.
        f = replace(f, fine=None, hours=None)
    months, vals = state.index.series(
        cells=(size, i, j), categories=f.categories, force=f.force, weights=f.weights
    )
    in_window = [
        (int(m), float(v))
        for m, v in zip(months, vals, strict=True)
        if (f.start is None or m >= f.start) and (f.end is None or m <= f.end)
    ]
    counts = state.cached(("incidents", size, f), lambda: counts_layer(state.index, size, f))
    out: dict[str, Any] = {
        "cell": cell,
        "cell_m": size,
        "measure": f.measure,
        "window": [month_label(in_window[0][0]), month_label(in_window[-1][0])]
        if in_window
        else None,
        "total": float(sum(v for _, v in in_window)),
        "series": [{"month": month_label(m), "value": v} for m, v in in_window],
        "rank": None,
    }
    if len(counts.value):
        here = layer_value(counts, i, j)
        if here is not None:
            out["rank"] = {
                "position": int((counts.value > here["value"]).sum()) + 1,
                "of": int(len(counts.value)),
            }
    # As on the map: the emerging analysis uses every month up to the window's end.
    builders: dict[str, tuple[Callable[[CellIndex, StudyArea, Filter], Layer], float, Filter]] = {
        "hotspots": (hotspot_layer, size, f),
        "emerging": (emerging_layer, max(size, EMERGING_MIN_CELL_M), replace(f, start=None)),
    }
    for key, (fn, lsize, lf) in builders.items():
        name = key.rstrip("s")
        try:
            lay = state.cached(
                (key, lsize, lf), partial(fn, state.index, state.study(lsize, lf.force), lf)
            )
            # The emerging layer is coarser (>= 1 km): report the cell holding this one.
            k = max(int(round(lay.size / size)), 1)
            out[name] = layer_value(lay, i // k, j // k)
            if out[name] is not None and k > 1:
                out[name]["cell_m"] = lay.size
        except CrimemapError as exc:
            out[name] = {"unavailable": str(exc).split("\n", 1)[0]}
    fc = state.forecast
    fpart = forecast_part(fc, size, i, j, f.force) if fc is not None else None
    out["forecast"] = fpart or {"unavailable": state.forecast_error or "no current forecast"}
    force = f.force or (fpart or {}).get("force")
    out["backtest"] = backtest_part(state.settings.backtest_path, force, fc)
    out["coverage"] = coverage_part(state, force, f, months, vals)
    return out


@router.get(
    "/cells/{cell}",
    summary="Explain one cell: counts, hot spot, forecast and its drivers",
    openapi_extra={ACTION_KEY: "explain.read"},
)
async def explain(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require("explain.read"))],
    fp: Filters,
    cell: Annotated[
        str,
        Path(
            description="Unit id from a layer feature: g<size>:<i>:<j>, h3:<cell> or lsoa:<code>."
        ),
    ],
) -> dict[str, Any]:
    """Counts over time, hot spot and emerging class, forecast with its 90 % band and drivers
    (recent events, near-repeat, long-run baseline, area covariates, as the model reports
    them), the model's back-test accuracy when a back-test was run, and the data coverage."""
    out = await state.run(_explain, state, cell, fp)
    await audit(
        request,
        who,
        "data.explain",
        force=fp.filter.force,
        area=cell,
        n_rows=len(out["series"]),
        detail={"categories": sorted(fp.filter.categories), "measure": fp.filter.measure},
    )
    return out
