"""Hotspot outputs: unit specs, unit polygons, GeoJSON, GeoParquet and quick-look PNGs.

The non-CLI half of ``crimemap hotspots``. A run produces one row per unit
with its id, count and the method's fields; this module turns those columns
into

* **GeoJSON** (RFC 7946: WGS84 lon/lat, one Feature per unit);
* **GeoParquet** (GeoParquet 1.0.0: a Parquet file whose ``geometry`` column
  holds WKB in the projected CRS, described by the ``"geo"`` key of the file
  metadata with the CRS as PROJJSON);
* a quick-look **PNG** map (matplotlib, Agg backend).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crimemap.errors import InputError
from crimemap.spatial.h3units import H3_RESOLUTIONS
from crimemap.spatial.units import Units

__all__ = [
    "UnitSpec",
    "parse_unit",
    "save_png",
    "to_wgs84",
    "unit_polygons",
    "write_geojson",
    "write_geoparquet",
]


@dataclass(frozen=True)
class UnitSpec:
    """A parsed ``--unit`` value.

    Attributes
    ----------
    kind : str
        ``"grid"``, ``"h3"`` or ``"lsoa"``.
    size : float
        Grid cell side in metres (grid only).
    resolution : int
        H3 resolution (h3 only).
    """

    kind: str
    size: float = 0.0
    resolution: int = 0

    def slug(self) -> str:
        """A file-name friendly form, e.g. ``grid250``."""
        if self.kind == "grid":
            return f"grid{self.size:g}"
        if self.kind == "h3":
            return f"h3r{self.resolution}"
        return "lsoa"


def parse_unit(spec: str) -> UnitSpec:
    """Parse ``"grid:250"``, ``"h3:9"`` or ``"lsoa"``.

    Raises
    ------
    crimemap.errors.InputError
        For anything else (with the accepted forms in the message).
    """
    s = spec.strip().lower()
    kind, _, arg = s.partition(":")
    try:
        if kind == "grid":
            size = float(arg or 250)
            if not (np.isfinite(size) and 10 <= size <= 10_000):
                raise ValueError
            return UnitSpec("grid", size=size)
        if kind == "h3":
            res = int(arg or 9)
            if res not in H3_RESOLUTIONS:
                raise ValueError
            return UnitSpec("h3", resolution=res)
        if kind == "lsoa" and not arg:
            return UnitSpec("lsoa")
    except ValueError:
        pass
    raise InputError(
        f"unknown unit {spec!r}: use grid:<metres> (10-10000, e.g. grid:250), "
        f"h3:<resolution> ({', '.join(map(str, H3_RESOLUTIONS))}) or lsoa"
    )


def unit_polygons(units: Units, lsoa_geoms: np.ndarray | None = None) -> np.ndarray:
    """Polygon of each unit in ``units.crs`` metres (shapely array)."""
    import shapely

    if units.kind == "grid":
        if units.ij is None or units.cell_size is None:
            raise InputError("grid units need ij and cell_size")
        s = float(units.cell_size)
        ij = units.ij
        return np.asarray(
            shapely.box(ij[:, 0] * s, ij[:, 1] * s, (ij[:, 0] + 1) * s, (ij[:, 1] + 1) * s)
        )
    if units.kind == "h3":
        import h3
        from pyproj import Transformer

        tr = Transformer.from_crs(4326, units.crs, always_xy=True)
        out = []
        for cell in units.ids:
            ring = np.array(h3.cell_to_boundary(str(cell)))  # (lat, lng) pairs
            x, y = tr.transform(ring[:, 1], ring[:, 0])
            out.append(shapely.Polygon(np.column_stack([x, y])))
        return np.asarray(out, dtype=object)
    if lsoa_geoms is None or len(lsoa_geoms) != len(units):
        raise InputError("LSOA units need their polygons")
    return np.asarray(lsoa_geoms, dtype=object)


def to_wgs84(geoms: np.ndarray, crs: int) -> np.ndarray:
    """Reproject shapely geometries from EPSG ``crs`` to lon/lat."""
    import shapely
    from pyproj import Transformer

    tr = Transformer.from_crs(crs, 4326, always_xy=True)
    return np.asarray(
        shapely.transform(
            np.asarray(geoms, dtype=object),
            lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])),
        )
    )


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def write_geojson(path: Path, geoms_wgs84: np.ndarray, columns: Mapping[str, np.ndarray]) -> Path:
    """Write a FeatureCollection; ``columns`` become feature properties."""
    import shapely

    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    cols = [np.asarray(columns[k]) for k in names]
    feats = []
    for i, g in enumerate(geoms_wgs84):
        geom = json.loads(shapely.to_geojson(shapely.set_precision(g, 1e-7)))
        props = {k: _jsonable(c[i]) for k, c in zip(names, cols, strict=True)}
        feats.append({"type": "Feature", "geometry": geom, "properties": props})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return path


def write_geoparquet(
    path: Path, geoms: np.ndarray, columns: Mapping[str, np.ndarray], crs: int
) -> Path:
    """Write GeoParquet 1.0.0: WKB ``geometry`` column + ``"geo"`` file metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely
    from pyproj import CRS

    path.parent.mkdir(parents=True, exist_ok=True)
    g = np.asarray(geoms, dtype=object)
    data: dict[str, Any] = {}
    for k, v in columns.items():
        a = np.asarray(v)
        data[k] = pa.array(a.tolist() if a.dtype == object else a, from_pandas=True)
    data["geometry"] = pa.array(shapely.to_wkb(g).tolist(), type=pa.binary())
    table = pa.table(data)
    types = sorted({str(t) for t in shapely.get_type_id(g)})
    type_names = {"3": "Polygon", "6": "MultiPolygon", "7": "GeometryCollection"}
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": [type_names.get(t, "Unknown") for t in types if t in type_names],
                "crs": CRS.from_epsg(crs).to_json_dict(),
                "bbox": [float(b) for b in shapely.total_bounds(g)],
            }
        },
    }
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


def save_png(
    path: Path,
    geoms: np.ndarray,
    values: np.ndarray,
    *,
    title: str,
    cmap: str = "RdBu_r",
    symmetric: bool = True,
    categorical: Mapping[int, tuple[str, str]] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    vmax: float | None = None,
) -> Path:
    """A quick-look map: unit polygons coloured by ``values``.

    With ``categorical`` (code -> (label, colour)) values are class codes and
    a legend is drawn; otherwise a colour bar (symmetric about 0 if asked).
    ``bbox`` (xmin, ymin, xmax, ymax in metres) zooms the map; ``vmax``
    caps the colour scale (e.g. 6 for Gi* z so one extreme cell does not wash
    out the rest).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    path.parent.mkdir(parents=True, exist_ok=True)
    verts, owner = [], []
    for i, g in enumerate(geoms):
        for poly in getattr(g, "geoms", [g]):
            if isinstance(poly, shapely.Polygon) and not poly.is_empty:
                verts.append(np.asarray(poly.exterior.coords)[:, :2] / 1000.0)
                owner.append(i)
    vals = np.asarray(values, float)[owner]
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    if categorical is not None:
        colours = [categorical.get(int(v), ("", "#dddddd"))[1] for v in vals]
        ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="none"))
        present = sorted({int(v) for v in vals})
        ax.legend(
            handles=[
                Patch(color=categorical[k][1], label=categorical[k][0])
                for k in present
                if k in categorical
            ],
            loc="lower left",
            fontsize=7,
        )
    else:
        pc = PolyCollection(verts, array=vals, cmap=cmap, edgecolors="none")
        if len(vals):
            m = vmax if vmax is not None else (float(np.nanmax(np.abs(vals))) or 1.0)
            pc.set_clim(-m if symmetric else float(np.nanmin(vals)), m)
        ax.add_collection(pc)
        fig.colorbar(pc, ax=ax, shrink=0.6)
    ax.autoscale_view()
    if bbox is not None:
        ax.set_xlim(bbox[0] / 1000.0, bbox[2] / 1000.0)
        ax.set_ylim(bbox[1] / 1000.0, bbox[3] / 1000.0)
    ax.set_aspect("equal")
    ax.set_xlabel("easting (km)")
    ax.set_ylabel("northing (km)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
