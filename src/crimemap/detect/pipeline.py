"""One hotspot run: units, counts, statistic, concentration, output columns.

This composes the pieces for ``crimemap hotspots`` (and notebooks): from an
:class:`~crimemap.table.IncidentTable` of one force it builds the study area
(every unit where the force recorded any located incident, of any category,
so that places with none of the chosen crimes still count as places), the
count cube of the chosen crime set (optionally harm-weighted), the neighbour
weights, then runs one method:

* ``kde``: kernel density, ``bandwidth`` metres (quartic kernel);
* ``gi``: Getis-Ord Gi* with conditional permutations and BH-FDR;
* ``lisa``: local Moran's I clusters and outliers;
* ``emerging``: space-time Gi* + Mann-Kendall, ESRI categories.

Concentration (Gini, top shares, Poisson-baseline test) is always computed
on the unweighted counts over the whole period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crimemap.detect.concentration import Concentration, concentration
from crimemap.detect.emerging import emerging_hotspots
from crimemap.detect.gistar import gi_star
from crimemap.detect.harm import harm_weights
from crimemap.detect.kde import kde_at, kde_grid
from crimemap.detect.lisa import LISA_LABELS, local_moran
from crimemap.detect.outputs import UnitSpec, unit_polygons
from crimemap.errors import InputError, InsufficientDataError
from crimemap.spatial.cube import CountCube, count_cube
from crimemap.spatial.grid import grid_units
from crimemap.spatial.h3units import h3_cube, h3_units
from crimemap.spatial.lsoa import LsoaPolygons, lsoa_cube
from crimemap.spatial.units import Units
from crimemap.spatial.weights import unit_weights
from crimemap.table import IncidentTable

__all__ = ["METHODS", "HotspotRun", "clip_to_area", "run_hotspots"]

METHODS = ("kde", "gi", "lisa", "emerging")


@dataclass(frozen=True, eq=False)
class HotspotRun:
    """The result of one hotspot run.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    units : Units
        The study area's units.
    polygons : numpy.ndarray
        Unit polygons in ``units.crs`` metres.
    columns : dict
        Output columns (one value per unit), ``unit_id`` first.
    concentration : Concentration or None
        Concentration of the unweighted counts (None if there was no crime).
    summary : dict
        Headline figures for the console.
    periods : numpy.ndarray
        The cube's periods.
    """

    method: str
    units: Units
    polygons: np.ndarray
    columns: dict[str, np.ndarray]
    concentration: Concentration | None
    summary: dict[str, Any] = field(default_factory=dict)
    periods: np.ndarray = field(default_factory=lambda: np.empty(0, "datetime64[s]"))


def clip_to_area(
    incidents: IncidentTable, area: LsoaPolygons | None = None, *, margin: float = 5000.0
) -> IncidentTable:
    """Drop located incidents outside a force's area.

    police.uk files include some crimes a force recorded elsewhere in England
    and Wales. With the force's LSOA polygons, incidents outside them are
    dropped; without, those outside the bounding box of the central 99.8 % of
    points (0.1 and 99.9 percentiles per axis) widened by ``margin`` metres.
    Unlocated incidents are kept (they are not counted in any unit anyway).
    """
    xy = incidents.xy()
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        return incidents
    if area is not None:
        from crimemap.spatial.lsoa import lsoa_index

        keep = ~ok | (lsoa_index(area, incidents) >= 0)
    else:
        lo = np.percentile(xy[ok], 0.1, axis=0) - margin
        hi = np.percentile(xy[ok], 99.9, axis=0) + margin
        inside = np.all((xy >= lo) & (xy <= hi), axis=1)
        keep = ~ok | inside
    return incidents.where(keep)


def _units(spec: UnitSpec, located: IncidentTable, lsoa: LsoaPolygons | None) -> Units:
    if spec.kind == "grid":
        return grid_units(located, spec.size)
    if spec.kind == "h3":
        return h3_units(located, spec.resolution)
    if lsoa is None:
        raise InputError("--unit lsoa needs LSOA boundaries (GeoJSON)")
    return lsoa.units


def _cube(
    spec: UnitSpec,
    inc: IncidentTable,
    units: Units,
    lsoa: LsoaPolygons | None,
    weights: dict[str, float] | None,
    start: Any,
    end: Any,
) -> CountCube:
    if spec.kind == "grid":
        return count_cube(inc, units, weights=weights, start=start, end=end)
    if spec.kind == "h3":
        return h3_cube(inc, units, weights=weights, start=start, end=end)
    assert lsoa is not None
    return lsoa_cube(inc, lsoa, weights=weights, start=start, end=end)


def run_hotspots(
    incidents: IncidentTable,
    *,
    categories: Iterable[str],
    unit: UnitSpec,
    method: str = "gi",
    harm: bool = False,
    seed: int = 0,
    permutations: int = 999,
    bandwidth: float = 500.0,
    alpha: float = 0.05,
    lsoa: LsoaPolygons | None = None,
    area: LsoaPolygons | None = None,
) -> HotspotRun:
    """Run one hotspot method over one force's incidents.

    Parameters
    ----------
    incidents : IncidentTable
        All incidents of the force (every category: they define the study area).
    categories : iterable of str
        The crime set to analyse.
    unit : UnitSpec
        Spatial unit (see :func:`crimemap.detect.outputs.parse_unit`).
    method : {"kde", "gi", "lisa", "emerging"}
    harm : bool
        Weight incidents by :func:`crimemap.detect.harm.harm_weights`.
    seed, permutations, alpha
        Passed to the statistics.
    bandwidth : float
        KDE bandwidth in metres.
    lsoa : LsoaPolygons, optional
        Boundaries, required for LSOA units.
    area : LsoaPolygons, optional
        The force's area for :func:`clip_to_area` (defaults to ``lsoa``).
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    located = clip_to_area(incidents.filter(located=True), area if area is not None else lsoa)
    if len(located) == 0:
        raise InsufficientDataError("no located incidents for this force")
    units = _units(unit, located, lsoa)
    cats = set(categories)
    sel = located.filter(categories=cats)
    if len(sel) == 0:
        raise InsufficientDataError(f"no located incidents in categories {sorted(cats)}")
    t = located.column("t_start")
    start = t.min().astype("datetime64[M]").astype("datetime64[s]")
    end = (t.max().astype("datetime64[M]") + 1).astype("datetime64[s]")
    counts = _cube(unit, sel, units, lsoa, None, start, end)
    cube = _cube(unit, sel, units, lsoa, dict(harm_weights()), start, end) if harm else counts
    total = cube.total()
    vol = counts.total()
    w = unit_weights(units, None if lsoa is None else lsoa.geoms)
    cols: dict[str, np.ndarray] = {"unit_id": units.ids.astype(str), "count": vol}
    if harm:
        cols["harm"] = total
    summary: dict[str, Any] = {
        "incidents": len(sel),
        "units": len(units),
        "periods": len(cube.periods),
        "harm": harm,
        "outside_area": len(incidents.filter(located=True)) - len(located),
    }
    if method == "kde":
        xy = sel.xy()
        hw = None
        if harm:
            hwmap = harm_weights()
            hw = np.array([hwmap.get(c, 0.0) for c in sel.column("category")])
        if unit.kind == "grid":
            dens = kde_grid(xy, units, max(bandwidth, unit.size), weights=hw).density
        else:
            dens = kde_at(xy, units.centroids, bandwidth, weights=hw).density
        cols["density_km2"] = dens
        summary["bandwidth_m"] = bandwidth
    elif method == "gi":
        g = gi_star(total, w, permutations=permutations, seed=seed, alpha=alpha)
        cols |= {
            "gi_z": g.z,
            "gi_p_sim": g.p_sim if g.p_sim is not None else np.full(len(units), np.nan),
            "gi_q": g.q,
            "hotspot": np.where(g.classes > 0, "hot", np.where(g.classes < 0, "cold", "")),
        }
        summary |= {"hot": g.n_hot, "cold": g.n_cold}
    elif method == "lisa":
        r = local_moran(total, w, permutations=permutations, seed=seed, alpha=alpha)
        labels = np.asarray([LISA_LABELS[int(c)] for c in r.classes], dtype=object)
        cols |= {
            "lisa_i": r.I,
            "lisa_z": r.z,
            "lisa_p_sim": r.p_sim if r.p_sim is not None else np.full(len(units), np.nan),
            "lisa_q": r.q,
            "cluster": labels,
        }
        summary |= r.counts()
    else:
        e = emerging_hotspots(cube, w, alpha=alpha)
        cols |= {
            "category": e.labels(),
            "trend_z": e.trend_z,
            "trend_p": e.trend_p,
            "hot_periods": e.hot.sum(axis=1),
            "cold_periods": e.cold.sum(axis=1),
            "final_z": e.z[:, -1],
        }
        summary |= {
            "categories": e.counts(),
            "dropped_periods": [str(p)[:7] for p in e.dropped_periods],
        }
    try:
        conc: Concentration | None = concentration(vol)
    except InsufficientDataError:
        conc = None
    polys = unit_polygons(units, None if lsoa is None else lsoa.geoms)
    return HotspotRun(
        method=method,
        units=units,
        polygons=polys,
        columns=cols,
        concentration=conc,
        summary=summary,
        periods=cube.periods,
    )
