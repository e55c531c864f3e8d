"""Per-cell explanation: counts, hot spot class, forecast drivers, back-test accuracy, coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crimemap.api import _queries as q
from crimemap.api._cells import month_label
from crimemap.api._forecast import DRIVER_LABELS, CurrentForecast
from crimemap.api._layers import Filter, Layer
from crimemap.api._state import AppState

__all__ = ["forecast_part", "backtest_part", "layer_value", "coverage_part"]


def layer_value(layer: Layer, i: int, j: int) -> dict[str, Any] | None:
    """The layer's value and properties at one cell (None if the cell is not in it)."""
    hit = np.flatnonzero((layer.ij[:, 0] == i) & (layer.ij[:, 1] == j))
    if len(hit) == 0:
        return None
    r = int(hit[0])
    out: dict[str, Any] = {"value": float(layer.value[r])}
    for k, v in layer.props.items():
        x = v[r]
        out[k] = x.item() if hasattr(x, "item") else x
    return out


def forecast_part(
    fc: CurrentForecast, size: float, i: int, j: int, force: str | None = None
) -> dict[str, Any]:
    """The forecast over one cell: model cells inside it (or the model cell holding it).

    With ``force``, only that force's forecast rows (an analyst never sees another
    force's forecast through a shared border cell)."""
    k = size / fc.size
    if k >= 1:
        kk = int(round(k))
        rows = np.flatnonzero(
            (np.floor_divide(fc.ij[:, 0], kk) == i) & (np.floor_divide(fc.ij[:, 1], kk) == j)
        )
        share = 1.0
    else:
        kk = int(round(1 / k))
        rows = fc.lookup(int(np.floor_divide(i, kk)), int(np.floor_divide(j, kk)))
        share = 1.0 / (kk * kk)  # an even share of the model cell (its resolution is coarser)
    if force is not None:
        rows = rows[fc.force[rows] == force]
    mean = float(fc.mean[rows].sum() * share)
    single = len(rows) == 1 and share == 1.0
    drivers: list[dict[str, Any]] = []
    for name, comp in fc.components.items():
        v = float(comp[rows].sum() * share)
        drivers.append(
            {
                "component": name,
                "driver": DRIVER_LABELS.get(name, name.replace("_", " ")),
                "value": v,
                "share": v / mean if mean > 0 else None,
            }
        )
    drivers.sort(key=lambda d: -abs(float(d["value"])))
    return {
        "model": fc.model,
        "crime_set": fc.crime_set,
        "window": [fc.start, fc.end],
        "model_cell_m": fc.size,
        "mean": mean,
        "lo90": float(fc.lo90[rows[0]]) if single and np.isfinite(fc.lo90[rows[0]]) else None,
        "hi90": float(fc.hi90[rows[0]]) if single and np.isfinite(fc.hi90[rows[0]]) else None,
        "interval_note": None
        if single
        else "90 % band shown only for a single model cell (bands do not add up)",
        "drivers": drivers,
        "force": str(fc.force[rows[0]]) if len(rows) else None,
    }


def backtest_part(
    path: Path | None, force: str | None, fc: CurrentForecast | None
) -> dict[str, Any] | None:
    """Mean back-test metrics of the forecast's model for this force and crime set, if run."""
    if path is None or fc is None or not Path(path).exists():
        return None
    p = Path(path)
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    need = {"force", "crime_set", "model"}
    if not need <= set(df.columns):
        return None
    sel = df[(df["model"] == fc.model) & (df["crime_set"] == fc.crime_set)]
    if force is not None:
        sel = sel[sel["force"] == force]
    if sel.empty:
        return None
    metrics = [
        c for c in sel.columns if c.startswith(("hit@", "pai@", "pei@", "spearman", "coverage"))
    ]
    return {
        "source": p.name,
        "origins": len(sel),
        "metrics": {
            m: float(sel[m].mean()) for m in metrics if pd.api.types.is_numeric_dtype(sel[m])
        },
    }


def coverage_part(
    state: AppState, force: str | None, f: Filter, months: np.ndarray, vals: np.ndarray
) -> dict[str, Any]:
    """The data behind a cell: the force's volume, location and time precision, months."""
    cov = state.cached(("coverage", force), lambda: q.force_coverage(state.store, force))
    located = int(cov["located"] or 0)
    total = int(cov["incidents"] or 0)
    nz = months[vals > 0]
    return {
        "force": force,
        "force_incidents": total,
        "force_located_share": located / total if total else None,
        "first_month": str(cov["first"])[:7] if cov["first"] else None,
        "last_month": str(cov["last"])[:7] if cov["last"] else None,
        "months_published": int(cov["months"] or 0),
        "time_precision": cov["time_precision"],
        "location_precision": cov["location_precision"],
        "sources": cov["sources"],
        "cell_months_with_incidents": int(len(nz)),
        "cell_first_month": month_label(int(nz.min())) if len(nz) else None,
        "note": "police.uk locations are snapped to anonymous map points; times are months only"
        if cov["sources"] and "police.uk" in cov["sources"]
        else None,
    }
