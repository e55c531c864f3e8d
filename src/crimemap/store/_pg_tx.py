"""Transactions of the PostgreSQL store (see :meth:`PostgresStore.transaction`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from crimemap.errors import StoreError
from crimemap.store._sql import lock_key, to_pyformat

__all__ = ["PgTransaction"]


class PgTransaction:
    """Portable statements on one cursor inside an open PostgreSQL transaction."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgTransaction:
        try:
            # Always pass a sequence: psycopg then reads %% as a literal %.
            self._cur.execute(to_pyformat(sql), list(params or ()))
        except psycopg.Error as exc:
            raise StoreError(f"statement failed: {exc}") from exc
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cur.fetchall()

    def lock(self, name: str) -> None:
        # A transaction-scoped advisory lock: released by COMMIT or ROLLBACK,
        # shared by every process (API worker, CLI) on the same database.
        try:
            self._cur.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])
        except psycopg.Error as exc:
            raise StoreError(f"cannot take lock {name!r}: {exc}") from exc
