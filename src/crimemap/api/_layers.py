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
import scipy.sparse as sp

from crimemap.api._cells import CellIndex, cell_key, cell_unkey, month_label
from crimemap.api._forecast import CurrentForecast
from crimemap.detect import gi_star
from crimemap.errors import InsufficientDataError, NotFoundError
from crimemap.spatial import CountCube, Grid, Units
from crimemap.spatial.weights import grid_contiguity

__all__ = [
    "Filter",
    "Layer",
    "StudyArea",
    "counts_layer",
    "emerging_layer",
    "forecast_layer",
    "hotspot_layer",
    "render_geojson",
    "study_area",
]

#: Permutations for the Gi* map layer. 0: z-scores with BH-FDR on normal p-values,
#: which keeps every filter interactive; reports use the permutation inference.
HOTSPOT_PERMUTATIONS = 0
#: Smallest cell of the emerging hot spot layer (a space-time analysis of every
#: cell and month; finer cells are mostly empty months).
EMERGING_MIN_CELL_M = 1000.0


@dataclass(frozen=True)
class Filter:
    """What to count: categories, months (inclusive indices), force, volume or harm.

    ``fine`` (first, last hour since 1970, inclusive) is set for day/hour windows and
    ``hours`` (first, last hour of the day, inclusive, may wrap) for an hour-of-day
    filter; both are counted from exactly timed incidents only (``crimemap.api._units``).
    """

    categories: frozenset[str]
    start: int | None
    end: int | None
    force: str | None
    measure: str
    weights: Mapping[str, float] | None = field(default=None, compare=False, hash=False)
    fine: tuple[int, int] | None = None
    hours: tuple[int, int] | None = None


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer on the cells of one size (``props`` are per-cell property arrays)."""

    name: str
    size: float
    ij: np.ndarray
    geom: np.ndarray
    value: np.ndarray
    props: dict[str, np.ndarray]
    meta: dict[str, Any]


def counts_layer(
    index: CellIndex,
    size: float,
    f: Filter,
    xy_bbox: tuple[float, float, float, float] | None = None,
) -> Layer:
    """Incident count (or harm) per cell with any (in ``xy_bbox`` when given)."""
    a = index.aggregate(
        size,
        categories=f.categories,
        start=f.start,
        end=f.end,
        force=f.force,
        weights=f.weights,
        xy_bbox=xy_bbox,
    )
    return Layer(
        "incidents",
        size,
        a.ij,
        a.geom,
        a.value,
        {},
        {
            "measure": f.measure,
            "unit": "harm (CSS custody-days)" if f.measure == "harm" else "incidents",
        },
    )


@dataclass(frozen=True, eq=False)
class StudyArea:
    """The study cells of one size and force, with their grid units and contiguity."""

    size: float
    pos: np.ndarray
    ij: np.ndarray
    geom: np.ndarray
    units: Units
    weights: sp.csr_matrix


def study_area(index: CellIndex, size: float, force: str | None) -> StudyArea:
    """Every cell with an incident of ``force`` ever (cache it: it changes only with new cells)."""
    pos = index.study(size, force)
    ij, geom = index.cells_at(size, pos)
    units = Grid(size, index.crs).units(ij)
    return StudyArea(size, pos, ij, geom, units, grid_contiguity(units))


def hotspot_layer(index: CellIndex, area: StudyArea, f: Filter) -> Layer:
    """Getis-Ord Gi* over the study area (every cell with an incident ever): z, q, class."""
    vals = index.totals(
        area.size,
        area.pos,
        categories=f.categories,
        force=f.force,
        weights=f.weights,
        start=f.start,
        end=f.end,
    )
    if len(vals) < 3 or vals.sum() <= 0:
        raise InsufficientDataError("too few cells with incidents for a hot spot analysis")
    res = gi_star(vals, area.weights, permutations=HOTSPOT_PERMUTATIONS, seed=0)
    return Layer(
        "hotspots",
        area.size,
        area.ij,
        area.geom,
        np.asarray(res.z, float),
        {"q": np.asarray(res.q, float), "class": np.asarray(res.classes), "count": vals},
        {
            "statistic": "Getis-Ord Gi* z (queen contiguity), BH-FDR on normal p-values",
            "permutations": HOTSPOT_PERMUTATIONS,
            "alpha": res.alpha,
            "n_hot": res.n_hot,
            "n_cold": res.n_cold,
        },
    )


def emerging_layer(index: CellIndex, area: StudyArea, f: Filter) -> Layer:
    """ESRI-style emerging hot spot classes over the months of the filter."""
    try:
        em = importlib.import_module("crimemap.detect.emerging")
    except ImportError as exc:  # the detection package may not ship it yet
        raise NotFoundError("emerging hot spot analysis is not available in this version") from exc
    if len(area.pos) < 3:
        raise InsufficientDataError("too few cells for an emerging hot spot analysis")
    months, counts = index.cube(
        area.size,
        area.pos,
        categories=f.categories,
        force=f.force,
        weights=f.weights,
        start=f.start,
        end=f.end,
    )
    if len(months) == 0:
        raise InsufficientDataError("no months with data in the window")
    # A regular monthly axis: months with no data at all stay in as empty
    # periods, which the analysis drops as publication gaps.
    full = np.arange(int(months.min()), int(months.max()) + 1)
    dense = np.zeros((len(area.pos), len(full)))
    dense[:, np.searchsorted(full, months)] = counts
    cube = CountCube(
        units=area.units,
        periods=np.array([f"{month_label(int(m))}-01" for m in full], dtype="datetime64[s]"),
        freq="M",
        counts=dense,
    )
    res = em.emerging_hotspots(cube, area.weights)
    labels = np.asarray(em.CATEGORIES, dtype=object)
    code = np.asarray(res.category)
    return Layer(
        "emerging",
        area.size,
        area.ij,
        area.geom,
        code.astype(float),
        {"label": labels[code], "trend_z": np.asarray(res.trend_z, float)},
        {
            "classes": list(em.CATEGORIES),
            "months": [month_label(int(full[0])), month_label(int(full[-1]))],
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
        index.geom_of(uij, size),
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
    names = list(layer.props)
    cols = [[_fmt(v) for v in layer.props[n][idx]] for n in names]
    vals = [_fmt(v) for v in layer.value[idx]]
    geoms = layer.geom[idx]
    feats = []
    for k, r in enumerate(idx):
        extra = "".join(f',"{n}":{cols[c][k]}' for c, n in enumerate(names))
        feats.append(
            f'{{"type":"Feature","id":{k},"geometry":{{"type":"Polygon","coordinates":{geoms[k]}}},'
            f'"properties":{{"id":"g{sz}:{ij[r, 0]}:{ij[r, 1]}","value":{vals[k]}{extra}}}}}'
        )
    v = layer.value[idx]
    meta = dict(layer.meta)
    meta.update(
        {
            "layer": layer.name,
            "cell_size_m": s,
            "cells": len(idx),
            "max": float(v.max()) if len(v) else 0.0,
            "layer_max": float(layer.value.max()) if len(layer.value) else 0.0,
        }
    )
    return (
        f'{{"type":"FeatureCollection","meta":{json.dumps(meta)},"features":[{",".join(feats)}]}}'
    )
