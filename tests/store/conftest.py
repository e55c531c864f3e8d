"""Store fixtures: every backend behind one parametrised fixture.

The PostgreSQL backend needs a server: ``scripts/pg_cluster.sh start``
starts a throw-away one and writes its URL to ``.pg_test_url``; the tests
read it from ``CRIMEMAP_TEST_PG_URL``. Without it the PostgreSQL cases skip
locally but FAIL when ``CI=true``. Each test gets a fresh store: a new
DuckDB file, or a new, uniquely named PostgreSQL schema dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crimemap.store import DuckDBStore, Store

BACKENDS = ("duckdb", "postgres")

#: Opens (or reopens) the test's store of one backend; ``name`` picks one of several.
OpenStore = Callable[..., Store]


def _unavailable(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: the PostgreSQL tests must not skip)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL database (with PostGIS)."""
    url = os.environ.get("CRIMEMAP_TEST_PG_URL", "")
    if not url:
        _unavailable(
            "CRIMEMAP_TEST_PG_URL is not set: run scripts/pg_cluster.sh start and "
            "export CRIMEMAP_TEST_PG_URL=$(cat .pg_test_url)"
        )
    try:
        import psycopg
    except ImportError as exc:
        _unavailable(f"psycopg is not installed: {exc}")
        raise
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"cannot reach the test PostgreSQL at {url}: {exc}")
    return url


def _drop_schema(url: str, schema: str) -> None:
    from psycopg import connect, sql

    with connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture()
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name in the test database, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    _drop_schema(pg_url, schema)


def _opener(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OpenStore]:
    opened: list[Store] = []
    schemas: dict[str, str] = {}
    url = request.getfixturevalue("pg_url") if backend == "postgres" else ""

    def open_(name: str = "s", *, read_only: bool = False) -> Store:
        st: Store
        if backend == "duckdb":
            st = DuckDBStore(tmp_path / f"{name}.duckdb", read_only=read_only)
        else:
            from crimemap.store.postgres import PostgresStore

            schema = schemas.setdefault(name, f"t_{uuid.uuid4().hex[:12]}")
            st = PostgresStore(url, schema=schema, read_only=read_only)
        opened.append(st)
        return st

    yield open_
    for st in opened:
        st.close()
    for schema in schemas.values():
        _drop_schema(url, schema)


@pytest.fixture(params=BACKENDS)
def open_store_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opener of fresh stores of each backend in turn (calling it again reopens)."""
    yield from _opener(request.param, tmp_path, request)


@pytest.fixture()
def store(open_store_of: OpenStore) -> Store:
    """A fresh, empty store of each backend in turn."""
    return open_store_of()


@pytest.fixture()
def both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, OpenStore]]:
    """Openers of both backends in the same test (for cross-backend comparisons)."""
    gens = {b: _opener(b, tmp_path, request) for b in BACKENDS}
    yield {b: next(g) for b, g in gens.items()}
    for g in gens.values():
        next(g, None)
