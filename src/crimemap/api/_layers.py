"""Map layers computed from the cell index: counts, Gi* hot spots, emerging classes, forecast.

Every layer is computed for the whole study area at one cell size and one
filter, cached per data version, then clipped to the viewport when rendered
(:func:`render_geojson`), so panning never recomputes a statistic.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crimemap.api._cells import Aggregate, CellIndex, cell_key, cell_unkey, month_label
from crimemap.api._forecast import CurrentForecast
from crimemap.detect import gi_star
from crimemap.errors import InsufficientDataError, NotFoundError
from crimemap.spatial import CountCube, Grid
from crimemap.spatial.weights import grid_contiguity

__all__ = ["Filter", "Layer", "counts_layer", "hotspot_layer", "emerging_layer", "forecast_layer"]

#: Permutations for the Gi* layer (a map layer, not a report: 99 keeps it interactive).
HOTSPOT_PERMUTATIONS = 99


@dataclass(frozen=True)
class Filter:
    """What to count: categories, months (inclusive indices), force, volume or harm."""

    categories: frozenset[str]
    start: int | None
    end: int | None
    force: str | None
    measure: str
    weights: Mapping[str, float] | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer on every cell of one size (``props`` are per-cell property arrays)."""

    name: str
    size: float
    ij: np.ndarray
    ring: np.ndarray
    value: np.ndarray
    props: dict[str, np.ndarray]
    meta: dict[str, Any]


def _aggregate(index: CellIndex, size: float, f: Filter) -> Aggregate:
    return index.aggregate(
        size, categories=f.categories, start=f.start, end=f.end, force=f.force, weights=f.weights
    )


def counts_layer(index: CellIndex, size: float, f: Filter) -> Layer:
    """Incident count (or harm) per cell."""
    a = _aggregate(index, size, f)
    keep = a.value > 0
    return Layer(
        "incidents",
        size,
        a.ij[keep],
        a.ring[keep],
        a.value[keep],
        {},
        {
            "measure": f.measure,
            "unit": "harm (CSS custody-days)" if f.measure == "harm" else "incidents",
        },
    )


def _study(index: CellIndex, size: float, f: Filter) -> tuple[np.ndarray, np.ndarray]:
    """Study cells (ever had an incident) and the filter's totals on them."""
    study = index.study_cells(size, f.force)
    a = _aggregate(index, size, f)
    g = Grid(size, index.crs)
    units = g.units(study)
    pos = units.position(g.ids(a.ij)) if len(a.ij) else np.zeros(0, np.int64)
    vals = np.zeros(len(units))
    ok = pos >= 0
    vals[pos[ok]] = a.value[ok]
    return np.asarray(units.ij), vals


def hotspot_layer(index: CellIndex, size: float, f: Filter) -> Layer:
    """Getis-Ord Gi* over the study area: z-score, FDR q-value and class per cell."""
    ij, vals = _study(index, size, f)
    if len(ij) < 3 or vals.sum() <= 0:
        raise InsufficientDataError("too few cells with incidents for a hot spot analysis")
    g = Grid(size, index.crs)
    units = g.units(ij)
    res = gi_star(vals, grid_contiguity(units), permutations=HOTSPOT_PERMUTATIONS, seed=0)
    cls = np.asarray(res.classes)
    return Layer(
        "hotspots",
        size,
        np.asarray(units.ij),
        index.rings(np.asarray(units.ij), size),
        np.asarray(res.z, float),
        {"q": np.asarray(res.q, float), "class": cls, "count": vals},
        {
            "statistic": "Getis-Ord Gi* z (queen contiguity)",
            "permutations": HOTSPOT_PERMUTATIONS,
            "alpha": res.alpha,
            "n_hot": res.n_hot,
            "n_cold": res.n_cold,
        },
    )


def emerging_layer(index: CellIndex, size: float, f: Filter) -> Layer:
    """ESRI-style emerging hot spot classes over the months of the filter."""
    try:
        em = importlib.import_module("crimemap.detect.emerging")
    except ImportError as exc:  # the detection package may not ship it yet
        raise NotFoundError("emerging hot spot analysis is not available in this version") from exc
    study = index.study_cells(size, f.force)
    if len(study) < 3:
        raise InsufficientDataError("too few cells for an emerging hot spot analysis")
    g = Grid(size, index.crs)
    units = g.units(study)
    months, _ = index.series(categories=None, force=f.force)
    lo = f.start if f.start is not None else int(months.min())
    hi = f.end if f.end is not None else int(months.max())
    periods = np.arange(lo, hi + 1)
    counts = np.zeros((len(units), len(periods)))
    for t, m in enumerate(periods):
        a = index.aggregate(
            size,
            categories=f.categories,
            start=int(m),
            end=int(m),
            force=f.force,
            weights=f.weights,
        )
        if len(a.ij):
            pos = units.position(g.ids(a.ij))
            ok = pos >= 0
            counts[pos[ok], t] = a.value[ok]
    cube = CountCube(
        units=units,
        periods=np.array([f"{month_label(int(m))}-01" for m in periods], dtype="datetime64[s]"),
        freq="M",
        counts=counts,
    )
    res = em.emerging_hotspots(cube, grid_contiguity(units))
    labels = np.asarray(em.CATEGORIES, dtype=object)
    code = np.asarray(res.category)
    return Layer(
        "emerging",
        size,
        np.asarray(units.ij),
        index.rings(np.asarray(units.ij), size),
        code.astype(float),
        {"label": labels[code], "trend_z": np.asarray(res.trend_z, float)},
        {
            "classes": list(em.CATEGORIES),
            "months": [month_label(int(periods[0])), month_label(int(periods[-1]))],
        },
    )


def forecast_layer(index: CellIndex, fc: CurrentForecast, size: float, force: str | None) -> Layer:
    """The current forecast, summed to ``size`` cells (bands only at the model's own size)."""
    m = np.ones(len(fc.mean), bool) if force is None else fc.force == force
    k = max(int(round(size / fc.size)), 1)
    size = fc.size * k
    ij = np.floor_divide(fc.ij[m], k)
    uk, inv = np.unique(cell_key(ij[:, 0], ij[:, 1]), return_inverse=True)
    mean = np.bincount(inv, weights=fc.mean[m], minlength=len(uk))
    uij = cell_unkey(uk)
    props: dict[str, np.ndarray] = {}
    if k == 1:
        props["lo90"] = np.bincount(inv, weights=fc.lo90[m], minlength=len(uk))
        props["hi90"] = np.bincount(inv, weights=fc.hi90[m], minlength=len(uk))
    return Layer(
        "forecast",
        size,
        uij,
        index.rings(uij, size),
        mean,
        props,
        {
            "model": fc.model,
            "crime_set": fc.crime_set,
            "window": [fc.start, fc.end],
            "unit": "expected incidents in the window",
        },
    )


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "null" if not np.isfinite(v) else f"{float(v):.6g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return json.dumps(str(v))


def render_geojson(layer: Layer, xy_bbox: tuple[float, float, float, float]) -> str:
    """A GeoJSON FeatureCollection of the layer's cells that meet the projected bbox."""
    x0, y0, x1, y1 = xy_bbox
    s = layer.size
    ij = layer.ij
    keep = (
        (ij[:, 0] * s <= x1)
        & ((ij[:, 0] + 1) * s >= x0)
        & (ij[:, 1] * s <= y1)
        & ((ij[:, 1] + 1) * s >= y0)
        if len(ij)
        else np.zeros(0, bool)
    )
    idx = np.flatnonzero(keep)
    sz = f"{s:g}"
    feats: list[str] = []
    names = list(layer.props)
    for r in idx:
        ring = ",".join(f"[{lon:.6f},{lat:.6f}]" for lon, lat in layer.ring[r])
        i, j = int(ij[r, 0]), int(ij[r, 1])
        extra = "".join(f',"{n}":{_fmt(layer.props[n][r])}' for n in names)
        feats.append(
            f'{{"type":"Feature","id":{len(feats)},"geometry":{{"type":"Polygon","coordinates":[[{ring}]]}},'
            f'"properties":{{"id":"g{sz}:{i}:{j}","value":{_fmt(layer.value[r])}{extra}}}}}'
        )
    vals = layer.value[idx]
    meta = dict(layer.meta)
    meta.update(
        {
            "layer": layer.name,
            "cell_size_m": s,
            "cells": len(idx),
            "max": float(vals.max()) if len(vals) else 0.0,
            "layer_max": float(layer.value.max()) if len(layer.value) else 0.0,
        }
    )
    return (
        f'{{"type":"FeatureCollection","meta":{json.dumps(meta)},"features":[{",".join(feats)}]}}'
    )
