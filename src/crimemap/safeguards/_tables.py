"""Tables owned by the safeguards (users, tokens, audit log, annotations).

They live in the same DuckDB file as the incidents and are created on first
use with ``CREATE TABLE IF NOT EXISTS``; every statement that touches them is
parameterised. Only hashes of API tokens are ever stored.
"""

from __future__ import annotations

import threading
from typing import Any

from crimemap.errors import StoreError

__all__ = ["SAFEGUARD_TABLES", "ensure_tables", "connection", "lock"]

#: The tables created here (a whitelist for scans and exports).
SAFEGUARD_TABLES = ("users", "tokens", "audit_log", "annotations")

_DDL = [
    """CREATE TABLE IF NOT EXISTS users (
        name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, forces VARCHAR[] NOT NULL,
        created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS tokens (
        token_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL, action VARCHAR NOT NULL, force VARCHAR, area VARCHAR,
        n_rows BIGINT, detail VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS annotations (
        annotation_id BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, user_name VARCHAR NOT NULL,
        unit_id VARCHAR NOT NULL, action VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        audit_seq BIGINT NOT NULL)""",
]


def connection(store: Any) -> Any:
    """The DuckDB connection of an embedded store (``store._con``).

    Raises
    ------
    crimemap.errors.StoreError
        If the store has no DuckDB connection (e.g. a future server backend).
    """
    con = getattr(store, "_con", None)
    if con is None:
        raise StoreError("the safeguards need the embedded DuckDB store")
    return con


_FALLBACK_LOCK = threading.RLock()


def lock(store: Any) -> Any:
    """The store's re-entrant lock (one writer at a time on the connection)."""
    return getattr(store, "_lock", _FALLBACK_LOCK)


def ensure_tables(store: Any) -> None:
    """Create the safeguard tables if they do not exist (idempotent)."""
    con = connection(store)
    with lock(store):
        for stmt in _DDL:
            con.execute(stmt)
