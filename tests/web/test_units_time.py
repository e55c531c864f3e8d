"""The map's unit switcher (grid / H3 hexagons / LSOAs) and its day/hour time slider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._live import LiveServer

from crimemap.api import create_app
from crimemap.ingest import ingest
from crimemap.safeguards import add_user
from crimemap.settings import Settings
from crimemap.store.embedded import DuckDBStore
from crimemap.taxonomy import crime_set

pytestmark = pytest.mark.browser


def _state(page) -> dict:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """() => { const s = window.crimemap;
                   return { meta: s.data.meta, ids: s.data.features.map(f => f.properties.id),
                            total: s.data.features.reduce((a, f) => a + f.properties.value, 0),
                            loads: s.loads, legend: document.getElementById('legend').innerText }; }"""
    )


def _wait_loads(page, n: int) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"window.crimemap.loads >= {n}", timeout=20_000)


def test_unit_switcher_draws_hexagons_and_lsoas(page) -> None:  # type: ignore[no-untyped-def]
    # police.uk data is month-only: the slider stays monthly, no hour filter.
    assert page.locator("#time-label").inner_text() == "Month"
    assert page.locator("#hours-block").is_hidden()
    n = page.evaluate("window.crimemap.loads")
    page.evaluate("window.crimemap.map.jumpTo({center: [-1.08, 53.96], zoom: 13})")
    _wait_loads(page, n + 1)
    page.get_by_role("radio", name="Hexagons (H3)").check()
    _wait_loads(page, n + 2)
    st = _state(page)
    assert st["meta"]["unit_kind"] == "h3" and st["ids"]
    assert all(i.startswith("h3:") for i in st["ids"])
    assert "per hexagon" in st["legend"] and "H3 hexagons, resolution" in st["legend"]
    drawn = page.evaluate(
        "window.crimemap.map.queryRenderedFeatures({layers: ['cells-fill']}).map(f => f.properties.id)"
    )
    assert drawn and all(i.startswith("h3:") for i in drawn)
    # Keyboard: focus the LSOA radio and select it with Space.
    page.get_by_role("radio", name="LSOAs").focus()
    page.keyboard.press("Space")
    _wait_loads(page, n + 3)
    st = _state(page)
    assert st["meta"]["unit_kind"] == "lsoa" and all(i.startswith("lsoa:") for i in st["ids"])
    assert "per LSOA" in st["legend"]
    # The LSOA at the map centre explains itself: its counts over time add up to its value.
    centre = page.evaluate(
        """() => { const m = window.crimemap.map;
                   const f = m.queryRenderedFeatures(m.project(m.getCenter()), {layers: ['cells-fill']})[0];
                   return {id: f.properties.id, value: f.properties.value}; }"""
    )
    page.get_by_role("button", name="Explain the cell at the map centre").click()
    page.wait_for_selector("#panel-total", timeout=20_000)
    assert page.locator("#panel-title").inner_text() == f"LSOA {centre['id'][5:]}"
    shown = float(page.locator("#panel-total").inner_text().replace(",", ""))
    assert shown == centre["value"] > 0
    page.keyboard.press("Escape")
    # The statistics layers are computed on grid cells: the unit radios step aside.
    page.get_by_role("radio", name="Hot spots (Gi*)").check()
    page.wait_for_function("window.crimemap.data.meta.layer === 'hotspots'", timeout=20_000)
    st = _state(page)
    assert st["meta"]["layer"] == "hotspots" and st["ids"][0].startswith("g")
    assert page.get_by_role("radio", name="LSOAs").is_disabled()
    assert page.console_errors == []


def test_public_map_offers_grid_cells_only(public_page) -> None:  # type: ignore[no-untyped-def]
    assert public_page.get_by_role("radio", name="Grid cells").is_checked()
    assert public_page.get_by_role("radio", name="Hexagons (H3)").is_disabled()
    assert public_page.get_by_role("radio", name="LSOAs").is_disabled()


STL_MONTHS = ["january", "february", "march"]


@pytest.fixture(scope="module")
def stl_server(
    stl_dir: Path, vendor: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, DuckDBStore, str]]:
    """St. Louis January-March 2019 (times to the minute) behind a live server."""
    st = DuckDBStore(tmp_path_factory.mktemp("web-stl") / "stl.duckdb")
    raw = stl_dir / "data" / "raw" / "2019"
    ingest(
        st,
        [raw / f"{m}2019.csv.gz" for m in STL_MONTHS],
        reader="partner",
        reader_options={"mapping": "stl-slmpd"},
        policy="quarantine",
    )
    token = add_user(st, "stl-admin", "admin")[1]
    settings = Settings(
        store=st.path,
        out_dir=tmp_path_factory.mktemp("web-stl-out"),
        forecast_on_start=False,
        cookie_secure=False,
        rate_limit_per_s=10_000.0,
        rate_burst=10_000,
    )
    with LiveServer(create_app(settings, store=st)) as srv:
        yield srv, st, token
    st.close()


def _sql(store: DuckDBStore, start: str, end: str, bbox: list[float], hours: str = "") -> int:
    extra = ""
    if hours:
        a, b = (int(v) for v in hours.split("-"))
        extra = f"AND t_precision = 'minute' AND extract(hour FROM t_start) BETWEEN {a} AND {b}"
    row = store.sql(
        "SELECT count(*) AS n FROM incidents WHERE x IS NOT NULL AND list_contains(?, category) "
        "AND t_start >= ?::TIMESTAMP AND t_start < ?::TIMESTAMP + INTERVAL 1 DAY "
        f"AND lon BETWEEN ? AND ? AND lat BETWEEN ? AND ? {extra}",
        [sorted(crime_set("all-crime")), start, end, bbox[0], bbox[2], bbox[1], bbox[3]],
    ).to_pylist()[0]
    return int(row["n"])


def test_day_slider_and_hour_filter_for_exact_times(browser, opener, stl_server) -> None:  # type: ignore[no-untyped-def]
    srv, store, token = stl_server
    ctx, page = opener(browser, srv, token)
    try:
        urls: list[str] = []
        page.on("request", lambda r: urls.append(r.url) if "/api/layers/" in r.url else None)
        assert page.locator("#time-label").inner_text() == "Day"
        assert page.locator("#month-out").inner_text() == "2019-03-31"
        assert page.locator("#hours-block").is_visible()
        assert page.locator("#window").input_value() == "7"
        st = _state(page)
        assert st["meta"]["time_resolution"] == "day"
        # Keyboard: three days back with the arrow key.
        n = st["loads"]
        page.locator("#month").focus()
        for _ in range(3):
            page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            f"window.crimemap.loads > {n} && window.crimemap.dayIdx === window.crimemap.days.length - 4"
            " && window.crimemap.data.meta.cells >= 0",
            timeout=20_000,
        )
        page.wait_for_timeout(400)  # the slider's debounce: the last load is the one kept
        assert page.locator("#month-out").inner_text() == "2019-03-28"
        assert any("start=2019-03-22" in u and "end=2019-03-28" in u for u in urls)
        bbox = page.evaluate(
            "(() => { const b = window.crimemap.map.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"
        )
        st = _state(page)
        want = _sql(store, "2019-03-22", "2019-03-28", bbox)
        # Cells meeting the view's edge can hold a few incidents just outside it.
        assert want > 0 and want <= st["total"] <= want * 1.1
        n = st["loads"]
        page.locator("#hours").select_option("18-23")
        page.wait_for_function(f"window.crimemap.loads > {n}", timeout=20_000)
        st = _state(page)
        assert st["meta"]["time_resolution"] == "hour" and "hours 18-23" in st["legend"]
        assert any("hours=18-23" in u for u in urls)
        want_h = _sql(store, "2019-03-22", "2019-03-28", bbox, "18-23")
        assert 0 < want_h <= st["total"] <= want_h * 1.1 and st["total"] < want
        assert page.console_errors == []
    finally:
        ctx.close()
