"""H3 and LSOA count layers, and day/hour windows: cross-checked against the IncidentTable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from crimemap.api import create_app
from crimemap.ingest import ingest
from crimemap.spatial.h3units import h3_cells
from crimemap.spatial.lsoa import FORCE_LADS
from crimemap.store.embedded import DuckDBStore
from crimemap.table import IncidentTable
from crimemap.taxonomy import crime_set

UK = "-8.5,49.8,2.0,60.0"
YORK = "-1.2,53.9,-1.0,54.0"
STL = "-90.5,38.4,-90.0,38.9"
STL_MONTHS = ["january", "february", "march"]


def _get(client: TestClient, layer: str = "incidents", **params: object) -> dict:
    r = client.get(f"/api/layers/{layer}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _by_id(fc: dict) -> dict[str, float]:
    return {f["properties"]["id"]: f["properties"]["value"] for f in fc["features"]}


def _table(store: DuckDBStore, cats: frozenset[str], start: str, end: str) -> IncidentTable:
    return store.incidents().filter(categories=cats, start=start, end=end)


@pytest.fixture(scope="module")
def lsoa_folder(lsoa_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LSOA boundaries of North Yorkshire's districts (as a deployment would configure)."""
    d = tmp_path_factory.mktemp("lsoa")
    for lad in FORCE_LADS["north-yorkshire"]:
        (d / f"{lad}.json").symlink_to(lsoa_dir / f"{lad}.json")
    return d


@pytest.fixture(scope="module")
def lsoa_client(
    ny_store: DuckDBStore,
    lsoa_folder: Path,
    tmp_path_factory: pytest.TempPathFactory,
    settings_for,
    auth,
) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    s = settings_for(
        tmp_path_factory.mktemp("units"), forecast_on_start=False, lsoa_geojson_dir=lsoa_folder
    )
    with TestClient(create_app(s, store=ny_store), headers=auth(ny_store)) as c:
        yield c


@pytest.fixture(scope="module")
def stl_store(stl_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    """St. Louis, January-March 2019: times to the minute (partner mapping stl-slmpd)."""
    st = DuckDBStore(tmp_path_factory.mktemp("stl") / "stl.duckdb")
    raw = stl_dir / "data" / "raw" / "2019"
    ingest(
        st,
        [raw / f"{m}2019.csv.gz" for m in STL_MONTHS],
        reader="partner",
        reader_options={"mapping": "stl-slmpd"},
        policy="quarantine",
    )
    yield st
    st.close()


@pytest.fixture(scope="module")
def stl_client(
    stl_store: DuckDBStore, tmp_path_factory: pytest.TempPathFactory, settings_for, auth
) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path_factory.mktemp("stl-out"), forecast_on_start=False)
    with TestClient(create_app(s, store=stl_store), headers=auth(stl_store)) as c:
        yield c


# ------------------------------------------------------------------ H3
@pytest.mark.parametrize("res", [8, 10])
def test_h3_counts_match_group_by(client: TestClient, ny_store: DuckDBStore, res: int) -> None:
    cats = crime_set("violence")
    fc = _get(
        client,
        unit="h3",
        resolution=res,
        bbox=UK,
        categories="violence",
        start="2024-04",
        end="2024-06",
    )
    assert fc["meta"]["unit_kind"] == "h3" and fc["meta"]["resolution"] == res
    t = _table(ny_store, cats, "2024-04-01", "2024-07-01")
    want = Counter(f"h3:{c}" for c in h3_cells(t, res) if c is not None)
    assert _by_id(fc) == {k: float(v) for k, v in want.items()}
    # Hexagon geometry: a closed ring around the cell's centre.
    ring = np.array(fc["features"][0]["geometry"]["coordinates"][0])
    assert len(ring) >= 7 and (ring[0] == ring[-1]).all()


def test_h3_bbox_force_harm_and_zoom(client: TestClient, ny_store: DuckDBStore) -> None:
    york = _get(client, unit="h3", resolution=9, bbox=YORK)
    everywhere = _by_id(_get(client, unit="h3", resolution=9, bbox=UK))
    assert 0 < len(york["features"]) < len(everywhere)
    for f in york["features"]:
        ring = np.array(f["geometry"]["coordinates"][0])
        assert ring[:, 0].max() >= -1.2 and ring[:, 0].min() <= -1.0
        assert ring[:, 1].max() >= 53.9 and ring[:, 1].min() <= 54.0
        assert f["properties"]["value"] == everywhere[f["properties"]["id"]]
    assert _get(client, unit="h3", bbox=UK, force="nowhere")["features"] == []
    harm = _get(client, unit="h3", resolution=8, bbox=UK, categories="burglary", measure="harm")
    vol = _get(client, unit="h3", resolution=8, bbox=UK, categories="burglary")
    ratio = {k: v / _by_id(vol)[k] for k, v in _by_id(harm).items()}
    assert len(set(np.round(list(ratio.values()), 6))) == 1  # one weight per category
    # The resolution follows the zoom when not given.
    assert _get(client, unit="h3", bbox=YORK, zoom=15)["meta"]["resolution"] == 10
    assert _get(client, unit="h3", bbox=UK, zoom=7)["meta"]["resolution"] == 8


# ----------------------------------------------------------------- LSOA
def test_lsoa_counts_match_group_by_including_unlocated(
    lsoa_client: TestClient, ny_store: DuckDBStore
) -> None:
    cats = crime_set("all-crime")
    fc = _get(lsoa_client, unit="lsoa", bbox=UK, start="2024-01", end="2024-12")
    t = _table(ny_store, cats, "2024-01-01", "2025-01-01")
    codes = t.column("lsoa")
    want = Counter(f"lsoa:{c}" for c in codes if c is not None)
    got = _by_id(fc)
    assert got and all(want[k] == v for k, v in got.items())
    # Units without a polygon in the configured boundaries are counted, not drawn.
    undrawn = fc["meta"]["undrawn"]
    assert sum(got.values()) + undrawn["value"] == sum(want.values())
    geom = fc["features"][0]["geometry"]
    assert geom["type"] in ("Polygon", "MultiPolygon")


def test_upload_updates_unit_layers_incrementally(
    write_store: DuckDBStore, lsoa_folder: Path, tmp_path: Path, settings_for, auth
) -> None:  # type: ignore[no-untyped-def]
    s = settings_for(tmp_path, forecast_on_start=False, lsoa_geojson_dir=lsoa_folder)
    with TestClient(create_app(s, store=write_store), headers=auth(write_store)) as c:
        top = max(
            _get(c, unit="lsoa", bbox=YORK)["features"], key=lambda f: f["properties"]["value"]
        )
        code = top["properties"]["id"]
        hexes = _by_id(_get(c, unit="h3", resolution=9, bbox=YORK))
        point = {"longitude": -1.0819, "latitude": 53.9623}
        items = [
            # Located: one more in its hexagon and in its LSOA.
            {"crime_id": "u1", "month": "2024-02", "force": "north-yorkshire",
             "category": "robbery", "lsoa": code[5:], **point},
            # Unlocated with an LSOA code: counts for the area only.
            {"crime_id": "u2", "month": "2024-02", "force": "north-yorkshire",
             "category": "robbery", "lsoa": code[5:]},
        ]  # fmt: skip
        r = c.post("/api/incidents", json={"incidents": items})
        assert r.status_code == 201, r.text
        assert _by_id(_get(c, unit="lsoa", bbox=YORK))[code] == top["properties"]["value"] + 2
        after = _by_id(_get(c, unit="h3", resolution=9, bbox=YORK))
        changed = {k: after[k] - hexes.get(k, 0) for k in after if after[k] != hexes.get(k, 0)}
        assert list(changed.values()) == [1]


def test_lsoa_needs_boundaries(client: TestClient) -> None:
    r = client.get("/api/layers/incidents", params={"unit": "lsoa", "bbox": UK})
    assert r.status_code == 404 and "LSOA_GEOJSON_DIR" in r.json()["detail"]


def test_unit_series_match_group_by(lsoa_client: TestClient, ny_store: DuckDBStore) -> None:
    fc = _get(lsoa_client, unit="h3", resolution=9, bbox=YORK)
    top = max(fc["features"], key=lambda f: f["properties"]["value"])["properties"]["id"]
    s = lsoa_client.get("/api/series", params={"cell": top, "start": "2024-02", "end": "2024-11"})
    assert s.status_code == 200, s.text
    t = _table(ny_store, crime_set("all-crime"), "2024-02-01", "2024-12-01")
    hit = np.array([c == top[3:] for c in h3_cells(t, 9)])
    want = Counter(str(m)[:7] for m in t.months()[hit])
    pts = s.json()["points"]
    assert [p["month"] for p in pts] == [f"2024-{m:02d}" for m in range(2, 12)]
    assert {p["month"]: p["value"] for p in pts if p["value"]} == dict(want)
    lsoa = max(
        _get(lsoa_client, unit="lsoa", bbox=YORK)["features"],
        key=lambda f: f["properties"]["value"],
    )
    code = lsoa["properties"]["id"]
    ls = lsoa_client.get("/api/series", params={"cell": code}).json()
    assert ls["total"] == lsoa["properties"]["value"]
    # The side panel explains H3/LSOA units too (counts over time, rank).
    e = lsoa_client.get(f"/api/cells/{code}")
    assert e.status_code == 200, e.text
    assert e.json()["total"] == ls["total"] and e.json()["rank"]["position"] >= 1


def test_public_sees_grid_months_only(ny_store: DuckDBStore, tmp_path: Path, settings_for) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_on_start=False), store=ny_store)
    with TestClient(app) as c:
        for params in (
            {"unit": "h3"},
            {"unit": "lsoa"},
            {"start": "2024-03-01"},
            {"hours": "18-23"},
        ):
            r = c.get("/api/layers/incidents", params={"bbox": UK, **params})
            assert r.status_code == 403, (params, r.text)
            assert "grid cells by month" in r.json()["detail"]
        assert c.get("/api/layers/incidents", params={"bbox": UK}).status_code == 200


def test_statistics_layers_stay_on_grid(client: TestClient) -> None:
    for layer in ("hotspots", "emerging", "forecast"):
        r = client.get(f"/api/layers/{layer}", params={"bbox": UK, "unit": "h3"})
        assert r.status_code == 422 and "grid" in r.json()["detail"]


# ------------------------------------------------------------- day/hour
def test_month_only_data_is_never_spread_into_days(client: TestClient) -> None:
    fc = _get(client, bbox=UK, start="2024-03-01", end="2024-03-31")
    assert fc["features"] == [] and fc["meta"]["time_resolution"] == "day"
    assert "month-only" in fc["meta"]["time_note"]
    bins = client.get("/api/meta").json()["time_bins"]
    assert [b["precision"] for b in bins] == ["month"]


def _stl_sql(store: DuckDBStore, start: str, end: str, hours: tuple[int, int] | None = None) -> int:
    extra = (
        ""
        if hours is None
        else "AND t_precision = 'minute' AND extract(hour FROM t_start) BETWEEN ? AND ?"
    )
    params: list[object] = [sorted(crime_set("all-crime")), start, end]
    if hours is not None:
        params += list(hours)
    row = store.sql(
        "SELECT count(*) AS n FROM incidents WHERE x IS NOT NULL AND list_contains(?, category) "
        f"AND t_start >= ?::TIMESTAMP AND t_start < ?::TIMESTAMP {extra}",
        params,
    ).to_pylist()[0]
    return int(row["n"])


def test_day_and_hour_windows(stl_client: TestClient, stl_store: DuckDBStore) -> None:
    meta = stl_client.get("/api/meta").json()
    (b,) = meta["time_bins"]
    assert b["force"] == "st-louis" and b["precision"] == "minute" and b["hours"]
    assert b["first_day"] <= "2019-01-01" and b["last_day"] == "2019-03-31"
    day = _get(stl_client, bbox=STL, start="2019-02-14", end="2019-02-14", cell_m=250)
    assert day["meta"]["time_resolution"] == "day" and day["meta"]["cell_size_m"] == 250
    assert sum(_by_id(day).values()) == _stl_sql(stl_store, "2019-02-14", "2019-02-15")
    week = _get(stl_client, bbox=STL, start="2019-03-01", end="2019-03-07", hours="22-3", unit="h3")
    assert week["meta"]["time_resolution"] == "hour"
    want = _stl_sql(stl_store, "2019-03-01", "2019-03-08", (22, 23)) + _stl_sql(
        stl_store, "2019-03-01", "2019-03-08", (0, 3)
    )
    assert sum(_by_id(week).values()) == want
    hour = _get(stl_client, bbox=STL, start="2019-03-02T18", end="2019-03-02T20", cell_m=1000)
    assert sum(_by_id(hour).values()) == _stl_sql(
        stl_store, "2019-03-02 18:00", "2019-03-02 21:00", (0, 23)
    )
    # The monthly view of the same data still comes from the grid index.
    month = _get(stl_client, bbox=STL, start="2019-02", end="2019-02", cell_m=1000)
    assert sum(_by_id(month).values()) == _stl_sql(stl_store, "2019-02-01", "2019-03-01")


def test_day_and_hour_series(stl_client: TestClient, stl_store: DuckDBStore) -> None:
    r = stl_client.get(
        "/api/series", params={"bbox": STL, "start": "2019-03-01", "end": "2019-03-10"}
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["bin"] == "day" and len(s["points"]) == 10
    assert s["points"][0]["t"] == "2019-03-01" and s["points"][-1]["t"] == "2019-03-10"
    for p in (s["points"][0], s["points"][6]):
        d = np.datetime64(p["t"])
        assert p["value"] == _stl_sql(stl_store, str(d), str(d + 1))
    h = stl_client.get(
        "/api/series",
        params={"bbox": STL, "start": "2019-03-05", "end": "2019-03-05", "bin": "hour"},
    ).json()
    assert len(h["points"]) == 24 and h["points"][18]["t"] == "2019-03-05T18"
    assert h["points"][18]["value"] == _stl_sql(stl_store, "2019-03-05 18:00", "2019-03-05 19:00")
    assert h["total"] == _stl_sql(stl_store, "2019-03-05", "2019-03-06")


def test_bad_time_parameters(stl_client: TestClient) -> None:
    for params in (
        {"start": "2019-02-30"},
        {"start": "2019-3-1"},
        {"hours": "25"},
        {"start": "2019-03-02T24"},
    ):
        r = stl_client.get("/api/layers/incidents", params={"bbox": STL, **params})
        assert r.status_code == 422, (params, r.text)
        assert list(params.values())[0] in r.json()["detail"]
