"""Stores: the embedded DuckDB store (default) or PostgreSQL + PostGIS, one interface."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from crimemap.errors import InputError, StoreError
from crimemap.store._sql import Dialect
from crimemap.store.base import Channel, IngestReport, Store, StoreStatus, Transaction
from crimemap.store.embedded import DuckDBStore

if TYPE_CHECKING:
    from crimemap.store.postgres import PostgresStore

__all__ = [
    "DEFAULT_STORE",
    "Channel",
    "Dialect",
    "DuckDBStore",
    "IngestReport",
    "PostgresStore",
    "Store",
    "StoreStatus",
    "Transaction",
    "open_store",
]

#: Store used when none is given: a DuckDB file in the working directory.
DEFAULT_STORE = "crimemap.duckdb"


def open_store(url: str | Path | None = None, *, read_only: bool = False) -> Store:
    """Open a store by URL or path.

    ``None`` opens :data:`DEFAULT_STORE`; ``duckdb:///relative/file.duckdb``,
    ``duckdb:////absolute/file.duckdb`` or a plain path opens an embedded
    DuckDB store (``duckdb://`` alone is in memory); ``postgresql://...``
    (or ``postgres://``) opens a :class:`PostgresStore` (PostgreSQL + PostGIS).
    """
    if url is None:
        url = DEFAULT_STORE
    s = str(url)
    if s.startswith("duckdb://"):
        # SQLAlchemy convention: duckdb:///relative.duckdb, duckdb:////abs/path.duckdb
        rest = s[len("duckdb://") :]
        path = rest[1:] if rest.startswith("/") else rest
        return DuckDBStore(path or ":memory:", read_only=read_only)
    if s.startswith(("postgresql://", "postgres://")):
        try:
            from crimemap.store.postgres import PostgresStore
        except ImportError as exc:  # psycopg is needed only for this backend
            raise StoreError(
                f"the PostgreSQL store needs psycopg (pip install 'psycopg[binary]'): {exc}"
            ) from exc
        return PostgresStore(s, read_only=read_only)
    if "://" in s:
        raise InputError(f"unknown store URL scheme in {s!r}; use duckdb:///path or a file path")
    return DuckDBStore(s, read_only=read_only)


def __getattr__(name: str) -> Any:
    # Imported on first use: psycopg is needed only by the PostgreSQL backend.
    if name == "PostgresStore":
        from crimemap.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
