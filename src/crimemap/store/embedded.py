"""The default store: one embedded DuckDB file, no server to run.

Every batch is written in a single transaction: a failed or interrupted
ingest leaves the file exactly as before. Queries are parameterised; table
names come only from the whitelist in :mod:`crimemap.store._schema`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from crimemap.errors import NotFoundError, StoreError
from crimemap.store._renumber import from_file_id
from crimemap.store._schema import DDL, SCHEMA_VERSION, TABLES
from crimemap.store._sql import DUCKDB
from crimemap.store.base import IngestReport, Store, Transaction
from crimemap.table import INCIDENT_SCHEMA, IncidentTable

if TYPE_CHECKING:
    from crimemap.ingest.pipeline import Batch

__all__ = ["DuckDBStore"]

_INC_COLS = ", ".join(INCIDENT_SCHEMA.names)
#: Counts that belong to the batch, not to one file.
_BATCH_LEVEL = (
    "merged:",
    "dropped:cancelled_across_files",
    "dropped:cancelled_in_store",
    "unresolved:",
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class _DuckTransaction:
    """A transaction on the store's own connection (see :meth:`DuckDBStore.transaction`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _DuckTransaction:
        try:
            self._con.execute(sql, list(params) if params is not None else None)
            # Fetched at once: DuckDB refuses other work on a connection with a
            # pending result, and the store's own queries share it.
            self._rows = self._con.fetchall() if self._con.description else []
        except duckdb.Error as exc:
            raise StoreError(f"statement failed: {exc}") from exc
        self._rows.reverse()
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop() if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows[::-1], []
        return rows

    def lock(self, name: str) -> None:
        # One writer process per file, and the store's lock already runs its
        # transactions one at a time: nothing further to serialise.
        return None


class DuckDBStore(Store):
    """A crimemap store in one DuckDB file.

    DuckDB allows one read-write process per file: the store (and an API
    serving it) runs in one process, whose threads share the connection under
    a re-entrant lock.

    Parameters
    ----------
    path : str or Path
        The database file (created if missing), or ``":memory:"``.
    read_only : bool
        Open without write access (several readers may share the file).
    threads : int, optional
        DuckDB worker threads.
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, threads: int | None = None
    ) -> None:
        self.path = str(path)
        self.url = f"duckdb:///{self.path}"  # absolute paths give duckdb:////abs
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open DuckDB store {self.path}: {exc}") from exc
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        # Row order is never relied on (queries order by provenance), and
        # dropping it lets DuckDB write row groups in parallel.
        self._con.execute("SET preserve_insertion_order = false")
        self._lock = threading.RLock()
        self._tx: _DuckTransaction | None = None
        if not read_only:
            with self._lock:
                for stmt in DDL:
                    self._con.execute(stmt)
                self._con.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
                )

    dialect = DUCKDB

    # ------------------------------------------------------------- plumbing
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # One cursor per call: DuckDB connections are not safe to share
        # between threads, cursors are.
        return self._con.cursor()

    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """Run a read-only parameterised query (for the outer layers' aggregates)."""
        with self._lock:
            cur = self._cursor()
            return cur.sql(query, params=params or None).to_arrow_table()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Rows of a portable ``?``-parameterised statement (DuckDB's own placeholders)."""
        with self._lock:
            # Inside a transaction only its connection sees its writes.
            con = self._con if self._tx is not None else self._cursor()
            try:
                return con.sql(sql, params=list(params) if params else None).to_arrow_table()
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._lock:
            # In the open transaction, else on its own (DuckDB autocommits).
            (self._tx or _DuckTransaction(self._con)).execute(sql, params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            if self._tx is not None:  # re-entrant: join the open transaction
                yield self._tx
                return
            con = self._con
            try:
                con.execute("BEGIN TRANSACTION")
            except duckdb.Error as exc:
                raise StoreError(f"cannot begin a transaction: {exc}") from exc
            self._tx = tx = _DuckTransaction(con)
            try:
                yield tx
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"transaction failed and was rolled back: {exc}") from exc
                raise
            finally:
                self._tx = None

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # --------------------------------------------------------------- ingest
    def checksums(self) -> set[str]:
        with self._lock:
            rows = self._con.execute("SELECT sha256 FROM files").fetchall()
        return {r[0] for r in rows}

    def next_file_id(self) -> int:
        with self._lock:
            (m,) = self._con.execute("SELECT coalesce(max(file_id), 0) FROM files").fetchone() or (
                0,
            )
        return int(m) + 1

    def write_batch(self, batch: Batch) -> IngestReport:
        if not batch.files:
            return IngestReport(0, 0, tuple(batch.skipped), 0, 0, 0, 0)
        now = _now()
        with self._lock:
            con = self._con
            try:
                con.execute("BEGIN TRANSACTION")
                (nxt,) = con.execute(
                    "SELECT coalesce(max(file_id), 0) + 1 FROM files"
                ).fetchone() or (1,)
                batch = from_file_id(batch, int(nxt))
                (bid,) = con.execute(
                    "SELECT coalesce(max(batch_id), 0) + 1 FROM batches"
                ).fetchone() or (1,)
                inserted, updated = self._write_incidents(con, batch.incidents, now)
                cancelled = self._apply_cancels(con, batch.cancels)
                if batch.cancels:
                    batch.counts["dropped:cancelled_in_store"] += cancelled
                    batch.counts["unresolved:cancel_target_not_found"] += (
                        len(batch.cancels) - cancelled
                    )
                n_out, out_updates = self._write_outcomes(con, batch.outcomes, now)
                updated += out_updates
                if batch.stop_search.num_rows:
                    batch_ss = batch.stop_search  # noqa: F841  (referenced by name in SQL)
                    con.execute("INSERT INTO stop_search SELECT * FROM batch_ss")
                # Python names referenced from SQL must not shadow table names.
                batch_files = pa.Table.from_pylist(  # noqa: F841
                    [
                        {
                            "file_id": f.file_id,
                            "batch_id": bid,
                            "path": f.path,
                            "sha256": f.sha256,
                            "size": f.size,
                            "reader": f.reader,
                            "target": f.target,
                            "source": f.source,
                            "rows_read": f.rows_read,
                            "rows_loaded": f.rows_loaded,
                            "rows_rejected": f.rows_rejected,
                            "ingested_at": now,
                        }
                        for f in batch.files
                    ]
                )
                con.execute("INSERT INTO files SELECT * FROM batch_files")
                batch_counts = pa.Table.from_pylist(
                    [
                        {"batch_id": bid, "file_id": f.file_id, "reason": k, "n": v}
                        for f in batch.files
                        for k, v in sorted(f.counts.items())
                    ]
                    + [
                        {"batch_id": bid, "file_id": None, "reason": k, "n": v}
                        for k, v in sorted(batch.counts.items())
                        if k.startswith(_BATCH_LEVEL) and v
                    ],
                    schema=pa.schema(
                        [
                            ("batch_id", pa.int64()),
                            ("file_id", pa.int64()),
                            ("reason", pa.string()),
                            ("n", pa.int64()),
                        ]
                    ),
                )
                if batch_counts.num_rows:
                    con.execute("INSERT INTO ingest_counts SELECT * FROM batch_counts")
                if batch.rejects:
                    batch_rej = pa.Table.from_pylist(  # noqa: F841
                        [
                            {
                                "batch_id": bid,
                                "file": i.file,
                                "row_no": i.row,
                                "column": i.column,
                                "value": None if i.value is None else i.value[:500],
                                "reason": i.reason,
                                "detail": i.detail,
                            }
                            for i in batch.rejects
                        ]
                    )
                    con.execute("INSERT INTO rejects SELECT * FROM batch_rej")
                con.execute(
                    "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        bid,
                        now,
                        _now(),
                        batch.policy,
                        len(batch.files),
                        batch.rows_read,
                        inserted,
                        updated,
                        len(batch.rejects),
                    ],
                )
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"ingest failed and was rolled back: {exc}") from exc
                raise
        return IngestReport(
            batch_id=int(bid),
            files=len(batch.files),
            skipped=tuple(batch.skipped),
            rows_read=batch.rows_read,
            rows_inserted=inserted,
            rows_updated=updated,
            rows_rejected=len(batch.rejects),
            outcomes=n_out,
            stop_search=batch.stop_search.num_rows,
            counts={k: v for k, v in sorted(batch.counts.items()) if v},
            file_ids=tuple(f.file_id for f in batch.files),
        )

    @staticmethod
    def _write_incidents(
        con: duckdb.DuckDBPyConnection, inc: pa.Table, now: datetime
    ) -> tuple[int, int]:
        if inc.num_rows == 0:
            return 0, 0
        (existing,) = con.execute("SELECT count(*) FROM incidents").fetchone() or (0,)
        batch_inc = inc  # noqa: F841  (referenced by name in SQL)
        if existing == 0:
            con.execute(
                f"INSERT INTO incidents SELECT {_INC_COLS}, ?::TIMESTAMP, NULL FROM batch_inc",  # noqa: S608 (constant columns)
                [now],
            )
            return inc.num_rows, 0
        # A crime id seen again updates the stored outcome instead of adding a row.
        (updated,) = con.execute(
            """SELECT count(*) FROM batch_inc b JOIN incidents i USING (incident_id)
               WHERE b.outcome IS NOT NULL AND b.outcome IS DISTINCT FROM i.outcome"""
        ).fetchone() or (0,)
        con.execute(
            """UPDATE incidents SET outcome = b.outcome, updated_at = ?::TIMESTAMP
               FROM batch_inc b WHERE incidents.incident_id = b.incident_id
               AND b.outcome IS NOT NULL AND b.outcome IS DISTINCT FROM incidents.outcome""",
            [now],
        )
        before = existing
        con.execute(
            f"""INSERT INTO incidents SELECT {_INC_COLS}, ?::TIMESTAMP, NULL
                FROM batch_inc b WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.incident_id = b.incident_id)""",  # noqa: S608 (constant columns)
            [now],
        )
        (after,) = con.execute("SELECT count(*) FROM incidents").fetchone() or (0,)
        return int(after - before), int(updated)

    @staticmethod
    def _apply_cancels(con: duckdb.DuckDBPyConnection, cancels: list[str]) -> int:
        """Delete one stored incident per cancelled id (the copy with the highest ``~k``)."""
        if not cancels:
            return 0
        (before,) = con.execute("SELECT count(*) FROM incidents").fetchone() or (0,)
        con.execute(
            r"""
            WITH c AS (SELECT id, count(*) AS n FROM (SELECT unnest(?::VARCHAR[]) AS id) GROUP BY id),
            cand AS (
                SELECT rowid AS rid, regexp_replace(incident_id, '~\d+$', '') AS base,
                       coalesce(try_cast(regexp_extract(incident_id, '~(\d+)$', 1) AS INTEGER), 0) AS k
                FROM incidents
                WHERE regexp_replace(incident_id, '~\d+$', '') IN (SELECT id FROM c)),
            ranked AS (
                SELECT rid, base, row_number() OVER (PARTITION BY base ORDER BY k DESC) AS r FROM cand)
            DELETE FROM incidents WHERE rowid IN (
                SELECT rid FROM ranked JOIN c ON ranked.base = c.id WHERE ranked.r <= c.n)
            """,
            [list(cancels)],
        )
        (after,) = con.execute("SELECT count(*) FROM incidents").fetchone() or (0,)
        return int(before - after)

    @staticmethod
    def _write_outcomes(
        con: duckdb.DuckDBPyConnection, out: pa.Table, now: datetime
    ) -> tuple[int, int]:
        if out.num_rows == 0:
            return 0, 0
        batch_out = out  # noqa: F841
        con.execute("INSERT INTO outcomes SELECT * FROM batch_out")
        # The latest outcome (by outcome month) becomes the crime's outcome.
        # Ties (two outcomes in the latest month) go to the first row in file order,
        # exactly as the PostgreSQL store does.
        latest = """SELECT crime_id,
                           first(outcome ORDER BY month DESC NULLS LAST, file_id, row_no) AS outcome
                    FROM batch_out
                    WHERE outcome IS NOT NULL GROUP BY crime_id"""
        (n,) = con.execute(
            f"""SELECT count(*) FROM incidents i JOIN ({latest}) o ON i.incident_id = o.crime_id
                WHERE i.outcome IS DISTINCT FROM o.outcome"""  # noqa: S608 (constant subquery)
        ).fetchone() or (0,)
        con.execute(
            f"""UPDATE incidents SET outcome = o.outcome, updated_at = ?::TIMESTAMP
                FROM ({latest}) o WHERE incidents.incident_id = o.crime_id
                AND incidents.outcome IS DISTINCT FROM o.outcome""",  # noqa: S608 (constant subquery)
            [now],
        )
        return out.num_rows, int(n)

    # -------------------------------------------------------------- queries
    def incidents(
        self,
        *,
        forces: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
        sources: Iterable[str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> IncidentTable:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if forces is not None:
            where.append("list_contains(?, force)")
            params.append(sorted(set(forces)))
        if categories is not None:
            where.append("list_contains(?, category)")
            params.append(sorted(set(categories)))
        if sources is not None:
            where.append("list_contains(?, source)")
            params.append(sorted(set(sources)))
        if start is not None:
            where.append("t_start >= ?::TIMESTAMP")
            params.append(str(np.datetime64(start, "s")))
        if end is not None:
            where.append("t_start < ?::TIMESTAMP")
            params.append(str(np.datetime64(end, "s")))
        if bbox is not None:
            where.append("x >= ? AND y >= ? AND x < ? AND y < ?")
            params.extend(float(v) for v in bbox)
        q = f"SELECT {_INC_COLS} FROM incidents WHERE {' AND '.join(where)} ORDER BY file_id, row_no"  # noqa: S608 (constant clauses; values are parameters)
        return IncidentTable(self.sql(q, params))

    def table(self, name: str) -> pa.Table:
        if name not in TABLES:
            raise NotFoundError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return self.sql(f"SELECT * FROM {name}")  # noqa: S608 (whitelisted table name)

    def forces(self) -> list[str]:
        return [
            r[0]
            for r in self.sql("SELECT DISTINCT force FROM incidents ORDER BY 1").to_pylist()
            for r in [tuple(r.values())]
        ]
