"""Stores of every backend for the tests: a DuckDB file, or a PostgreSQL schema of its own.

The PostgreSQL backend needs a server: ``scripts/pg_cluster.sh start``
starts a throw-away one and writes its URL to ``.pg_test_url``; the tests
read it from ``CRIMEMAP_TEST_PG_URL``. Without it the PostgreSQL cases skip
locally but FAIL when ``CI=true``. Every store opened here lives in a new,
uniquely named schema (dropped afterwards), so tests never see each other's
rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crimemap.store import DuckDBStore, Store

__all__ = ["BACKENDS", "OpenStore", "drop_schema", "new_schema", "opener", "pg_test_url"]

BACKENDS = ("duckdb", "postgres")

#: Opens (or reopens) a test's store of one backend; ``name`` picks one of several.
OpenStore = Callable[..., Store]


def unavailable(msg: str) -> None:
    """Skip locally, fail on CI (the PostgreSQL tests must run there)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " (CI=true: the PostgreSQL tests must not skip)")
    pytest.skip(msg)


def pg_test_url() -> str:
    """URL of the test PostgreSQL database (with PostGIS), checked to answer."""
    url = os.environ.get("CRIMEMAP_TEST_PG_URL", "")
    if not url:
        unavailable(
            "CRIMEMAP_TEST_PG_URL is not set: run scripts/pg_cluster.sh start and "
            "export CRIMEMAP_TEST_PG_URL=$(cat .pg_test_url)"
        )
    try:
        import psycopg
    except ImportError as exc:
        unavailable(f"psycopg is not installed: {exc}")
        raise
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        unavailable(f"cannot reach the test PostgreSQL at {url}: {exc}")
    return url


def new_schema() -> str:
    """A fresh schema name."""
    return f"t_{uuid.uuid4().hex[:12]}"


def drop_schema(url: str, schema: str) -> None:
    from psycopg import connect, sql

    with connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def schema_url(url: str, schema: str) -> str:
    """``url`` with the search path set to ``schema`` then ``public`` (for other processes)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}%2Cpublic"


def opener(backend: str, folder: Path, pg_url: str | None) -> Iterator[OpenStore]:
    """Yield an opener of stores of ``backend``; closes them (and drops schemas) afterwards."""
    opened: list[Store] = []
    schemas: dict[str, str] = {}

    def open_(name: str = "s", *, read_only: bool = False) -> Store:
        st: Store
        if backend == "duckdb":
            st = DuckDBStore(folder / f"{name}.duckdb", read_only=read_only)
        else:
            from crimemap.store.postgres import PostgresStore

            assert pg_url
            schema = schemas.setdefault(name, new_schema())
            st = PostgresStore(pg_url, schema=schema, read_only=read_only)
        opened.append(st)
        return st

    yield open_
    for st in opened:
        st.close()
    for schema in schemas.values():
        assert pg_url
        drop_schema(pg_url, schema)
