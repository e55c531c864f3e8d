"""Deprivation and population of grid cells, with the 2011/2021 LSOA fallback.

Method
------
The English IMD 2019 and its population denominators are keyed on **2011**
LSOA codes (:func:`crimemap.spatial.covariates.read_imd`). police.uk files up
to early 2023 carry 2011 codes; files from 2024 on carry **2021** codes,
most of which are unchanged but some of which were split or merged. Each
located incident's code is resolved in two steps:

1. *direct*: its published code is a 2011 code present in the IMD table;
2. *point in polygon*: otherwise its projected point is located in the 2011
   LSOA polygons (:func:`crimemap.spatial.lsoa.lsoa_index`) and that
   polygon's code is used, when it is in the IMD table.

The match rate (direct, by polygon, unmatched) is reported. A grid cell
takes the deprivation decile of the modal resolved code of its incidents
(:func:`crimemap.spatial.covariates.cell_lsoa`); a cell with no resolved
incident falls back to the polygon under its centroid. A cell's resident
population is its LSOA's mid-2015 population shared equally among the study
cells assigned to that LSOA (a simple areal-weighting approximation: people
are assumed spread evenly over the cells where crime is recorded).

References
----------
MHCLG (2019). *English Indices of Deprivation 2019*, File 1 and File 6.
ONS (2022). *LSOA (2011) to LSOA (2021) best-fit lookup* (not available
offline here, hence the polygon fallback).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from crimemap.spatial.covariates import LsoaCovariates, cell_lsoa
from crimemap.spatial.lsoa import LsoaPolygons, lsoa_index
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["MatchRate", "CellDeprivation", "resolve_lsoa11", "cell_deprivation"]


@dataclass(frozen=True)
class MatchRate:
    """How incidents were joined to 2011 LSOAs / IMD 2019.

    Attributes
    ----------
    located : int
        Incidents with coordinates.
    direct : int
        Joined on their published code.
    by_polygon : int
        Joined by point in 2011 polygons (codes that are not 2011 codes).
    unmatched : int
        Not joined (outside the polygons, Welsh LSOAs, no boundaries given).
    """

    located: int
    direct: int
    by_polygon: int
    unmatched: int

    @property
    def rate(self) -> float:
        """Share of located incidents joined (direct or by polygon)."""
        return (self.direct + self.by_polygon) / self.located if self.located else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "located": self.located,
            "direct": self.direct,
            "by_polygon": self.by_polygon,
            "unmatched": self.unmatched,
            "rate": self.rate,
        }


@dataclass(frozen=True, eq=False)
class CellDeprivation:
    """IMD decile and population per unit.

    Attributes
    ----------
    decile : numpy.ndarray
        ``(n,)`` int IMD 2019 decile (1 = most deprived 10 % of England,
        10 = least), 0 where unknown.
    population : numpy.ndarray
        ``(n,)`` residents attributed to the unit (0 where unknown).
    lsoa : numpy.ndarray
        ``(n,)`` resolved 2011 LSOA code or ``None``.
    match : MatchRate
        Incident-level join statistics.
    """

    decile: np.ndarray
    population: np.ndarray
    lsoa: np.ndarray
    match: MatchRate


def resolve_lsoa11(
    incidents: IncidentTable, imd: LsoaCovariates, polys: LsoaPolygons | None
) -> tuple[np.ndarray, MatchRate]:
    """2011 LSOA code of each incident (``None`` if unresolved) and the match rate."""
    codes = incidents.column("lsoa")
    xy = incidents.xy()
    located = np.isfinite(xy).all(axis=1)
    known = set(imd.codes.tolist())
    out = np.full(len(codes), None, dtype=object)
    direct = np.array([isinstance(c, str) and c in known for c in codes], bool)
    out[direct] = codes[direct]
    need = located & ~direct
    by_poly = np.zeros(len(codes), bool)
    if polys is not None and need.any():
        pos = lsoa_index(polys, incidents)
        pid = np.where(pos >= 0, polys.units.ids[np.clip(pos, 0, None)], None)
        ok = need & (pos >= 0) & np.array([c in known for c in pid], bool)
        out[ok] = pid[ok]
        by_poly = ok
    n_loc = int(located.sum())
    d, p = int((direct & located).sum()), int(by_poly.sum())
    return out, MatchRate(n_loc, d, p, n_loc - d - p)


def cell_deprivation(
    units: Units,
    incidents: IncidentTable,
    imd: LsoaCovariates,
    polys: LsoaPolygons | None = None,
) -> CellDeprivation:
    """IMD decile and population of each grid unit (see the module docstring)."""
    codes, match = resolve_lsoa11(incidents, imd, polys)
    arrow = incidents.arrow
    resolved = IncidentTable(
        arrow.set_column(
            arrow.schema.get_field_index("lsoa"), "lsoa", pa.array(codes.tolist(), pa.string())
        )
    )
    cell_code = cell_lsoa(units, resolved)
    if polys is not None:
        missing = np.array([c is None for c in cell_code], bool)
        if missing.any():
            import shapely

            tree = shapely.STRtree(polys.geoms)
            pts = shapely.points(units.centroids[missing])
            pt_i, poly_i = tree.query(pts, predicate="within")
            first = np.unique(pt_i, return_index=True)[1]
            idx = np.flatnonzero(missing)
            cell_code[idx[pt_i[first]]] = polys.units.ids[poly_i[first]]
    vals = imd.lookup(cell_code)
    names = list(imd.names)
    dec = vals[:, names.index("imd_decile")]
    pop = vals[:, names.index("population")]
    decile = np.where(np.isfinite(dec), dec, 0).astype(np.int64)
    # Share each LSOA's residents equally among the cells assigned to it.
    population = np.zeros(len(units))
    has = np.array([c is not None for c in cell_code], bool) & np.isfinite(pop)
    if has.any():
        _, inv, cnt = np.unique(cell_code[has].astype(str), return_inverse=True, return_counts=True)
        population[has] = pop[has] / cnt[inv]
    decile[~np.array([c is not None for c in cell_code], bool)] = 0
    return CellDeprivation(decile=decile, population=population, lsoa=cell_code, match=match)
