"""Stores: the embedded DuckDB store (default) behind one small interface."""

from __future__ import annotations

from pathlib import Path

from crimemap.errors import InputError, StoreError
from crimemap.store.base import IngestReport, Store, StoreStatus
from crimemap.store.embedded import DuckDBStore

__all__ = ["DEFAULT_STORE", "DuckDBStore", "IngestReport", "Store", "StoreStatus", "open_store"]

#: Store used when none is given: a DuckDB file in the working directory.
DEFAULT_STORE = "crimemap.duckdb"


def open_store(url: str | Path | None = None, *, read_only: bool = False) -> Store:
    """Open a store by URL or path.

    ``None`` opens :data:`DEFAULT_STORE`; ``duckdb:///relative/file.duckdb``,
    ``duckdb:////absolute/file.duckdb`` or a plain path opens an embedded
    DuckDB store (``duckdb://`` alone is in memory); ``postgresql://...`` is
    reserved for the server backend.
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
        raise StoreError("the PostgreSQL/PostGIS store is not available in this version")
    if "://" in s:
        raise InputError(f"unknown store URL scheme in {s!r}; use duckdb:///path or a file path")
    return DuckDBStore(s, read_only=read_only)
