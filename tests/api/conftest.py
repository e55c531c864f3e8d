"""Fixtures for the API tests: stores built from real police.uk extracts, apps, a live server.

Every store fixture is parametrised over the backends (DuckDB, PostgreSQL;
see ``tests/conftest.py``), so every API test runs on both. The read-mostly
twelve-month store is built once per session and backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests._live import LiveServer

from crimemap.api import create_app
from crimemap.ingest import ingest
from crimemap.safeguards import add_user
from crimemap.settings import Settings
from crimemap.store import Store

FORCE = "north-yorkshire"
#: Twelve months: enough for the emerging hot spot analysis (>= 10 periods).
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def street_file(police_uk: Path, month: str, force: str = FORCE) -> Path:
    return police_uk / month / f"{month}-{force}-street.csv.gz"


def make_settings(tmp: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "store": str(tmp / "unused.duckdb"),
        "out_dir": tmp / "out",
        "forecast_model": "ewm",  # fast; the model itself is tested in tests/forecast
        "forecast_cell_m": 500.0,
        # Tests make many requests at once; the limiter has its own tests.
        "rate_limit_per_s": 10_000.0,
        "rate_burst": 10_000,
        "cookie_secure": False,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


_USERS = itertools.count()


def bearer(store: Store, role: str = "admin", forces: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers of a new user of ``role`` (a fresh name each call) on ``store``."""
    _, token = add_user(store, f"test-{role}-{next(_USERS)}", role, forces)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def auth() -> object:
    """``auth(store, role="admin", forces=())``: Authorization headers of a new user."""
    return bearer


@pytest.fixture(scope="session")
def settings_for() -> object:
    """``settings_for(tmp, **overrides)``: test settings (fast forecast model)."""
    return make_settings


@pytest.fixture(scope="session")
def ny_store(police_uk: Path, open_session_store_of: Callable[..., Store]) -> Store:
    """A read-mostly store: twelve months of North Yorkshire (tests must not write to it)."""
    st = open_session_store_of("ny")
    ingest(st, [street_file(police_uk, m) for m in MONTHS])
    return st


@pytest.fixture(scope="session")
def client(ny_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An admin's client on the twelve-month store."""
    app = create_app(make_settings(tmp_path_factory.mktemp("api-out")), store=ny_store)
    with TestClient(app, headers=bearer(ny_store)) as c:
        yield c


@pytest.fixture()
def write_store(police_uk: Path, open_store_of: Callable[..., Store]) -> Store:
    """A small store of its own for tests that write (two months)."""
    st = open_store_of("w")
    ingest(st, [street_file(police_uk, m) for m in MONTHS[:2]])
    return st


@pytest.fixture()
def write_client(write_store: Store, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path, forecast_on_start=False), store=write_store)
    with TestClient(app, headers=bearer(write_store)) as c:
        yield c


@pytest.fixture(scope="session")
def live() -> type[LiveServer]:
    """The :class:`LiveServer` context manager (``with live(app) as srv: srv.url``)."""
    return LiveServer
