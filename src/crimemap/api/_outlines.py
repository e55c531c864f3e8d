"""Offline basemap outlines: each force's area from its cells, LSOA polygons when configured."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from crimemap.api._cells import CellIndex

__all__ = ["force_outlines", "lsoa_outlines"]

#: Cell side (m) and least incidents per cell for a force outline: cells of
#: crimes recorded far outside the force area (a few per cell) are left out.
OUTLINE_CELL_M = 2000.0
OUTLINE_MIN_COUNT = 5
#: Concave hull ratio (0 = tightest, 1 = convex hull).
OUTLINE_CONCAVITY = 0.15


def force_outlines(index: CellIndex) -> dict[str, Any]:
    """GeoJSON of each force's outline: a concave hull of its busy 2 km cells."""
    to_wgs = Transformer.from_crs(index.crs, 4326, always_xy=True)
    feats = []
    for force in list(index.forces):
        a = index.aggregate(OUTLINE_CELL_M, force=force)
        ij = a.ij[a.value >= OUTLINE_MIN_COUNT]
        if len(ij) == 0:
            continue
        s = OUTLINE_CELL_M
        # A concave hull of the busy cells' centres, widened by half a cell: the
        # area the force covers, without the stair-steps of a union of cells.
        pts = shapely.multipoints((ij.astype(float) + 0.5) * s)
        hull = shapely.concave_hull(pts, ratio=OUTLINE_CONCAVITY, allow_holes=False)
        shape = shapely.simplify(hull.buffer(s / 2), s / 4)
        geo = shapely.transform(
            shape, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
        )
        feats.append(
            {
                "type": "Feature",
                "properties": {"force": force, "kind": "force"},
                "geometry": json.loads(shapely.to_geojson(shapely.set_precision(geo, 1e-5))),
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def lsoa_outlines(source: Path, codes: set[str] | None = None) -> dict[str, Any]:
    """LSOA polygons from a GeoJSON file or a folder of them (``.json``, ``.geojson``, ``.gz``).

    Only LSOAs in ``codes`` are kept when it is given (those with incidents).
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(
            f
            for f in source.iterdir()
            if f.name.endswith((".json", ".geojson", ".json.gz", ".geojson.gz"))
        )
    else:
        files = [source]
    feats = []
    for f in files:
        raw = f.read_bytes()
        data = json.loads(gzip.decompress(raw) if f.name.endswith(".gz") else raw)
        for feat in data.get("features", []):
            props = feat.get("properties") or {}
            code = props.get("LSOA11CD") or props.get("LSOA21CD") or props.get("code")
            if codes is not None and code not in codes:
                continue
            geom = shapely.set_precision(shapely.from_geojson(json.dumps(feat["geometry"])), 1e-5)
            feats.append(
                {
                    "type": "Feature",
                    "properties": {
                        "lsoa": code,
                        "name": props.get("LSOA11NM") or props.get("LSOA21NM") or props.get("name"),
                    },
                    "geometry": json.loads(shapely.to_geojson(geom)),
                }
            )
    return {"type": "FeatureCollection", "features": feats}
