"""The browser map in a real headless Chromium (Debian package) driven by Playwright."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from crimemap.store import Store
from crimemap.taxonomy import crime_set

pytestmark = pytest.mark.browser

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
OUTPUT_NAME = "map.png"


def _layer_state(page) -> dict:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """() => { const s = window.crimemap; const src = s.map.getSource('cells');
                   const fill = s.map.getPaintProperty('cells-fill', 'fill-color');
                   return { layer: s.data.meta.layer, cells: s.data.features.length, loads: s.loads,
                            fill: JSON.stringify(fill), legend: document.getElementById('legend').innerText,
                            hasSource: !!src }; }"""
    )


def _wait_loads(page, n: int) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"window.crimemap.loads >= {n}", timeout=20_000)


def test_map_loads_without_console_errors(page) -> None:  # type: ignore[no-untyped-def]
    st = _layer_state(page)
    assert st["layer"] == "incidents" and st["cells"] > 0 and st["hasSource"]
    assert "Incidents per cell" in st["legend"]
    # The offline basemap: the force outline is drawn from the store.
    outlines = page.evaluate("window.crimemap.map.querySourceFeatures('forces').length")
    assert outlines >= 1
    assert (
        "live" in page.locator("#live").inner_text()
        or "connecting" in page.locator("#live").inner_text()
    )
    page.wait_for_timeout(300)
    assert page.console_errors == []
    assert page.evaluate("window.crimemap.errors") == []
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / OUTPUT_NAME))


def test_layer_toggle_changes_what_is_drawn(page) -> None:  # type: ignore[no-untyped-def]
    before = _layer_state(page)
    assert before["layer"] == "incidents" and before["cells"] > 0
    n = before["loads"]
    page.get_by_role("radio", name="Hot spots (Gi*)").check()
    _wait_loads(page, n + 1)
    after = _layer_state(page)
    assert after["layer"] == "hotspots"
    assert after["fill"] != before["fill"]
    assert "Getis-Ord" in after["legend"]
    # Rendered features now carry the Gi* class.
    props = page.evaluate(
        "() => window.crimemap.map.queryRenderedFeatures({layers: ['cells-fill']}).slice(0, 50).map(f => f.properties)"
    )
    assert props and all("class" in p for p in props)
    page.keyboard.press("Tab")  # controls are reachable from the keyboard
    page.get_by_role("radio", name="Forecast").focus()
    page.keyboard.press("Space")
    _wait_loads(page, n + 2)
    assert _layer_state(page)["layer"] == "forecast"


def test_click_cell_opens_panel_with_store_numbers(page, web_store: Store) -> None:  # type: ignore[no-untyped-def]
    # Zoom to York and click the busiest cell in view.
    n = page.evaluate("window.crimemap.loads")
    page.evaluate("window.crimemap.map.jumpTo({center: [-1.08, 53.96], zoom: 13})")
    _wait_loads(page, n + 1)
    target = page.evaluate(
        """() => { const m = window.crimemap.map;
                   const fs = m.queryRenderedFeatures({layers: ['cells-fill']});
                   fs.sort((a, b) => b.properties.value - a.properties.value);
                   const f = fs[0]; const ring = f.geometry.coordinates[0];
                   const cx = ring.slice(0, 4).reduce((s, p) => s + p[0], 0) / 4;
                   const cy = ring.slice(0, 4).reduce((s, p) => s + p[1], 0) / 4;
                   const pt = m.project([cx, cy]);
                   return {id: f.properties.id, x: pt.x, y: pt.y, value: f.properties.value}; }"""
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    page.wait_for_selector("#panel-total", timeout=20_000)
    assert page.locator("#panel-title").inner_text() == f"Cell {target['id']}"
    size, i, j = target["id"][1:].split(":")
    months = page.evaluate("window.crimemap.meta.months")
    # The default window is the last three months.
    start, end = months[-3], months[-1]
    row = web_store.query(
        """SELECT count(*) AS n FROM incidents
           WHERE CAST(floor(x / ?) AS BIGINT) = ? AND CAST(floor(y / ?) AS BIGINT) = ?
             AND category = ANY(CAST(? AS TEXT[]))
             AND t_start >= CAST(? AS TIMESTAMP)
             AND t_start < CAST(? AS TIMESTAMP) + INTERVAL '1 month'""",
        [
            float(size),
            int(i),
            float(size),
            int(j),
            sorted(crime_set("all-crime")),
            start + "-01",
            end + "-01",
        ],
    ).to_pylist()[0]
    shown = float(page.locator("#panel-total").inner_text().replace(",", ""))
    assert shown == row["n"] == target["value"] > 0
    assert (
        "hot spot" in page.locator("#panel-hotspot").inner_text()
        or "significant" in page.locator("#panel-hotspot").inner_text()
    )
    assert "expected" in page.locator("#panel-forecast").inner_text()
    assert page.locator("#panel svg.chart rect").count() == 3
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()


def test_posted_incident_appears_through_the_stream(page, live_server, admin_token) -> None:  # type: ignore[no-untyped-def]
    n = page.evaluate("window.crimemap.loads")
    page.evaluate("window.crimemap.map.jumpTo({center: [-1.08, 53.96], zoom: 13})")
    _wait_loads(page, n + 1)
    page.wait_for_function(
        "document.getElementById('live').classList.contains('on')", timeout=10_000
    )
    # A burglary in December 2024 at York Minster (inside the default window).
    lon, lat = -1.0819, 53.9623
    cell = page.evaluate(
        f"""() => {{ const m = window.crimemap.map;
                    const fs = m.queryRenderedFeatures(m.project([{lon}, {lat}]), {{layers: ['cells-fill']}});
                    return fs.length ? {{id: fs[0].properties.id, value: fs[0].properties.value}} : null; }}"""
    )
    before = cell["value"] if cell else 0
    body = {
        "incidents": [
            {
                "month": "2024-12",
                "force": "north-yorkshire",
                "longitude": lon,
                "latitude": lat,
                "category": "burglary",
                "location": "On or near Minster Yard",
            },
            {
                "month": "2024-12",
                "force": "north-yorkshire",
                "longitude": lon,
                "latitude": lat,
                "category": "burglary",
                "location": "On or near Minster Yard",
            },
        ]
    }
    req = urllib.request.Request(
        live_server.url + "/api/incidents",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin_token}"},
        method="POST",
    )
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
        cells = json.loads(r.read())["cells"]
    page.wait_for_function(
        f"""() => {{ const m = window.crimemap.map;
                    const fs = m.queryRenderedFeatures(m.project([{lon}, {lat}]), {{layers: ['cells-fill']}});
                    return fs.length && fs[0].properties.value === {before + 2}; }}""",
        timeout=5_000,
    )
    elapsed = time.monotonic() - t0
    assert page.evaluate("window.crimemap.events.length") >= 1
    assert cells[0] in page.evaluate("window.crimemap.events.at(-1).cells")
    assert "new incident" in page.locator("#live").inner_text()
    # Loose sanity bound only; the latency figure is measured in bench/bench_api.py.
    assert elapsed < 5


def test_public_view_is_disclosure_controlled(public_page) -> None:  # type: ignore[no-untyped-def]
    pg = public_page
    st = _layer_state(pg)
    assert st["layer"] == "incidents" and st["cells"] > 0
    values = pg.evaluate("window.crimemap.data.features.map(f => f.properties.value)")
    assert values and not any(1 <= v <= 4 for v in values)
    assert all(v % 5 == 0 for v in values)
    assert pg.evaluate("window.crimemap.data.meta.cell_size_m") >= 500
    assert "Public view" in pg.locator("#whoami").inner_text()
    assert pg.locator("#disclosure-note").is_visible()
    # Restricted layers cannot be chosen without signing in.
    assert pg.get_by_role("radio", name="Hot spots (Gi*)").is_disabled()
    assert pg.get_by_role("radio", name="Forecast").is_disabled()
    assert pg.console_errors == []


def test_sign_in_box_opens_a_session(public_page, admin_token) -> None:  # type: ignore[no-untyped-def]
    pg = public_page
    pg.get_by_label("API token").fill(admin_token)
    with pg.expect_navigation():
        pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_function("window.crimemap && window.crimemap.ready === true", timeout=30_000)
    assert pg.locator("#whoami").inner_text().startswith("web-admin (admin")
    assert "disclosure" not in pg.evaluate("window.crimemap.data.meta")
    # The session cookie is HttpOnly: scripts cannot read it.
    assert "crimemap_session" not in pg.evaluate("document.cookie")
    assert pg.get_by_role("radio", name="Hot spots (Gi*)").is_enabled()


def test_patrol_plan_layer_and_route_risk(page) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Patrol plan (10 areas)").check()
    page.wait_for_function("window.crimemap.plan !== null", timeout=30_000)
    plan = page.evaluate("window.crimemap.plan")
    assert len(plan["features"]) == 10 and plan["force"] == "north-yorkshire"
    page.wait_for_timeout(300)
    drawn = page.evaluate(
        "window.crimemap.map.querySourceFeatures('plan').map(f => f.properties.rank)"
    )
    assert 1 in drawn
    assert "briefing 1" in page.locator("#patrol-status").inner_text()
    # A route through York: click two points, then ask for its risk.
    page.evaluate("window.crimemap.map.jumpTo({center: [-1.08, 53.96], zoom: 13})")
    page.get_by_role("button", name="Draw a route").click()
    box = page.locator("#map").bounding_box()
    for dx in (-150, 150):
        page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
    assert page.evaluate("window.crimemap.route.length") == 2
    page.get_by_role("button", name="Risk").click()
    page.wait_for_function("window.crimemap.routeRisk !== null", timeout=20_000)
    segs = page.evaluate(
        "window.crimemap.routeRisk.features.filter(f => f.properties.kind === 'segment').length"
    )
    assert segs >= 1
    assert "expected incidents along it" in page.locator("#patrol-status").inner_text()
    assert page.console_errors == []
