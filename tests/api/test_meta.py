"""Metadata, OpenAPI documentation and offline outlines."""

from __future__ import annotations

from fastapi.testclient import TestClient

from crimemap.forecast import models
from crimemap.store.embedded import DuckDBStore
from crimemap.taxonomy import CATEGORY_SLUGS


def test_meta_lists_what_the_store_holds(client: TestClient, ny_store: DuckDBStore) -> None:
    m = client.get("/api/meta").json()
    assert m["forces"] == ny_store.forces() == ["north-yorkshire"]
    assert m["months"] == [f"2024-{k:02d}" for k in range(1, 13)]
    assert [c["slug"] for c in m["categories"]] == list(CATEGORY_SLUGS)
    assert set(m["models"]) == set(models())
    assert m["time_precision"] == ["month"]
    assert m["incidents"] == ny_store.status().incidents
    assert m["basemap_style_url"] is None


def test_every_query_parameter_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    seen = 0
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for p in op.get("parameters", []):
                seen += 1
                assert p.get("description"), f"{path}: parameter {p['name']} has no description"
    assert seen > 10
    assert "/api/incidents" in spec["paths"] and "/api/stream" in spec["paths"]


def test_force_outlines(client: TestClient) -> None:
    r = client.get("/api/outlines/forces")
    assert r.status_code == 200
    feats = r.json()["features"]
    assert [f["properties"]["force"] for f in feats] == ["north-yorkshire"]
    assert feats[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # North Yorkshire lies within about 2.6W-0.2W, 53.6N-54.7N (York at 1.08W, 53.96N).
    import shapely

    shape = shapely.from_geojson(__import__("json").dumps(feats[0]["geometry"]))
    assert shape.contains(shapely.Point(-1.08, 53.96))
    w, s, e, n = shape.bounds
    assert -3.0 < w < -1.5 and -0.6 < e < 0.2 and 53.3 < s < 54.0 and 54.4 < n < 55.0


def test_lsoa_outlines_off_by_default(client: TestClient) -> None:
    r = client.get("/api/outlines/lsoa")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFoundError"


def test_map_page_is_served(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert 'type="module"' in r.text
    assert client.get("/static/app.js").status_code == 200


def test_lsoa_outlines_from_the_bundled_sample(
    ny_store: DuckDBStore, tmp_path, settings_for
) -> None:  # type: ignore[no-untyped-def]
    from crimemap.api import create_app
    from crimemap.data import sample_lsoa

    app = create_app(
        settings_for(tmp_path, lsoa_geojson_dir=sample_lsoa(), forecast_on_start=False),
        store=ny_store,
    )
    with TestClient(app) as c:
        assert c.get("/api/meta").json()["lsoa_outlines"] is True
        r = c.get("/api/outlines/lsoa")
    assert r.status_code == 200
    feats = r.json()["features"]
    codes = {
        row["lsoa"]
        for row in ny_store.query(
            "SELECT DISTINCT lsoa FROM incidents WHERE lsoa IS NOT NULL"
        ).to_pylist()
    }
    # Only LSOAs that hold incidents are sent (2011 polygons; 2024 data mostly keeps its codes).
    assert len(feats) > 100
    assert all(f["properties"]["lsoa"] in codes for f in feats)
    assert {f["geometry"]["type"] for f in feats} <= {"Polygon", "MultiPolygon"}
