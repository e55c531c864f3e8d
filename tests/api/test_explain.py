"""Time series and per-cell explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from crimemap.api import create_app
from crimemap.store.embedded import DuckDBStore
from crimemap.taxonomy import crime_set

YORK = "-1.2,53.9,-1.0,54.0"


def _busiest_cell(client: TestClient, cell_m: int) -> str:
    fc = client.get("/api/layers/incidents", params={"bbox": YORK, "cell_m": cell_m}).json()
    return max(fc["features"], key=lambda f: f["properties"]["value"])["properties"]["id"]


def test_series_matches_store(client: TestClient, ny_store: DuckDBStore) -> None:
    cell = _busiest_cell(client, 500)
    _, i, j = cell.split(":")
    r = client.get("/api/series", params={"cell": cell, "categories": "violence"})
    assert r.status_code == 200
    s = r.json()
    rows = ny_store.query(
        f"""SELECT {ny_store.dialect.month()} AS m, count(*) AS n FROM incidents
           WHERE CAST(floor(x / 500) AS BIGINT) = ? AND CAST(floor(y / 500) AS BIGINT) = ?
             AND category = 'violent-crime' GROUP BY 1""",  # noqa: S608 (dialect constant)
        [int(i), int(j)],
    ).to_pylist()
    want = {r["m"]: r["n"] for r in rows}
    assert len(s["points"]) == 12  # every month, zeros included
    assert {p["month"]: p["value"] for p in s["points"] if p["value"]} == want
    assert s["total"] == sum(want.values())


def test_area_series_sums_cells(client: TestClient) -> None:
    area = client.get("/api/series", params={"bbox": YORK, "start": "2024-02", "end": "2024-04"})
    assert area.status_code == 200
    pts = area.json()["points"]
    assert [p["month"] for p in pts] == ["2024-02", "2024-03", "2024-04"]
    fc = client.get(
        "/api/layers/incidents",
        params={"bbox": YORK, "cell_m": 250, "start": "2024-02", "end": "2024-04"},
    ).json()
    # Cells centred inside the bbox are a subset of the cells meeting it.
    assert 0 < area.json()["total"] <= sum(f["properties"]["value"] for f in fc["features"])


def test_explanation_of_a_cell(client: TestClient, ny_store: DuckDBStore) -> None:
    cell = _busiest_cell(client, 500)
    r = client.get(f"/api/cells/{cell}")
    assert r.status_code == 200
    e = r.json()
    layer = client.get("/api/layers/incidents", params={"bbox": YORK, "cell_m": 500}).json()
    value = next(
        f["properties"]["value"] for f in layer["features"] if f["properties"]["id"] == cell
    )
    assert e["total"] == value
    assert e["rank"]["position"] == 1 or e["rank"]["position"] <= e["rank"]["of"]
    assert e["hotspot"]["class"] in (-1, 0, 1)
    assert "label" in e["emerging"]
    fc = e["forecast"]
    assert fc["model"] == "ewm" and fc["window"] == ["2025-01", "2025-02"]
    assert fc["lo90"] <= fc["mean"] <= fc["hi90"]
    # The drivers add up to the forecast (RiskSurface.components contract).
    assert sum(d["value"] for d in fc["drivers"]) == pytest.approx(fc["mean"], rel=1e-9)
    fl = client.get("/api/layers/forecast", params={"bbox": YORK, "cell_m": 500}).json()
    fv = next(f["properties"]["value"] for f in fl["features"] if f["properties"]["id"] == cell)
    assert fc["mean"] == pytest.approx(fv, rel=1e-5)  # GeoJSON keeps 6 significant digits
    cov = e["coverage"]
    assert cov["force"] == "north-yorkshire"
    assert cov["force_incidents"] == ny_store.status().incidents
    assert cov["time_precision"] == "month"
    assert e["backtest"] is None  # no back-test configured


def test_explanation_quotes_backtest(
    ny_store: DuckDBStore, tmp_path: Path, settings_for, auth
) -> None:
    rows = pd.DataFrame(
        {
            "force": ["north-yorkshire", "north-yorkshire", "north-yorkshire", "other"],
            "crime_set": ["all-crime", "all-crime", "burglary", "all-crime"],
            "model": ["ewm", "ewm", "ewm", "ewm"],
            "hit@10%": [0.4, 0.6, 0.9, 0.1],
            "pai@10%": [3.0, 5.0, 9.0, 1.0],
        }
    )
    path = tmp_path / "per_origin.csv"
    rows.to_csv(path, index=False)
    app = create_app(settings_for(tmp_path, backtest_path=path), store=ny_store)
    with TestClient(app, headers=auth(ny_store)) as c:
        cell = _busiest_cell(c, 500)
        bt = c.get(f"/api/cells/{cell}").json()["backtest"]
    assert bt["origins"] == 2
    assert bt["metrics"]["hit@10%"] == pytest.approx(0.5)
    assert bt["metrics"]["pai@10%"] == pytest.approx(4.0)


def test_finer_cell_gets_a_share_of_the_model_cell(client: TestClient) -> None:
    cell = _busiest_cell(client, 250)
    e = client.get(f"/api/cells/{cell}").json()
    assert e["forecast"]["model_cell_m"] == 500
    assert e["forecast"]["lo90"] is None and e["forecast"]["interval_note"]
    assert np.isfinite(e["forecast"]["mean"])
    assert set(crime_set("all-crime")) == set(
        client.get("/api/series", params={"cell": cell}).json()["categories"]
    )
