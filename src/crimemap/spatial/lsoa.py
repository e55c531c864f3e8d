"""LSOA polygon units: reading boundaries, point-in-polygon, study areas.

Lower Layer Super Output Areas (LSOAs, ~1,500 residents each) are the small
areas that police.uk, the census and the Indices of Deprivation report on.
Boundaries are read from GeoJSON (CRS84 lon/lat, e.g. ONS generalised 2011
LSOAs as in ``uk-geojson/``; property ``LSOA11CD`` or ``LSOA21CD``) and
projected to British National Grid (EPSG:27700) with pyproj. Incidents are
assigned by point-in-polygon on their projected ``x``/``y`` with a shapely 2
``STRtree`` (vectorised), not by their published LSOA code: the 2024+
police.uk files use 2021 codes that do not all match 2011 polygons.

A force's study area is the set of LSOAs in its local authority districts
(:data:`FORCE_LADS`, 2016-era LAD codes as in the shared boundary files).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crimemap.errors import InputError, NotFoundError
from crimemap.spatial.cube import CountCube, cube_from_positions
from crimemap.spatial.grid import Grid
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "FORCE_LADS",
    "LsoaPolygons",
    "force_lsoa_files",
    "grid_study_area",
    "lsoa_cube",
    "lsoa_index",
    "read_lsoa_polygons",
]

#: Police force -> local authority districts (2016 codes) whose LSOAs form its area.
FORCE_LADS: Mapping[str, tuple[str, ...]] = {
    "south-yorkshire": ("E08000016", "E08000017", "E08000018", "E08000019"),
    "north-yorkshire": (
        "E06000014",
        "E07000163",
        "E07000164",
        "E07000165",
        "E07000166",
        "E07000167",
        "E07000168",
        "E07000169",
    ),
    "leicestershire": (
        "E06000016",
        "E06000017",
        "E07000129",
        "E07000130",
        "E07000131",
        "E07000132",
        "E07000133",
        "E07000134",
        "E07000135",
    ),
    "northumbria": ("E08000020", "E08000021", "E08000022", "E08000023", "E08000024", "E06000048"),
}

_CODE_KEYS = ("LSOA11CD", "LSOA21CD", "lsoa11cd", "lsoa21cd", "code")
_NAME_KEYS = ("LSOA11NM", "LSOA21NM", "lsoa11nm", "lsoa21nm", "name")


@dataclass(frozen=True, eq=False)
class LsoaPolygons:
    """LSOA boundaries in a projected CRS.

    Attributes
    ----------
    units : Units
        ``kind="lsoa"`` units: ids are LSOA codes (sorted), centroids and areas
        from the projected polygons.
    names : numpy.ndarray
        LSOA names, in unit order.
    geoms : numpy.ndarray
        shapely (Multi)Polygons in ``units.crs`` metres, in unit order.
    """

    units: Units
    names: np.ndarray
    geoms: np.ndarray

    def subset(self, mask: np.ndarray) -> LsoaPolygons:
        """The LSOAs where ``mask`` is true."""
        m = np.asarray(mask, bool)
        return LsoaPolygons(
            units=self.units.subset(m), names=self.names[m].copy(), geoms=self.geoms[m].copy()
        )


def _files(paths: Iterable[Path | str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.glob("*.json")) + sorted(p.glob("*.geojson")))
        elif p.exists():
            out.append(p)
        else:
            raise NotFoundError(f"no boundary file or folder at {p}")
    return out


def _prop(props: Mapping[str, object], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        if props.get(k):
            return str(props[k])
    return None


def read_lsoa_polygons(paths: Iterable[Path | str], *, crs: int = 27700) -> LsoaPolygons:
    """Read LSOA polygons from GeoJSON files or folders of them.

    Raises
    ------
    crimemap.errors.InputError
        If a feature has no LSOA code or a code appears twice with different shapes.
    """
    import shapely
    from pyproj import Transformer

    codes: list[str] = []
    names: list[str] = []
    geoms: list[object] = []
    for f in _files(paths):
        doc = json.loads(f.read_text(encoding="utf-8"))
        for feat in doc.get("features", []):
            props = feat.get("properties") or {}
            code = _prop(props, _CODE_KEYS)
            if code is None:
                raise InputError(f"{f}: a feature has no LSOA code (expected one of {_CODE_KEYS})")
            codes.append(code)
            names.append(_prop(props, _NAME_KEYS) or code)
            geoms.append(shapely.geometry.shape(feat["geometry"]))
    if not codes:
        raise InputError("no LSOA features found")
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    g = np.asarray(
        shapely.transform(
            np.asarray(geoms, dtype=object),
            lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])),
        )
    )
    g = shapely.make_valid(g)
    ids = np.asarray(codes, dtype=object)
    uniq, first = np.unique(ids, return_index=True)
    if len(uniq) != len(ids):
        raise InputError(f"duplicate LSOA codes in the boundaries ({len(ids) - len(uniq)} repeats)")
    order = first  # np.unique sorts: unit order is by code
    cent = shapely.centroid(g[order])
    units = Units(
        kind="lsoa",
        ids=uniq,
        centroids=np.column_stack([shapely.get_x(cent), shapely.get_y(cent)]),
        crs=crs,
        areas=shapely.area(g[order]),
    )
    return LsoaPolygons(units=units, names=np.asarray(names, dtype=object)[order], geoms=g[order])


def force_lsoa_files(boundary_dir: Path | str, force: str) -> list[Path]:
    """The boundary files (one per LAD) that make up a force's area."""
    if force not in FORCE_LADS:
        raise NotFoundError(
            f"no LSOA area known for force {force!r}; known: {', '.join(FORCE_LADS)}"
        )
    d = Path(boundary_dir)
    files = [d / f"{lad}.json" for lad in FORCE_LADS[force]]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise NotFoundError(f"missing boundary files: {', '.join(missing)}")
    return files


def lsoa_index(polys: LsoaPolygons, incidents: IncidentTable) -> np.ndarray:
    """Position of the LSOA containing each incident (``-1`` outside or unlocated).

    A point on a shared boundary goes to the LSOA that comes first in unit order.
    """
    import shapely

    xy = incidents.xy()
    out = np.full(len(xy), -1, dtype=np.int64)
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        return out
    rows = np.nonzero(ok)[0]
    tree = shapely.STRtree(polys.geoms)
    pt_idx, poly_idx = tree.query(shapely.points(xy[ok]), predicate="intersects")
    # Smallest polygon position per point (deterministic on boundaries).
    order = np.lexsort((poly_idx, pt_idx))
    pt_idx, poly_idx = pt_idx[order], poly_idx[order]
    first = np.ones(len(pt_idx), bool)
    first[1:] = pt_idx[1:] != pt_idx[:-1]
    out[rows[pt_idx[first]]] = poly_idx[first]
    return out


def lsoa_cube(
    incidents: IncidentTable,
    polys: LsoaPolygons,
    *,
    freq: str = "M",
    start: str | np.datetime64 | None = None,
    end: str | np.datetime64 | None = None,
    weights: Mapping[str, float] | None = None,
) -> CountCube:
    """Count incidents per LSOA and time bin (point-in-polygon assignment)."""
    pos = lsoa_index(polys, incidents)
    return cube_from_positions(
        pos, incidents, polys.units, freq=freq, start=start, end=end, weights=weights
    )


def grid_study_area(polys: LsoaPolygons, size: float = 250.0) -> Units:
    """Every grid cell that intersects the union of the polygons (a force's area)."""
    import shapely

    g = Grid(size, polys.units.crs)
    xmin, ymin, xmax, ymax = shapely.total_bounds(polys.geoms)
    cover = g.cover(xmin, ymin, xmax, ymax)
    assert cover.ij is not None
    boxes = shapely.box(
        cover.ij[:, 0] * size,
        cover.ij[:, 1] * size,
        (cover.ij[:, 0] + 1) * size,
        (cover.ij[:, 1] + 1) * size,
    )
    hit = np.unique(shapely.STRtree(polys.geoms).query(boxes, predicate="intersects")[0])
    mask = np.zeros(len(cover), bool)
    mask[hit] = True
    return cover.subset(mask)
