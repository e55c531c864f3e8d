"""Fixtures for the browser tests: a live uvicorn server and headless Debian Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests._live import LiveServer

from crimemap.api import create_app, static_dir
from crimemap.ingest import ingest
from crimemap.safeguards import add_user
from crimemap.settings import Settings
from crimemap.store import Store

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CRIMEMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
FORCE = "north-yorkshire"
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
OUTPUT = REPO / "test-output"


def _need(ok: bool, msg: str) -> None:
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: browser tests must not skip)")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def vendor() -> Path:
    """MapLibre GL JS, copied from npm by scripts/build_web.sh (part of the set-up)."""
    v = static_dir() / "vendor" / "maplibre-gl.js"
    _need(v.exists(), f"{v} missing: run scripts/build_web.sh")
    return v.parent


@pytest.fixture(scope="session")
def web_store(police_uk: Path, open_session_store_of: Any) -> Store:
    """Twelve months of North Yorkshire on each backend; the live tests add incidents to it."""
    st = open_session_store_of("web")
    ingest(st, [police_uk / m / f"{m}-{FORCE}-street.csv.gz" for m in MONTHS])
    return st


@pytest.fixture(scope="session")
def admin_token(web_store: Store) -> str:
    """API token of an admin of the web store."""
    return add_user(web_store, "web-admin", "admin")[1]


@pytest.fixture(scope="session")
def web_lsoa(lsoa_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LSOA boundaries of North Yorkshire's districts (outlines and the LSOA layer)."""
    from crimemap.spatial.lsoa import FORCE_LADS

    d = tmp_path_factory.mktemp("web-lsoa")
    for lad in FORCE_LADS[FORCE]:
        (d / f"{lad}.json").symlink_to(lsoa_dir / f"{lad}.json")
    return d


@pytest.fixture(scope="session")
def live_server(
    web_store: Store,
    vendor: Path,
    web_lsoa: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    settings = Settings(
        # A DuckDB path or the PostgreSQL URL (the app is handed the open store itself).
        store=str(getattr(web_store, "path", None) or getattr(web_store, "url", "")),
        lsoa_geojson_dir=web_lsoa,
        out_dir=tmp_path_factory.mktemp("web-out"),
        forecast_model="ewm",
        forecast_cell_m=500.0,
        # Plain HTTP on 127.0.0.1, and a map that fires many requests at once.
        cookie_secure=False,
        rate_limit_per_s=10_000.0,
        rate_burst=10_000,
    )
    with LiveServer(create_app(settings, store=web_store)) as srv:
        yield srv


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _need(Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed")
        raise
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_page(browser: object, live_server: LiveServer, token: str | None) -> tuple[object, object]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    if token is not None:
        # Sign in as the map does (POST /api/session): the cookie lands in this context.
        r = ctx.request.post(
            live_server.url + "/api/session", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.ok, r.text()
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors
    pg.goto(live_server.url + "/")
    pg.wait_for_function("window.crimemap && window.crimemap.ready === true", timeout=30_000)
    return ctx, pg


@pytest.fixture(scope="session")
def opener() -> object:
    """``opener(browser, server, token)``: a new context and a loaded map page (for other servers)."""
    return open_page


@pytest.fixture()
def page(browser: object, live_server: LiveServer, admin_token: str) -> Iterator[object]:
    """A fresh page on the map signed in as an admin, console errors in ``page.console_errors``."""
    ctx, pg = open_page(browser, live_server, admin_token)
    yield pg
    ctx.close()  # type: ignore[attr-defined]


@pytest.fixture()
def public_page(browser: object, live_server: LiveServer) -> Iterator[object]:
    """A fresh page on the map without sign-in (the public view)."""
    ctx, pg = open_page(browser, live_server, None)
    yield pg
    ctx.close()  # type: ignore[attr-defined]
