"""Viewport layers: cross-checked against direct queries of the store."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from crimemap.api._queries import cell_incident_count
from crimemap.detect import gi_star, harm_weights
from crimemap.spatial import Grid
from crimemap.spatial.weights import grid_contiguity
from crimemap.store.embedded import DuckDBStore
from crimemap.taxonomy import crime_set

UK = "-8.5,49.8,2.0,60.0"
YORK = "-1.2,53.9,-1.0,54.0"


def _features(client: TestClient, layer: str, **params: object) -> dict:
    r = client.get(f"/api/layers/{layer}", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    return r.json()


def _sql_count(store: DuckDBStore, cats: frozenset[str], start: str, end: str) -> int:
    rows = store.query(
        """SELECT count(*) AS n FROM incidents
           WHERE x IS NOT NULL AND category = ANY(CAST(? AS TEXT[]))
           AND t_start >= CAST(? AS TIMESTAMP) AND t_start < CAST(? AS TIMESTAMP)""",
        [sorted(cats), start, end],
    ).to_pylist()
    return int(rows[0]["n"])


@pytest.mark.parametrize("cell_m", [250, 2000, 16000])
def test_counts_sum_to_store_total(client: TestClient, ny_store: DuckDBStore, cell_m: int) -> None:
    fc = _features(client, "incidents", bbox=UK, cell_m=cell_m, start="2024-03", end="2024-05")
    total = sum(f["properties"]["value"] for f in fc["features"])
    want = _sql_count(ny_store, crime_set("all-crime"), "2024-03-01", "2024-06-01")
    assert total == want
    assert fc["meta"]["cell_size_m"] == cell_m


def test_category_filter_and_harm(client: TestClient, ny_store: DuckDBStore) -> None:
    vol = _features(client, "incidents", bbox=UK, cell_m=16000, categories="burglary,robbery")
    n_b = _sql_count(ny_store, frozenset({"burglary"}), "2000-01-01", "2100-01-01")
    n_r = _sql_count(ny_store, frozenset({"robbery"}), "2000-01-01", "2100-01-01")
    assert sum(f["properties"]["value"] for f in vol["features"]) == n_b + n_r
    harm = _features(
        client, "incidents", bbox=UK, cell_m=16000, categories="burglary,robbery", measure="harm"
    )
    w = harm_weights()
    got = sum(f["properties"]["value"] for f in harm["features"])
    assert got == pytest.approx(n_b * w["burglary"] + n_r * w["robbery"], rel=1e-5)
    assert harm["meta"]["unit"].startswith("harm")


def test_cell_value_matches_direct_query(client: TestClient, ny_store: DuckDBStore) -> None:
    fc = _features(client, "incidents", bbox=YORK, zoom=14)
    assert fc["meta"]["cell_size_m"] == 250
    top = max(fc["features"], key=lambda f: f["properties"]["value"])
    size, i, j = top["properties"]["id"][1:].split(":")
    cats = sorted(crime_set("all-crime"))
    assert top["properties"]["value"] == cell_incident_count(
        ny_store, 27700, float(size), int(i), int(j), cats
    )


def test_bbox_clips_and_zoom_coarsens(client: TestClient) -> None:
    near = _features(client, "incidents", bbox=YORK, zoom=13)
    far = _features(client, "incidents", bbox=UK, zoom=6)
    assert near["meta"]["cell_size_m"] < far["meta"]["cell_size_m"]
    # Cells meet the projected box enclosing the viewport: at most one cell (<0.01 deg) outside.
    for f in near["features"]:
        ring = np.array(f["geometry"]["coordinates"][0])
        assert ring[:, 0].max() >= -1.21 and ring[:, 0].min() <= -0.99
        assert ring[:, 1].max() >= 53.89 and ring[:, 1].min() <= 54.01
    assert 0 < len(near["features"]) < 4000


def test_permuting_nothing_changes_between_calls(client: TestClient) -> None:
    a = client.get("/api/layers/incidents", params={"bbox": YORK, "zoom": 12}).content
    b = client.get("/api/layers/incidents", params={"bbox": YORK, "zoom": 12}).content
    assert a == b


def test_hotspots_match_gi_star_on_the_study_area(
    client: TestClient, ny_store: DuckDBStore
) -> None:
    fc = _features(client, "hotspots", bbox=UK, cell_m=4000)
    ids = [f["properties"]["id"] for f in fc["features"]]
    ij = np.array([[int(v) for v in s.split(":")[1:]] for s in ids])
    # Independent recount of every study cell from the store, then Gi*.
    rows = ny_store.query(
        """SELECT CAST(floor(x / 4000) AS BIGINT) AS i, CAST(floor(y / 4000) AS BIGINT) AS j,
                  count(*) FILTER (WHERE category = ANY(CAST(? AS TEXT[]))) AS n
           FROM incidents WHERE x IS NOT NULL GROUP BY 1, 2""",
        [sorted(crime_set("all-crime"))],
    ).to_pandas()
    g = Grid(4000.0)
    units = g.units(rows[["i", "j"]].to_numpy())
    vals = np.zeros(len(units))
    vals[units.position(g.ids(rows[["i", "j"]].to_numpy()))] = rows["n"].to_numpy()
    want = gi_star(vals, grid_contiguity(units), permutations=0, seed=0)
    pos = units.position(g.ids(ij))
    got_z = np.array([f["properties"]["value"] for f in fc["features"]])
    # GeoJSON values keep 6 significant digits.
    np.testing.assert_allclose(got_z, np.asarray(want.z)[pos], rtol=1e-5, atol=1e-6)
    got_cls = np.array([f["properties"]["class"] for f in fc["features"]])
    np.testing.assert_array_equal(got_cls, np.asarray(want.classes)[pos])
    assert fc["meta"]["n_hot"] == want.n_hot > 0


def test_emerging_layer_labels(client: TestClient) -> None:
    fc = _features(client, "emerging", bbox=UK, cell_m=4000)
    classes = fc["meta"]["classes"]
    assert fc["features"]
    for f in fc["features"]:
        assert classes[int(f["properties"]["value"])] == f["properties"]["label"]
    assert fc["meta"]["months"] == ["2024-01", "2024-12"]


def test_forecast_layer(client: TestClient) -> None:
    meta = client.get("/api/meta").json()
    assert meta["forecast"]["model"] == "ewm"
    assert meta["forecast"]["window"] == ["2025-01", "2025-02"]
    fine = _features(client, "forecast", bbox=UK, cell_m=500)
    coarse = _features(client, "forecast", bbox=UK, cell_m=8000)
    s_fine = sum(f["properties"]["value"] for f in fine["features"])
    s_coarse = sum(f["properties"]["value"] for f in coarse["features"])
    assert s_fine == pytest.approx(s_coarse, rel=1e-5)
    for f in fine["features"]:
        p = f["properties"]
        # A band of the count: integer quantiles, so a tiny mean can sit above hi90 = 0.
        assert p["lo90"] <= p["hi90"] and p["lo90"] <= p["value"] + 1e-6
    assert all("lo90" not in f["properties"] for f in coarse["features"])


def test_default_view_is_warm(client: TestClient) -> None:
    from crimemap.api._cells import month_index
    from crimemap.api._layers import Filter

    state = client.app.state.crimemap  # type: ignore[attr-defined]
    cats = crime_set("all-crime")
    hot = Filter(cats, month_index("2024-10"), month_index("2024-12"), None, "volume")
    assert all(state.is_cached(("hotspots", s, hot)) for s in (250.0, 500.0, 16000.0))
    em = Filter(cats, None, month_index("2024-12"), None, "volume")
    assert state.is_cached(("emerging", 1000.0, em))
    # ... and a request for it is answered from that cache (same key as the router's).
    r = client.get(
        "/api/layers/hotspots",
        params={"bbox": YORK, "cell_m": 500, "start": "2024-10", "end": "2024-12"},
    )
    assert r.status_code == 200
    assert (
        r.json()["meta"]["n_hot"]
        == state.cached(("hotspots", 500.0, hot), lambda: None).meta["n_hot"]
    )
