"""Forecast risk along a route, cell by cell, and the high-risk cells near it.

Method
------
The route (WGS84 lon/lat) is projected to the grid's CRS with pyproj and cut
at every grid line it crosses (the parameter ``t`` of each crossing of
``x = k * size`` or ``y = k * size`` along each leg, as in the grid traversal
of Amanatides & Woo 1987), so each piece lies in exactly one cell. Each piece
gets the cell's **risk density** (forecast count per km²) and its **risk** =
length (km) x density: the expected incidents per km² the walker passes
through, weighted by how far they walk in each cell. Consecutive pieces in
the same cell are merged. Cells with no forecast (outside the study area)
have density 0 and are flagged.

**High-risk cells**: cells whose square meets the route buffered by
``buffer_m`` metres and whose forecast is at least the ``high_quantile``
quantile of the forecast over all cells (or a given ``threshold``).

References
----------
Amanatides, J. & Woo, A. (1987). A fast voxel traversal algorithm for ray
tracing. *Eurographics '87*, 3-10.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crimemap.allocate._grid import grid_of
from crimemap.errors import InputError
from crimemap.forecast.surface import RiskSurface

__all__ = ["RouteSegment", "RiskCell", "RouteRisk", "route_risk", "parse_route"]


@dataclass(frozen=True)
class RouteSegment:
    """The part of the route inside one grid cell.

    Attributes
    ----------
    order : int
        Position along the route (0 = first).
    cell : str or None
        Unit id of the cell, ``None`` if it is outside the forecast's units.
    ij : tuple of int
        Grid indices of the cell.
    length_m : float
        Length of the route in the cell.
    density_km2 : float
        Forecast per km² in the cell (0 outside the study area).
    risk : float
        ``length_m / 1000 * density_km2``.
    coords : tuple of (float, float)
        The piece's WGS84 ``(lon, lat)`` vertices.
    """

    order: int
    cell: str | None
    ij: tuple[int, int]
    length_m: float
    density_km2: float
    risk: float
    coords: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RiskCell:
    """A high-risk cell near the route (``distance_m`` from it, ``expected`` forecast)."""

    cell: str
    expected: float
    distance_m: float
    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class RouteRisk:
    """Risk along a route.

    Attributes
    ----------
    segments : tuple of RouteSegment
        One per cell crossed, in route order.
    length_m, risk : float
        Totals over the segments.
    buffer_m : float
        Search distance for high-risk cells.
    threshold : float
        Forecast per cell at or above which a cell counts as high risk.
    high_risk : tuple of RiskCell
        High-risk cells within the buffer, highest forecast first.
    model, start, end : str
        The forecast used.
    """

    segments: tuple[RouteSegment, ...]
    length_m: float
    risk: float
    buffer_m: float
    threshold: float
    high_risk: tuple[RiskCell, ...]
    model: str
    start: str
    end: str

    def to_geojson(self) -> dict[str, Any]:
        """FeatureCollection (WGS84): route pieces (LineString) and high-risk cells (Polygon)."""
        feats: list[dict[str, Any]] = []
        for s in self.segments:
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": [list(c) for c in s.coords]},
                    "properties": {
                        "kind": "segment",
                        "order": s.order,
                        "cell": s.cell,
                        "length_m": round(s.length_m, 2),
                        "density_km2": round(s.density_km2, 4),
                        "risk": round(s.risk, 5),
                    },
                }
            )
        for c in self.high_risk:
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in c.ring]]},
                    "properties": {
                        "kind": "high-risk cell",
                        "cell": c.cell,
                        "expected": round(c.expected, 4),
                        "distance_m": round(c.distance_m, 1),
                    },
                }
            )
        props = {
            "length_m": self.length_m,
            "risk": self.risk,
            "buffer_m": self.buffer_m,
            "threshold": self.threshold,
            "model": self.model,
            "start": self.start,
            "end": self.end,
        }
        return {"type": "FeatureCollection", "properties": props, "features": feats}


def parse_route(route: Mapping[str, Any] | Sequence[Sequence[float]]) -> np.ndarray:
    """``(n, 2)`` lon/lat vertices of a GeoJSON LineString (or Feature) or a point list."""
    if isinstance(route, Mapping):
        geom = route.get("geometry", route) if route.get("type") == "Feature" else route
        if not isinstance(geom, Mapping) or geom.get("type") != "LineString":
            raise InputError("route must be a GeoJSON LineString (or a Feature holding one)")
        pts = geom.get("coordinates")
    else:
        pts = route
    try:
        arr = np.asarray(pts, dtype=float)
    except (TypeError, ValueError):
        raise InputError("route coordinates must be numbers (lon, lat)") from None
    if arr.ndim != 2 or arr.shape[1] < 2 or len(arr) < 2:
        raise InputError("a route needs at least two (lon, lat) points")
    arr = arr[:, :2]
    if (
        not np.isfinite(arr).all()
        or (np.abs(arr[:, 0]) > 180).any()
        or (np.abs(arr[:, 1]) > 90).any()
    ):
        raise InputError("route points must be finite WGS84 lon/lat")
    return arr


def _pieces(xy: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the polyline at grid lines: piece start/end points and cell indices."""
    starts, ends = [], []
    for p0, p1 in zip(xy[:-1], xy[1:], strict=True):
        d = p1 - p0
        ts = [np.array([0.0, 1.0])]
        for ax in (0, 1):
            if d[ax] != 0:
                lo, hi = sorted((p0[ax], p1[ax]))
                k = np.arange(np.ceil(lo / size), np.floor(hi / size) + 1)
                ts.append((k * size - p0[ax]) / d[ax])
        t = np.unique(np.clip(np.concatenate(ts), 0.0, 1.0))
        pts = p0 + t[:, None] * d
        starts.append(pts[:-1])
        ends.append(pts[1:])
    a, b = np.concatenate(starts), np.concatenate(ends)
    keep = np.hypot(*(b - a).T) > 1e-9
    a, b = a[keep], b[keep]
    mid = (a + b) / 2
    return a, b, np.floor(mid / size).astype(np.int64)


def route_risk(
    surface: RiskSurface,
    route: Mapping[str, Any] | Sequence[Sequence[float]],
    *,
    buffer_m: float = 100.0,
    high_quantile: float = 0.95,
    threshold: float | None = None,
) -> RouteRisk:
    """Forecast risk along ``route`` and the high-risk cells within ``buffer_m`` of it.

    Parameters
    ----------
    surface : RiskSurface
        Forecast over grid units.
    route : GeoJSON LineString / Feature, or sequence of (lon, lat)
        The route, WGS84.
    buffer_m : float
        Distance from the route searched for high-risk cells.
    high_quantile : float
        Quantile of the forecast over all cells that defines "high risk".
    threshold : float, optional
        Explicit forecast per cell for "high risk" (overrides the quantile).
    """
    import shapely
    from pyproj import Transformer

    units = surface.units
    index = grid_of(units)
    size = index.size
    if buffer_m < 0 or not 0 < high_quantile <= 1:
        raise InputError("buffer_m must be >= 0 and high_quantile in (0, 1]")
    lonlat = parse_route(route)
    fwd = Transformer.from_crs(4326, units.crs, always_xy=True)
    back = Transformer.from_crs(units.crs, 4326, always_xy=True)
    xy = np.column_stack(fwd.transform(lonlat[:, 0], lonlat[:, 1]))
    a, b, ij = _pieces(xy, size)
    pos = index.find(ij)
    mean = surface.mean
    dens = np.where(pos >= 0, mean[np.maximum(pos, 0)] / (units.areas[np.maximum(pos, 0)] / 1e6), 0)
    length = np.hypot(*(b - a).T)

    # Merge consecutive pieces in the same cell.
    brk = np.flatnonzero(np.any(ij[1:] != ij[:-1], axis=1)) + 1
    groups = np.split(np.arange(len(ij)), brk)
    segs = []
    for k, g in enumerate(groups):
        pts = np.vstack([a[g], b[g[-1]][None, :]])
        lon, lat = back.transform(pts[:, 0], pts[:, 1])
        seg_len = float(length[g].sum())
        p = int(pos[g[0]])
        segs.append(
            RouteSegment(
                order=k,
                cell=str(units.ids[p]) if p >= 0 else None,
                ij=(int(ij[g[0], 0]), int(ij[g[0], 1])),
                length_m=seg_len,
                density_km2=float(dens[g[0]]),
                risk=seg_len / 1000.0 * float(dens[g[0]]),
                coords=tuple(
                    zip(np.round(lon, 7).tolist(), np.round(lat, 7).tolist(), strict=True)
                ),
            )
        )

    thr = float(threshold) if threshold is not None else float(np.quantile(mean, high_quantile))
    line = shapely.LineString(xy)
    zone = line.buffer(buffer_m) if buffer_m > 0 else line
    x0, y0, x1, y1 = zone.bounds
    ii, jj = np.meshgrid(
        np.arange(np.floor(x0 / size), np.floor(x1 / size) + 1),
        np.arange(np.floor(y0 / size), np.floor(y1 / size) + 1),
        indexing="ij",
    )
    near_ij = np.column_stack([ii.ravel(), jj.ravel()]).astype(np.int64)
    near = index.find(near_ij)
    ok = near >= 0
    near_ij, near = near_ij[ok], near[ok]
    hot = (mean[near] >= thr) & (mean[near] > 0)
    near_ij, near = near_ij[hot], near[hot]
    boxes = shapely.box(
        near_ij[:, 0] * size,
        near_ij[:, 1] * size,
        (near_ij[:, 0] + 1) * size,
        (near_ij[:, 1] + 1) * size,
    )
    meets = shapely.intersects(boxes, zone)
    cells = []
    for p, box in zip(near[meets], boxes[meets], strict=True):
        ring = np.asarray(box.exterior.coords)
        lon, lat = back.transform(ring[:, 0], ring[:, 1])
        cells.append(
            RiskCell(
                cell=str(units.ids[p]),
                expected=float(mean[p]),
                distance_m=float(shapely.distance(box, line)),
                ring=tuple(zip(np.round(lon, 7).tolist(), np.round(lat, 7).tolist(), strict=True)),
            )
        )
    cells.sort(key=lambda c: (-c.expected, c.distance_m, c.cell))
    return RouteRisk(
        segments=tuple(segs),
        length_m=float(length.sum()),
        risk=float(sum(s.risk for s in segs)),
        buffer_m=float(buffer_m),
        threshold=thr,
        high_risk=tuple(cells),
        model=surface.model,
        start=str(surface.start),
        end=str(surface.end),
    )
