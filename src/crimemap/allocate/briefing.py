"""Outputs a shift can use: area outlines, map layer and one-page briefings.

* :func:`area_polygons` dissolves each area's cells (shapely ``union_all``)
  in the grid's projected CRS; :func:`plan_geojson` reprojects them to WGS84
  (pyproj, EPSG:27700 -> 4326 for British data) and returns the plan as a
  GeoJSON FeatureCollection, the layer the map (API) serves;
* :func:`briefings` gathers, per area, the forecast by category, the main
  drivers (the surface's additive ``components``) and, when the source has
  times of day, the busiest weekday/hour windows of past incidents there;
* :func:`write_briefings` renders one printable page (PNG, matplotlib Agg)
  per area (:mod:`._render`).

Places and times only: nothing here describes or predicts people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap.allocate.plan import PatrolArea, PatrolPlan
from crimemap.errors import InputError
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.grid import cell_index
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "AreaTimes",
    "AreaBriefing",
    "area_polygons",
    "plan_geojson",
    "write_plan_geojson",
    "expected_by_category",
    "area_times",
    "briefings",
    "write_briefings",
    "briefing_png",
]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, eq=False)
class AreaTimes:
    """When past incidents in an area happened (sources with times of day only).

    Attributes
    ----------
    counts : numpy.ndarray
        ``(7, 24)`` incidents by weekday (Mon = 0) and hour.
    best : tuple of str
        The three busiest 4-hour windows, e.g. ``"Sat 20:00-24:00 (31)"``.
    n : int
        Incidents with minute-precision times that were counted.
    """

    counts: np.ndarray
    best: tuple[str, ...]
    n: int


@dataclass(frozen=True, eq=False)
class AreaBriefing:
    """What one patrol area's page says.

    Attributes
    ----------
    area : PatrolArea
        The area.
    share : float
        Its share of the study area's whole forecast.
    by_category : mapping
        Category -> expected count in the area (largest first), if known.
    drivers : mapping
        Component name -> forecast from that driver (from
        ``RiskSurface.components``), largest first.
    times : AreaTimes or None
        Busiest times, or None when the source is month-only.
    centre_lonlat : tuple of float
        WGS84 longitude and latitude of the centre cell's centroid.
    """

    area: PatrolArea
    share: float
    by_category: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    drivers: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    times: AreaTimes | None = None
    centre_lonlat: tuple[float, float] = (float("nan"), float("nan"))


def _boxes(units: Units, cells: np.ndarray) -> Any:
    import shapely

    if units.ij is None or units.cell_size is None:
        raise InputError("patrol areas need grid units")
    s = float(units.cell_size)
    ij = units.ij[cells]
    return shapely.box(ij[:, 0] * s, ij[:, 1] * s, (ij[:, 0] + 1) * s, (ij[:, 1] + 1) * s)


def area_polygons(plan: PatrolPlan) -> list[Any]:
    """One dissolved (multi)polygon per area, in the grid's CRS, best area first."""
    import shapely

    return [shapely.union_all(_boxes(plan.units, a.cells)) for a in plan.areas]


def _to_wgs84(geoms: list[Any], crs: int) -> list[Any]:
    import shapely
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, 4326, always_xy=True)
    return [
        shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        for g in geoms
    ]


def _lonlat(units: Units, pos: int) -> tuple[float, float]:
    from pyproj import Transformer

    tr = Transformer.from_crs(units.crs, 4326, always_xy=True)
    x, y = units.centroids[pos]
    lon, lat = tr.transform(x, y)
    return float(lon), float(lat)


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def plan_geojson(plan: PatrolPlan, *, briefs: tuple[AreaBriefing, ...] | None = None) -> dict:
    """The plan as a GeoJSON FeatureCollection in WGS84 (the map layer).

    One feature per area (dissolved cells), properties: ``rank``,
    ``centre``, ``n_cells``, ``area_km2``, ``expected``, ``share``,
    ``decile``, ``cells`` (cell ids) and, when ``briefs`` are given,
    ``by_category`` and ``drivers``. The collection's ``properties`` hold the
    plan summary (objective, bound, gap, solver, status, request).
    """
    import shapely

    geoms = _to_wgs84(area_polygons(plan), plan.units.crs)
    total = float(plan.scores.sum())
    feats = []
    for k, (a, g) in enumerate(zip(plan.areas, geoms, strict=True)):
        props: dict[str, Any] = {
            "rank": a.rank,
            "centre": a.centre,
            "n_cells": len(a.cells),
            "area_km2": round(a.area_km2, 4),
            "expected": round(a.expected, 3),
            "share": round(a.expected / total, 5) if total > 0 else 0.0,
            "decile": _num(a.decile),
            "cells": list(a.ids),
        }
        if briefs is not None:
            props["by_category"] = {c: round(v, 3) for c, v in briefs[k].by_category.items()}
            props["drivers"] = {c: round(v, 3) for c, v in briefs[k].drivers.items()}
        geom = json.loads(shapely.to_geojson(shapely.set_precision(g, 1e-7)))
        feats.append({"type": "Feature", "id": a.rank, "geometry": geom, "properties": props})
    meta = {
        "objective": plan.objective,
        "bound": _num(plan.bound),
        "gap": _num(plan.gap),
        "method": plan.method,
        "status": plan.status,
        "greedy_objective": _num(plan.greedy_objective),
        "greedy_gap": _num(plan.greedy_gap),
        "top_k": plan.top_k,
        "area_km2": plan.area_km2,
        "caps": {str(k): v for k, v in plan.caps.items()},
        **{k: v for k, v in plan.params.items()},
    }
    return {"type": "FeatureCollection", "properties": meta, "features": feats}


def write_plan_geojson(plan: PatrolPlan, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`plan_geojson` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan_geojson(plan, **kwargs)), encoding="utf-8")
    return path


def expected_by_category(
    surface: RiskSurface,
    incidents: IncidentTable,
    categories: tuple[str, ...] | frozenset[str] | list[str],
    *,
    months: int = 12,
    weights: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Split the forecast of each cell by the category mix of its recent past.

    Each cell's forecast is shared out in proportion to its incidents of each
    category in the ``months`` before the forecast window (cells with none
    get the force-wide mix), so the parts sum to ``surface.mean``. With
    ``weights`` (a harm forecast) the mix is of harm-weighted counts.
    """
    cats = sorted(set(categories))
    start = (surface.start.astype("datetime64[M]") - months).astype("datetime64[s]")
    recent = incidents.filter(categories=cats, start=start, end=surface.start)
    pos = cell_index(surface.units, recent)
    ci = np.searchsorted(cats, recent.column("category").astype(str))
    ok = pos >= 0
    counts = np.zeros((len(surface.units), len(cats)))
    np.add.at(counts, (pos[ok], ci[ok]), 1.0)
    if weights is not None:
        counts = counts * np.array([float(weights.get(c, 0.0)) for c in cats])
    overall = counts.sum(axis=0)
    overall = overall / overall.sum() if overall.sum() > 0 else np.full(len(cats), 1 / len(cats))
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), overall)
    return {c: surface.mean * shares[:, k] for k, c in enumerate(cats)}


def area_times(
    incidents: IncidentTable, units: Units, cells: np.ndarray, *, window_h: int = 4
) -> AreaTimes | None:
    """Weekday x hour profile of past incidents in ``cells`` (None if no times of day)."""
    prec = incidents.column("t_precision")
    timed = incidents.where(np.asarray(prec == "minute", dtype=bool))
    if len(timed) == 0:
        return None
    pos = cell_index(units, timed)
    inside = np.isin(pos, cells)
    t = timed.column("t_start").astype("datetime64[m]")[inside]
    counts = np.zeros((7, 24))
    if len(t):
        days = t.astype("datetime64[D]")
        wd = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        hour = (t - days).astype("timedelta64[h]").astype(np.int64)
        np.add.at(counts, (wd, hour), 1.0)
    # Busiest circular windows of ``window_h`` hours over the week.
    flat = counts.ravel()
    wsum = np.sum([np.roll(flat, -k) for k in range(window_h)], axis=0)
    best: list[str] = []
    taken = np.zeros(len(flat), bool)
    for s in np.argsort(-wsum, kind="stable"):
        if len(best) == 3 or wsum[s] <= 0:
            break
        span = (s + np.arange(window_h)) % len(flat)
        if taken[span].any():
            continue
        taken[span] = True
        d, h = divmod(int(s), 24)
        end = h + window_h
        label = f"{_DAYS[d]} {h:02d}:00-{end % 24:02d}:00" + (" (+1 day)" if end > 24 else "")
        best.append(f"{label} ({wsum[s]:.0f})")
    return AreaTimes(counts=counts, best=tuple(best), n=int(inside.sum()))


def briefings(
    plan: PatrolPlan,
    surface: RiskSurface,
    *,
    by_category: Mapping[str, np.ndarray] | None = None,
    incidents: IncidentTable | None = None,
) -> tuple[AreaBriefing, ...]:
    """Per-area briefing content, best area first."""
    if surface.units is not plan.units and not np.array_equal(surface.units.ids, plan.units.ids):
        raise InputError("the surface and the plan cover different cells")
    total = float(surface.mean.sum())
    out = []
    for a in plan.areas:
        cats = {}
        if by_category is not None:
            vals = {c: float(np.asarray(v)[a.cells].sum()) for c, v in by_category.items()}
            cats = dict(sorted(vals.items(), key=lambda kv: (-kv[1], kv[0])))
        drv = {c: float(np.asarray(v)[a.cells].sum()) for c, v in surface.components.items()}
        drv = dict(sorted(drv.items(), key=lambda kv: (-kv[1], kv[0])))
        times = area_times(incidents, plan.units, a.cells) if incidents is not None else None
        out.append(
            AreaBriefing(
                area=a,
                share=a.expected / total if total > 0 else 0.0,
                by_category=MappingProxyType(cats),
                drivers=MappingProxyType(drv),
                times=times,
                centre_lonlat=_lonlat(plan.units, int(a.cells[0])),
            )
        )
    return tuple(out)


def write_briefings(
    plan: PatrolPlan,
    briefs: tuple[AreaBriefing, ...],
    out_dir: str | Path,
    *,
    title: str = "",
) -> list[Path]:
    """Write one PNG page per area (``area_01.png`` ...); returns the paths."""
    from crimemap.allocate._render import render_page

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [render_page(plan, b, out / f"area_{b.area.rank:02d}.png", title=title) for b in briefs]


def briefing_png(plan: PatrolPlan, brief: AreaBriefing, *, title: str = "") -> bytes:
    """One area's page as PNG bytes (for serving without touching the disk)."""
    import io

    from crimemap.allocate._render import render_page

    buf = io.BytesIO()
    render_page(plan, brief, buf, title=title)
    return buf.getvalue()
