"""H3 hexagon units (Uber H3, v4 API).

H3 cells are hierarchical hexagons on the sphere with stable string ids, so
the same place always gets the same cell at a given resolution. Useful
resolutions for crime: 8 (~0.74 km^2, edge ~460 m), 9 (~0.11 km^2, ~175 m)
and 10 (~0.015 km^2, ~66 m). Incidents are assigned by their WGS84
``lon``/``lat`` (``h3.latlng_to_cell``); centroids are projected to the
incidents' metric CRS (British National Grid for UK data) with pyproj, so
every statistic can work in metres. Neighbours: the k-ring
(:func:`crimemap.spatial.weights.h3_kring`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from crimemap.errors import InputError
from crimemap.spatial.cube import CountCube, cube_from_positions
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["H3_RESOLUTIONS", "h3_cells", "h3_cube", "h3_index", "h3_units", "h3_units_from_cells"]

H3_RESOLUTIONS = (7, 8, 9, 10, 11)


def _check_res(resolution: int) -> int:
    if int(resolution) not in H3_RESOLUTIONS:
        raise InputError(f"H3 resolution must be one of {H3_RESOLUTIONS}, got {resolution!r}")
    return int(resolution)


def _lonlat(incidents: IncidentTable) -> np.ndarray:
    lon = np.asarray(incidents.column("lon"), float)
    lat = np.asarray(incidents.column("lat"), float)
    xy = incidents.xy()
    need = ~(np.isfinite(lon) & np.isfinite(lat)) & np.isfinite(xy).all(axis=1)
    if need.any():
        # Projected-only sources: recover lon/lat from x/y in the table's CRS.
        from pyproj import Transformer

        crs = np.asarray(incidents.arrow["crs"].to_numpy(zero_copy_only=False))
        lon, lat = lon.copy(), lat.copy()
        for code in np.unique(crs[need]):
            sel = need & (crs == code)
            tr = Transformer.from_crs(int(code), 4326, always_xy=True)
            lon[sel], lat[sel] = tr.transform(xy[sel, 0], xy[sel, 1])
    return np.column_stack([lon, lat])


def h3_cells(incidents: IncidentTable, resolution: int = 9) -> np.ndarray:
    """H3 cell id of each incident (``None`` where unlocated)."""
    import h3

    res = _check_res(resolution)
    ll = _lonlat(incidents)
    ok = np.isfinite(ll).all(axis=1)
    out = np.full(len(ll), None, dtype=object)
    if not ok.any():
        return out
    # police.uk snaps to a few thousand points: index each distinct point once.
    uniq, inv = np.unique(ll[ok], axis=0, return_inverse=True)
    cells = np.array([h3.latlng_to_cell(lat, lon, res) for lon, lat in uniq], dtype=object)
    out[ok] = cells[inv.ravel()]
    return out


def h3_units_from_cells(cells: np.ndarray, crs: int = 27700) -> Units:
    """Units for a set of H3 cell ids (sorted, unique), centroids in ``crs`` metres."""
    import h3
    from pyproj import Transformer

    ids = np.unique(np.asarray([c for c in cells if c is not None], dtype=object))
    if len(ids) == 0:
        return Units(kind="h3", ids=np.empty(0, dtype=object), centroids=np.empty((0, 2)), crs=crs)
    ll = np.array([h3.cell_to_latlng(str(c)) for c in ids])
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    x, y = tr.transform(ll[:, 1], ll[:, 0])
    areas = np.array([h3.cell_area(str(c), unit="m^2") for c in ids])
    return Units(kind="h3", ids=ids, centroids=np.column_stack([x, y]), crs=crs, areas=areas)


def h3_units(incidents: IncidentTable, resolution: int = 9) -> Units:
    """The study area of a set of incidents: every H3 cell holding at least one."""
    crs = int(incidents.arrow["crs"][0].as_py() or 27700) if len(incidents) else 27700
    return h3_units_from_cells(h3_cells(incidents, resolution), crs)


def h3_index(units: Units, incidents: IncidentTable) -> np.ndarray:
    """Position of each incident's H3 cell in ``units`` (``-1`` if outside or unlocated)."""
    import h3

    if units.kind != "h3":
        raise InputError("h3_index needs h3 units")
    if len(units) == 0:
        return np.full(len(incidents), -1, dtype=np.int64)
    res = h3.get_resolution(str(units.ids[0]))
    cells = h3_cells(incidents, res)
    out = np.full(len(cells), -1, dtype=np.int64)
    ok = np.array([c is not None for c in cells], dtype=bool)
    if ok.any():
        out[ok] = units.position(cells[ok].astype(str).astype(object))
    return out


def h3_cube(
    incidents: IncidentTable,
    units: Units,
    *,
    freq: str = "M",
    start: str | np.datetime64 | None = None,
    end: str | np.datetime64 | None = None,
    weights: Mapping[str, float] | None = None,
) -> CountCube:
    """Count incidents per H3 cell and time bin (see :func:`crimemap.spatial.count_cube`)."""
    pos = h3_index(units, incidents)
    return cube_from_positions(
        pos, incidents, units, freq=freq, start=start, end=end, weights=weights
    )
