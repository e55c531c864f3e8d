"""Patrol plans, briefings and route risk through the API (on the current ewm forecast)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from crimemap.api._cells import parse_cell_id
from crimemap.safeguards import audit_rows
from crimemap.store.embedded import DuckDBStore

NY = "north-yorkshire"
# Through York centre, west to east (lon, lat).
ROUTE = [[-1.105, 53.958], [-1.09, 53.96], [-1.075, 53.962], [-1.06, 53.965]]


def _plan(client: TestClient, **kw: object) -> dict:
    body = {"force": NY, "areas": 3, "max_cells": 4, "time_limit_s": 5, **kw}
    r = client.post("/api/plans", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_plan_covers_the_forecast_it_reports(client: TestClient) -> None:
    fc = client.app.state.crimemap.forecast  # type: ignore[attr-defined]
    assert fc is not None
    out = _plan(client)
    feats = out["features"]
    assert [f["properties"]["rank"] for f in feats] == [1, 2, 3]
    m = fc.force == NY
    value = {(int(i), int(j)): float(v) for (i, j), v in zip(fc.ij[m], fc.mean[m], strict=True)}
    seen: set[str] = set()
    for f in feats:
        p = f["properties"]
        assert 1 <= p["n_cells"] <= 4 and p["n_cells"] == len(p["cells"])
        assert not seen & set(p["cells"])  # areas never share a cell
        seen |= set(p["cells"])
        # Expected = the forecast summed over the area's cells, read from the forecast itself.
        want = sum(value[parse_cell_id(c)[1:]] for c in p["cells"])
        assert p["expected"] == pytest.approx(want, abs=2e-3)
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # The best area holds at least as much as any single cell of the force (it may be one).
    assert feats[0]["properties"]["expected"] >= max(value.values()) - 1e-6
    assert out["plan_id"] and out["force"] == NY


def test_briefing_png(client: TestClient, ny_store: DuckDBStore) -> None:
    out = _plan(client, areas=2, method="greedy")
    pid = out["plan_id"]
    r = client.get(f"/api/plans/{pid}/areas/1/briefing.png", params={"force": NY})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        client.get(f"/api/plans/{pid}/areas/9/briefing.png", params={"force": NY}).status_code
        == 404
    )
    assert (
        client.get("/api/plans/nope/areas/1/briefing.png", params={"force": NY}).status_code == 404
    )
    rows = audit_rows(ny_store, limit=5)
    assert any(r.action == "data.forecast" and '"kind":"briefing"' in r.detail for r in rows)
    assert any(r.action == "data.forecast" and '"kind":"plan"' in r.detail for r in rows)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"areas": 50, "max_cells": 64, "min_spacing_m": 20000}, 422),  # infeasible
        ({"areas": 0}, 422),
        ({"areas": 51}, 422),
        ({"max_cells": 65}, 422),
        ({"time_limit_s": 31}, 422),
        ({"fairness_cap": 1.5}, 422),  # the test app has no CRIMEMAP_IMD_DIR
        ({"crime_set": "no-such-set"}, 404),
        ({"force": "nowhere"}, 404),
    ],
)
def test_bad_plan_requests(client: TestClient, body: dict, code: int) -> None:
    req = {"force": NY, "areas": 3, "max_cells": 4, "time_limit_s": 2, **body}
    r = client.post("/api/plans", json=req)
    assert r.status_code == code, r.text


def test_harm_and_other_crime_set_plans_are_forecast_on_demand(client: TestClient) -> None:
    vol = _plan(client, method="greedy")
    harm = _plan(client, harm=True, method="greedy")
    burg = _plan(client, crime_set="burglary", method="greedy")
    for out in (harm, burg):
        assert [f["properties"]["rank"] for f in out["features"]] == [1, 2, 3]
    # Harm plans are in custody-day units, far above counts; burglary is rarer than all crime.
    assert (
        harm["features"][0]["properties"]["expected"] > vol["features"][0]["properties"]["expected"]
    )
    assert (
        burg["features"][0]["properties"]["expected"] < vol["features"][0]["properties"]["expected"]
    )


def test_fairness_cap_plan_with_imd(client: TestClient, imd_dir) -> None:  # type: ignore[no-untyped-def]
    state = client.app.state.crimemap  # type: ignore[attr-defined]
    old = state.settings
    state.settings = old.model_copy(update={"imd_dir": imd_dir})
    try:
        out = _plan(client, fairness_cap=1.5, method="greedy")
    finally:
        state.settings = old
    assert len(out["features"]) == 3


def test_plans_and_routes_are_force_scoped(client: TestClient, ny_store: DuckDBStore, auth) -> None:  # type: ignore[no-untyped-def]
    own = auth(ny_store, "analyst", (NY,))
    other = auth(ny_store, "analyst", ("south-yorkshire",))
    body = {"force": NY, "areas": 1, "max_cells": 1, "time_limit_s": 2, "method": "greedy"}
    route = {"force": NY, "route": ROUTE}
    for h, ok in ((own, True), (other, False), ({"Authorization": ""}, False)):
        assert (client.post("/api/plans", json=body, headers=h).status_code == 200) is ok
        assert (client.post("/api/route-risk", json=route, headers=h).status_code == 200) is ok
    pid = client.post("/api/plans", json=body, headers=own).json()["plan_id"]
    url = f"/api/plans/{pid}/areas/1/briefing.png"
    assert client.get(url, params={"force": NY}, headers=own).status_code == 200
    assert client.get(url, params={"force": NY}, headers=other).status_code == 403
    # The plan id alone does not open another force's plan.
    assert client.get(url, params={"force": "south-yorkshire"}).status_code == 404


def test_route_risk(client: TestClient) -> None:
    fc = client.app.state.crimemap.forecast  # type: ignore[attr-defined]
    r = client.post("/api/route-risk", json={"force": NY, "route": ROUTE, "buffer_m": 200})
    assert r.status_code == 200, r.text
    feats = r.json()["features"]
    segs = [f for f in feats if f["properties"]["kind"] == "segment"]
    assert segs and all(f["geometry"]["type"] == "LineString" for f in segs)
    # Each segment's risk is its cell's forecast density times its length (docs/allocate.md).
    m = fc.force == NY
    value = {(int(i), int(j)): float(v) for (i, j), v in zip(fc.ij[m], fc.mean[m], strict=True)}
    km2 = (fc.size / 1000) ** 2
    for f in segs:
        p = f["properties"]
        dens = value.get(parse_cell_id(p["cell"])[1:], 0.0) / km2
        assert p["density_km2"] == pytest.approx(dens, rel=1e-3, abs=1e-3)
    assert sum(f["properties"]["length_m"] for f in segs) > 1000
    # The same route as a GeoJSON LineString gives the same answer.
    line = {"type": "LineString", "coordinates": ROUTE}
    r2 = client.post("/api/route-risk", json={"force": NY, "route": line, "buffer_m": 200})
    assert r2.json() == r.json()
    bad = client.post("/api/route-risk", json={"force": NY, "route": ROUTE, "buffer_m": 2001})
    assert bad.status_code == 422
    bad = client.post("/api/route-risk", json={"force": NY, "route": [[0, 0]]})
    assert bad.status_code == 422
