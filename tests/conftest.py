"""Shared fixtures.

Tests that need the real public data in ``../shared/data`` use the
``shared_data`` fixture: it skips locally when the data is absent but FAILS
when ``CI=true``, so CI can never pass silently without the real data.
Stores of both backends (DuckDB, PostgreSQL) come from ``open_store_of``
and ``open_session_store_of``, with the same policy for the PostgreSQL
server (``CRIMEMAP_TEST_PG_URL``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRIMEMAP_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if not path.exists():
        msg = f"real data not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: tests on real data must not skip)")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared real data (``../shared/data``)."""
    return _require(SHARED)


@pytest.fixture(scope="session")
def police_uk(shared_data: Path) -> Path:
    """The data.police.uk folder tree."""
    return _require(shared_data / "police-uk")


@pytest.fixture(scope="session")
def stl_dir(shared_data: Path) -> Path:
    return _require(shared_data / "stl-slmpd")


@pytest.fixture(scope="session")
def portland_dir(shared_data: Path) -> Path:
    return _require(shared_data / "nij-portland")


@pytest.fixture(scope="session")
def lsoa_dir(shared_data: Path) -> Path:
    return _require(shared_data / "uk-geojson" / "json" / "statistical" / "eng" / "lsoa_by_lad")


@pytest.fixture(scope="session")
def imd_dir(shared_data: Path) -> Path:
    return _require(shared_data / "imd-2019")


# ----------------------------------------------------------------- stores
# Every test that needs a store takes one of these, parametrised over the
# backends (see tests/_backends.py); the PostgreSQL cases need
# CRIMEMAP_TEST_PG_URL (skip locally, FAIL when CI=true).


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL database (with PostGIS)."""
    from tests._backends import pg_test_url

    return pg_test_url()


@pytest.fixture()
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name in the test database, dropped after the test."""
    from tests._backends import drop_schema, new_schema

    schema = new_schema()
    yield schema
    drop_schema(pg_url, schema)


def _pg_url_for(backend: str, request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("pg_url")) if backend == "postgres" else None


@pytest.fixture(params=["duckdb", "postgres"])
def open_store_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Opener of fresh stores of each backend in turn (calling it again reopens)."""
    from tests._backends import opener

    yield from opener(request.param, tmp_path, _pg_url_for(request.param, request))


@pytest.fixture(scope="session", params=["duckdb", "postgres"])
def open_session_store_of(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Like ``open_store_of`` for stores built once per session (read-mostly fixtures)."""
    from tests._backends import opener

    folder = tmp_path_factory.mktemp(f"stores-{request.param}")
    yield from opener(request.param, folder, _pg_url_for(request.param, request))


@pytest.fixture()
def store_url(open_store_of: Any, request: pytest.FixtureRequest) -> str:
    """``--store`` value of a fresh store of each backend, as a user passes it to the CLI.

    A DuckDB file path, or a PostgreSQL URL whose search path is the store's own
    schema (created by ``open_store_of``, dropped afterwards); the command line
    then opens it by URL like any other process would.
    """
    from crimemap.store import DuckDBStore
    from tests._backends import schema_url

    st = open_store_of("cli")
    if isinstance(st, DuckDBStore):
        st.close()  # the CLI opens the file itself
        return str(st.path)
    from crimemap.store.postgres import PostgresStore

    assert isinstance(st, PostgresStore) and st.schema
    return schema_url(str(request.getfixturevalue("pg_url")), st.schema)
