"""Access control on every route: roles, force scope, tokens, sessions, rate limit, audit,
disclosure control of the public map (cross-checked against the store)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from crimemap.api import create_app
from crimemap.api._access import ACTION_KEY, AUTH_ACTION
from crimemap.safeguards import ACTIONS, COOKIE_NAME, audit_rows, control, verify_chain
from crimemap.store.embedded import DuckDBStore
from crimemap.taxonomy import crime_set

UK = "-8.5,49.8,2.0,60.0"
YORK = "-1.2,53.9,-1.0,54.0"
NY = "north-yorkshire"


def _actions(dependant: Any) -> set[str]:
    out: set[str] = set()
    for d in dependant.dependencies:
        a = getattr(d.call, "action", None)
        if a is not None:
            out.add(a)
        out |= _actions(d)
    return out


def _walk(routes: Any) -> Iterator[Any]:
    """Every route, including those of included routers (kept lazily by recent FastAPI)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield r


def test_every_api_route_declares_its_action(
    ny_store: DuckDBStore, tmp_path: Path, settings_for
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_on_start=False), store=ny_store)
    every = list(_walk(app.routes))
    routes = [r for r in every if isinstance(r, APIRoute) and r.path.startswith("/api")]
    assert len(routes) >= 10
    # The schema agrees: every operation names its action.
    ops = [op for item in app.openapi()["paths"].values() for op in item.values()]
    assert len(ops) == sum(len(r.methods) for r in routes)
    assert all(ACTION_KEY in op for op in ops)
    missing = []
    for r in routes:
        action = (r.openapi_extra or {}).get(ACTION_KEY)
        if action == AUTH_ACTION:
            continue
        # Declared in the schema, known to the action table, and enforced by a dependency.
        if action not in ACTIONS or _actions(r.dependant) != {action}:
            missing.append(f"{sorted(r.methods)} {r.path}: {action!r} {_actions(r.dependant)}")
    assert missing == []
    # And no route outside /api serves data (only the page, the redirect and static files).
    others = {r.path for r in every if isinstance(r, APIRoute)} - {r.path for r in routes}
    assert others <= {"/", "/map"}


@pytest.fixture(scope="module")
def anon(
    ny_store: DuckDBStore, tmp_path_factory: pytest.TempPathFactory, settings_for
) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client without credentials (each test adds the role's headers)."""
    app = create_app(
        settings_for(tmp_path_factory.mktemp("access"), forecast_on_start=False), store=ny_store
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def roles(ny_store: DuckDBStore, auth) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {
        "public": {},
        "analyst-a": auth(ny_store, "analyst", (NY,)),
        "analyst-b": auth(ny_store, "analyst", ("south-yorkshire",)),
        "admin": auth(ny_store, "admin"),
    }


def _cell(anon: TestClient, roles: dict[str, dict[str, str]]) -> str:
    r = anon.get(
        "/api/layers/incidents",
        params={"bbox": YORK, "cell_m": 500, "force": NY},
        headers=roles["admin"],
    )
    feats = r.json()["features"]
    return str(max(feats, key=lambda f: f["properties"]["value"])["properties"]["id"])


ALLOWED = {200, 404, 409}  # passed the access check (404: no forecast in this app)
# (route, params, who may: roles allowed with force=north-yorkshire; without force only admin)
RESTRICTED = [
    ("/api/layers/hotspots", {"bbox": YORK, "cell_m": 4000}),
    ("/api/layers/emerging", {"bbox": YORK, "cell_m": 4000}),
    ("/api/layers/forecast", {"bbox": YORK}),
    ("/api/series", {"bbox": YORK}),
    ("/api/cells/{cell}", {}),
]


@pytest.mark.parametrize(("url", "params"), RESTRICTED)
def test_restricted_routes_by_role_and_force(
    anon: TestClient, roles: dict[str, dict[str, str]], url: str, params: dict[str, Any]
) -> None:
    url = url.format(cell=_cell(anon, roles)) if "{cell}" in url else url
    want = {
        ("public", True): 403,
        ("public", False): 403,
        ("analyst-a", True): "ok",
        ("analyst-a", False): 403,  # analysts must name their force
        ("analyst-b", True): 403,  # another force's data
        ("analyst-b", False): 403,
        ("admin", True): "ok",
        ("admin", False): "ok",
    }
    for (role, with_force), expect in want.items():
        p = {**params, "force": NY} if with_force else params
        code = anon.get(url, params=p, headers=roles[role]).status_code
        if expect == "ok":
            assert code in ALLOWED, (role, with_force, code)
        else:
            assert code == expect, (role, with_force, code)


def test_public_routes_and_admin_routes(anon: TestClient, roles: dict[str, dict[str, str]]) -> None:
    for role, h in roles.items():
        for url in (
            "/api/meta",
            "/api/health",
            "/api/outlines/forces",
            "/api/session",
            "/api/transparency",
        ):
            assert anon.get(url, headers=h).status_code == 200, (role, url)
        r = anon.get("/api/layers/incidents", params={"bbox": YORK}, headers=h)
        assert r.status_code == 200
        # Controlled for the public and for an analyst outside the force; raw otherwise.
        controlled = "disclosure" in r.json()["meta"]
        assert controlled == (role in ("public", "analyst-a", "analyst-b")), role
        r = anon.get("/api/layers/incidents", params={"bbox": YORK, "force": NY}, headers=h)
        assert ("disclosure" in r.json()["meta"]) == (role in ("public", "analyst-b")), role
        # The stream carries 250 m cells of new incidents: analysts of the force only.
        if role in ("public", "analyst-b"):
            code = anon.get("/api/stream", params={"force": NY}, headers=h).status_code
            assert code == 403
        body = {"incidents": []}
        code = anon.post("/api/incidents", json=body, headers=h).status_code
        assert code == (422 if role == "admin" else 403), role  # empty batch: refused, not written
    assert anon.get("/api/session").json() == {
        "user": "anonymous",
        "role": "public",
        "forces": [],
        "signed_in": False,
    }
    r = anon.get(
        "/api/layers/incidents", params={"bbox": YORK, "measure": "harm"}, headers=roles["public"]
    )
    assert r.status_code == 403


def test_bad_credentials_are_401_and_audited(anon: TestClient, ny_store: DuckDBStore) -> None:
    bad = {"Authorization": "Bearer cm_0123456789ab_" + "x" * 43}
    for h in (bad, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = anon.get("/api/meta", headers=h)
        assert r.status_code == 401
        assert "Bearer" in r.headers["www-authenticate"]
    r = anon.get("/api/meta", headers={"Cookie": f"{COOKIE_NAME}=forged.9999999999.sig"})
    assert r.status_code == 401
    rows = [a for a in audit_rows(ny_store, limit=10) if a.action == "auth.failed"]
    assert len(rows) >= 4
    assert "x" * 43 not in "".join(a.detail for a in rows)  # tokens never land in the log


def test_no_plaintext_token_in_any_table(
    ny_store: DuckDBStore, roles: dict[str, dict[str, str]], anon: TestClient
) -> None:
    for h in roles.values():
        if h:
            anon.get("/api/meta", headers=h)
    secrets_ = [h["Authorization"].split(" ", 1)[1] for h in roles.values() if h]
    tables = ny_store.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )["table_name"].to_pylist()
    assert {"users", "tokens", "audit_log"} <= set(tables)
    for t in tables:
        blob = str(ny_store.query(f'SELECT * FROM "{t}"').to_pylist())  # noqa: S608
        for s in secrets_:
            assert s not in blob and s.split("_", 2)[2] not in blob, t


def test_session_cookie_flags_and_use(
    ny_store: DuckDBStore, tmp_path: Path, settings_for, auth
) -> None:  # type: ignore[no-untyped-def]
    token_h = auth(ny_store, "analyst", (NY,))
    app = create_app(
        settings_for(tmp_path, forecast_on_start=False, cookie_secure=True), store=ny_store
    )
    with TestClient(app, base_url="https://testserver") as c:
        assert c.post("/api/session").status_code == 401  # a token is needed to sign in
        r = c.post("/api/session", headers=token_h)
        assert r.status_code == 200 and r.json()["role"] == "analyst"
        flags = [f.strip().lower() for f in r.headers["set-cookie"].split(";")]
        assert flags[0].startswith(COOKIE_NAME + "=")
        assert {"httponly", "samesite=strict", "secure", "path=/"} <= set(flags)
        # The cookie alone now identifies the analyst.
        who = c.get("/api/session").json()
        assert who["user"].startswith("test-analyst") and who["forces"] == [NY]
        assert c.get("/api/series", params={"bbox": YORK, "force": NY}).status_code == 200
        cookie = c.cookies.get(COOKIE_NAME)
        c.delete("/api/session")
        assert c.get("/api/session").json()["role"] == "public"
        # An ended session is refused even with a valid signature.
        c.cookies.clear()
        r = c.get("/api/session", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})
        assert r.status_code == 401


def test_rate_limit_is_429_with_retry_after_before_any_token_check(
    ny_store: DuckDBStore, tmp_path: Path, settings_for
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        settings_for(tmp_path, forecast_on_start=False, rate_limit_per_s=0.01, rate_burst=3),
        store=ny_store,
    )
    bad = {"Authorization": "Bearer cm_0123456789ab_" + "y" * 43}
    with TestClient(app) as c:
        codes = [c.get("/api/meta", headers=bad).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        r = c.get("/api/meta", headers=bad)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "RateLimited"
        t0 = time.perf_counter()
        for _ in range(20):
            assert c.get("/api/meta", headers=bad).status_code == 429
        # No argon2 verification behind a 429 (each costs tens of milliseconds).
        assert time.perf_counter() - t0 < 2.0
        # Another bucket (the client address) is unaffected; the page itself is never limited.
        assert c.get("/api/meta").status_code == 200
        assert c.get("/").status_code == 200


def test_restricted_reads_and_refusals_are_audited(
    anon: TestClient, roles: dict[str, dict[str, str]], ny_store: DuckDBStore
) -> None:
    a = roles["analyst-a"]
    cell = _cell(anon, roles)
    n0 = len(audit_rows(ny_store))
    assert anon.get("/api/series", params={"cell": cell, "force": NY}, headers=a).status_code == 200
    assert anon.get(f"/api/cells/{cell}", params={"force": NY}, headers=a).status_code == 200
    anon.get("/api/layers/forecast", params={"bbox": YORK, "force": NY}, headers=a)
    anon.get("/api/layers/hotspots", params={"bbox": YORK, "force": NY}, headers=a)
    assert (
        anon.get("/api/series", params={"cell": cell}, headers=roles["analyst-b"]).status_code
        == 403
    )
    new = audit_rows(ny_store)[n0:]
    got = [(r.action, r.force, r.role) for r in new]
    assert ("data.series", NY, "analyst") in got
    assert ("data.explain", NY, "analyst") in got
    assert ("data.hotspots", NY, "analyst") in got
    assert ("auth.denied", None, "analyst") in got
    series = next(r for r in new if r.action == "data.series")
    assert series.area == cell and series.n_rows == 12
    assert verify_chain(ny_store).ok


def test_admin_ingest_is_audited(write_client: TestClient, write_store: DuckDBStore) -> None:
    item = {
        "month": "2024-02",
        "force": NY,
        "longitude": -1.0819,
        "latitude": 53.9623,
        "category": "robbery",
    }
    r = write_client.post("/api/incidents", json={"incidents": [item, item]})
    assert r.status_code == 201
    row = audit_rows(write_store, limit=1)[0]
    assert row.action == "ingest" and row.n_rows == 2 and row.role == "admin"


def _reference_public(
    store: DuckDBStore, size: int, start: str, end: str, threshold: int = 5
) -> dict[str, float]:
    """Slow reference: per (500 m cell, month, force, category) counts from SQL, controlled,
    then summed to ``size`` cells."""
    rows = store.query(
        """SELECT CAST(floor(x / 500) AS BIGINT) AS i, CAST(floor(y / 500) AS BIGINT) AS j,
                  date_trunc('month', t_start) AS m, force, category, count(*) AS n
           FROM incidents WHERE x IS NOT NULL AND category = ANY(CAST(? AS TEXT[]))
             AND t_start >= CAST(? AS TIMESTAMP) AND t_start < CAST(? AS TIMESTAMP)
           GROUP BY 1, 2, 3, 4, 5""",
        [sorted(crime_set("all-crime")), start, end],
    ).to_pylist()
    k = size // 500
    out: dict[str, float] = {}
    pub = control(np.array([r["n"] for r in rows], float))
    for r, v in zip(rows, pub, strict=True):
        key = f"g{size}:{r['i'] // k}:{r['j'] // k}"
        out[key] = out.get(key, 0.0) + (0.0 if np.isnan(v) else float(v))
    return out


@pytest.mark.parametrize(
    ("cell_m", "start", "end"), [(500, "2024-03", "2024-05"), (2000, "2024-01", "2024-12")]
)
def test_public_counts_match_a_reference_and_have_no_small_counts(
    anon: TestClient, ny_store: DuckDBStore, cell_m: int, start: str, end: str
) -> None:
    r = anon.get(
        "/api/layers/incidents", params={"bbox": UK, "cell_m": cell_m, "start": start, "end": end}
    )
    fc = r.json()
    vals = np.array([f["properties"]["value"] for f in fc["features"]], float)
    assert len(vals) > 50
    assert not np.any((vals >= 1) & (vals <= 4))
    assert np.all(vals % 5 == 0)
    assert fc["meta"]["disclosure"]["threshold"] == 5
    y, m = (int(v) for v in end.split("-"))
    stop = f"{y + m // 12}-{m % 12 + 1:02d}-01"
    ref = _reference_public(ny_store, cell_m, start + "-01", stop)
    got = {f["properties"]["id"]: f["properties"]["value"] for f in fc["features"]}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in ref.items() if v}
    # Small counts exist in the raw data and were suppressed, not just absent.
    assert sum(f["properties"]["suppressed"] for f in fc["features"]) > 0


def test_public_cell_size_is_at_least_500_m(anon: TestClient) -> None:
    r = anon.get("/api/layers/incidents", params={"bbox": YORK, "cell_m": 250})
    assert r.json()["meta"]["cell_size_m"] == 500
    r = anon.get("/api/layers/incidents", params={"bbox": YORK, "zoom": 16})
    assert r.json()["meta"]["cell_size_m"] >= 500


def test_transparency_record_is_public(anon: TestClient, ny_store: DuckDBStore) -> None:
    rec = anon.get("/api/transparency").json()
    assert rec["not_predicted"] and rec["switch_off_conditions"]
    n = ny_store.query("SELECT count(*) AS n FROM incidents").to_pylist()[0]["n"]
    assert rec["data_summary"]["incidents"] == n
    assert "argon2" in rec["safeguards"]["access"]


def test_explanation_forecast_is_limited_to_the_asked_force() -> None:
    from crimemap.api._explain import forecast_part
    from crimemap.api._forecast import CurrentForecast

    # One border cell scored by two forces (hand-made forecast).
    fc = CurrentForecast(
        model="m",
        crime_set="all-crime",
        size=500.0,
        start="2025-01",
        end="2025-02",
        ij=np.array([[10, 20], [10, 20], [11, 20]]),
        force=np.array(["a", "b", "a"]),
        mean=np.array([2.0, 7.0, 1.0]),
        lo90=np.array([1.0, 5.0, 0.0]),
        hi90=np.array([3.0, 9.0, 2.0]),
        components={"recent": np.array([2.0, 7.0, 1.0])},
    )
    assert forecast_part(fc, 500.0, 10, 20)["mean"] == 9.0
    a = forecast_part(fc, 500.0, 10, 20, "a")
    assert a["mean"] == 2.0 and a["force"] == "a" and a["hi90"] == 3.0
    assert a["drivers"][0]["value"] == 2.0
    assert forecast_part(fc, 500.0, 10, 20, "b")["mean"] == 7.0
    assert forecast_part(fc, 1000.0, 5, 10, "a")["mean"] == 3.0
