from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from crimemap.detect.outputs import (
    UnitSpec,
    parse_unit,
    save_png,
    to_wgs84,
    unit_polygons,
    write_geojson,
    write_geoparquet,
)
from crimemap.errors import InputError
from crimemap.spatial import Grid


def test_parse_unit() -> None:
    assert parse_unit("grid:250") == UnitSpec("grid", size=250.0)
    assert parse_unit("H3:9") == UnitSpec("h3", resolution=9)
    assert parse_unit("lsoa") == UnitSpec("lsoa")
    assert parse_unit("grid:500").slug() == "grid500"
    for bad in ("grid:abc", "grid:-5", "h3:3", "hex", "lsoa:2011", ""):
        with pytest.raises(InputError):
            parse_unit(bad)


def _grid_polys():
    u = Grid(250).units(np.array([[1700, 2260], [1701, 2260], [1700, 2261]]))
    return u, unit_polygons(u)


def test_grid_polygons_are_the_cells() -> None:
    u, g = _grid_polys()
    assert shapely.area(g).tolist() == [62500.0] * 3
    assert shapely.contains_xy(g, u.centroids[:, 0], u.centroids[:, 1]).all()


def test_geojson_and_geoparquet_round_trip(tmp_path: Path) -> None:
    u, g = _grid_polys()
    cols = {
        "unit_id": u.ids.astype(str),
        "z": np.array([1.5, np.nan, -2.0]),
        "cls": np.array(["hot", "", "cold"]),
    }
    gj = write_geojson(tmp_path / "a.geojson", to_wgs84(g, 27700), cols)
    doc = json.loads(gj.read_text())
    assert len(doc["features"]) == 3 and doc["features"][1]["properties"]["z"] is None
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert -2.5 < lon < -1 and 54 < lat < 56  # 425 km E, 565 km N is Tyneside
    gp = write_geoparquet(tmp_path / "a.parquet", g, cols, 27700)
    t = pq.read_table(gp)
    geo = json.loads(t.schema.metadata[b"geo"])
    assert geo["version"] == "1.0.0" and geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"]["encoding"] == "WKB"
    assert geo["columns"]["geometry"]["crs"]["id"]["code"] == 27700
    back = shapely.from_wkb(t.column("geometry").to_pylist())
    assert shapely.equals(back, g).all()
    assert t.column("unit_id").to_pylist() == list(u.ids)


def test_png(tmp_path: Path) -> None:
    _, g = _grid_polys()
    p = save_png(tmp_path / "m.png", g, np.array([1.0, 0.0, -1.0]), title="t")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p2 = save_png(
        tmp_path / "c.png",
        g,
        np.array([0, 1, 1]),
        title="t",
        categorical={0: ("a", "#eeeeee"), 1: ("b", "#ff0000")},
    )
    assert p2.stat().st_size > 1000
