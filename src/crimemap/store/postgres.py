"""The server store: PostgreSQL + PostGIS behind the same interface as DuckDB.

Same tables, same validation (done upstream by the pipeline), same errors
and the same idempotence as :class:`~crimemap.store.embedded.DuckDBStore`:
every batch is written in one transaction (a failure or an interruption
leaves the database as before), files already stored are skipped by
checksum, a crime id seen again updates the stored outcome, outcomes files
set the latest outcome, cancellations delete the highest ``~k`` copy.

Rows are bulk loaded with ``COPY ... FROM STDIN`` (into the table itself
when it is empty, otherwise into a temporary table followed by an
``UPDATE`` and an ``INSERT ... ON CONFLICT DO NOTHING``). Incidents carry a
PostGIS point (``geom``, generated from ``x``/``y`` in the row's ``crs``)
with a GiST index that the bounding-box filter uses; btree indexes serve
``(force, t_start)`` and ``incident_id`` (unique). The schema is versioned
(:mod:`crimemap.store._pg_migrations`); opening a store upgrades it.

Queries are parameterised; table names come only from the whitelist in
:mod:`crimemap.store._schema`. The portable surface (:meth:`query`,
:meth:`execute`, :meth:`transaction`) takes ``?`` placeholders, rewritten
for psycopg by :func:`crimemap.store._sql.to_pyformat`; SQL passed to
:meth:`PostgresStore.sql` is PostgreSQL's own, with ``%s`` placeholders.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql as psql

from crimemap.errors import NotFoundError, StoreError
from crimemap.store._pg_arrow import arrow_schema, copy_in, copy_out, cursor_to_arrow
from crimemap.store._pg_load import (
    indexes_rebuilt,
    rebuild_pays,
    rows_estimate,
    write_provenance,
)
from crimemap.store._pg_migrations import LOCK_KEY, current_version, latest_version, migrate
from crimemap.store._pg_notify import PgChannel
from crimemap.store._pg_tx import PgTransaction
from crimemap.store._renumber import from_file_id
from crimemap.store._schema import TABLES
from crimemap.store._sql import POSTGRES, to_pyformat
from crimemap.store.base import IngestReport, Store, Transaction
from crimemap.table import INCIDENT_SCHEMA, IncidentTable

if TYPE_CHECKING:
    from crimemap.ingest.pipeline import Batch

__all__ = ["PostgresStore"]

_INC = list(INCIDENT_SCHEMA.names)
_INC_COLS = ", ".join(_INC)
#: Columns of ``table('incidents')``: the DuckDB store's (the PostGIS point stays in SQL).
_INC_TABLE_COLS = _INC_COLS + ", ingested_at, updated_at"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _mask(url: str) -> str:
    """The URL without its password (safe to print or log)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class PostgresStore(Store):
    """A crimemap store in a PostgreSQL database with PostGIS.

    Parameters
    ----------
    url : str
        libpq connection URL, e.g. ``postgresql://user@host:5432/crimemap``
        (``?options=-csearch_path%3Dcrimemap`` selects a schema too).
    read_only : bool
        Refuse writes (the session is read-only); the schema must already be
        at the latest version.
    schema : str, optional
        Schema to keep the tables in (created if missing); by default the
        first schema of the role's ``search_path`` (usually ``public``).
    connect_timeout : int
        Seconds to wait for the server.

    Raises
    ------
    StoreError
        If the server cannot be reached, PostGIS is missing and cannot be
        created, or the schema is newer than this code.
    """

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        schema: str | None = None,
        connect_timeout: int = 10,
    ) -> None:
        self._dsn = url
        self.url = _mask(url)
        self.schema = schema
        self.read_only = read_only
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._tx: PgTransaction | None = None
        self._conn = self._connect()

    # ------------------------------------------------------------- plumbing
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=self._connect_timeout
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL store {self.url}: {exc}") from exc
        try:
            # Timestamps are naive wall-clock values as in DuckDB; TIMESTAMPTZ reads as UTC.
            conn.execute("SET TIME ZONE 'UTC'")
            if self.schema is not None:
                conn.execute(
                    psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psql.Identifier(self.schema))
                )
                conn.execute(
                    "SELECT set_config('search_path', "
                    "quote_ident(%s) || ', ' || current_setting('search_path'), false)",
                    [self.schema],
                )
            if self.read_only:
                have = current_version(conn)
                if have != latest_version():
                    raise StoreError(
                        f"PostgreSQL store {self.url} has schema version {have}, this code "
                        f"needs {latest_version()}: open it once read-write to upgrade"
                    )
                conn.execute("SET default_transaction_read_only = on")
            else:
                migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _c(self) -> psycopg.Connection[Any]:
        # A connection lost (server restart, interrupted COPY) is replaced, once.
        if self._conn.broken:
            self._conn = self._connect()
        return self._conn

    dialect = POSTGRES
    multi_process = True

    def channel(self, name: str) -> PgChannel:
        """A ``LISTEN``/``NOTIFY`` channel named after ``name`` and the store's schema."""
        with self._lock:
            (schema,) = self._c().execute("SELECT current_schema()").fetchone() or ("public",)
        return PgChannel(self._dsn, f"{name}:{schema}")

    @property
    def dsn(self) -> str:
        """The full connection URL (with any password: never print it; see :attr:`url`)."""
        return self._dsn

    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """Run a parameterised query and return its rows as an Arrow table.

        The SQL is PostgreSQL's dialect with psycopg's ``%s`` placeholders
        (the DuckDB store takes DuckDB SQL with ``?``): SQL handed to
        ``sql()`` is backend-specific.
        """
        with self._lock:
            try:
                with self._c().cursor(binary=True) as cur:
                    cur.execute(query, params)  # backend SQL by contract
                    return cursor_to_arrow(cur)
            except psycopg.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Rows of a portable ``?``-parameterised statement as an Arrow table."""
        with self._lock:
            try:
                with self._c().cursor(binary=True) as cur:
                    cur.execute(to_pyformat(sql), list(params or ()))
                    return cursor_to_arrow(cur)
            except psycopg.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.transaction() as tx:
            tx.execute(sql, params)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            if self._tx is not None:  # re-entrant: join the open transaction
                yield self._tx
                return
            conn = self._c()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    self._tx = tx = PgTransaction(cur)
                    yield tx
            except psycopg.Error as exc:
                raise StoreError(f"transaction failed and was rolled back: {exc}") from exc
            finally:
                self._tx = None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --------------------------------------------------------------- ingest
    def checksums(self) -> set[str]:
        return {r["sha256"] for r in self.sql("SELECT sha256 FROM files").to_pylist()}

    def next_file_id(self) -> int:
        t = self.sql("SELECT coalesce(max(file_id), 0) AS m FROM files")
        return int(t["m"][0].as_py()) + 1

    def write_batch(self, batch: Batch) -> IngestReport:
        if not batch.files:
            return IngestReport(0, 0, tuple(batch.skipped), 0, 0, 0, 0)
        now = _now()
        with self._lock:
            conn = self._c()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    # One writer at a time: batch ids are max + 1.
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                    # Another writer may have taken the ids the batch was read with.
                    (nxt,) = cur.execute(
                        "SELECT coalesce(max(file_id), 0) + 1 FROM files"
                    ).fetchone() or (1,)
                    batch = from_file_id(batch, int(nxt))
                    (bid,) = cur.execute(
                        "SELECT coalesce(max(batch_id), 0) + 1 FROM batches"
                    ).fetchone() or (1,)
                    inserted, updated = self._write_incidents(cur, batch.incidents, now)
                    cancelled = self._apply_cancels(cur, batch.cancels)
                    if batch.cancels:
                        batch.counts["dropped:cancelled_in_store"] += cancelled
                        batch.counts["unresolved:cancel_target_not_found"] += (
                            len(batch.cancels) - cancelled
                        )
                    n_out, out_updates = self._write_outcomes(cur, batch.outcomes, now)
                    updated += out_updates
                    ss = batch.stop_search
                    copy_in(cur, "stop_search", ss.column_names, ss)
                    write_provenance(cur, batch, int(bid), now)
                    cur.execute(
                        "INSERT INTO batches VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
            except psycopg.Error as exc:
                raise StoreError(f"ingest failed and was rolled back: {exc}") from exc
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
    def _write_incidents(cur: psycopg.Cursor[Any], inc: pa.Table, now: datetime) -> tuple[int, int]:
        if inc.num_rows == 0:
            return 0, 0
        stamped = inc.select(_INC).append_column(
            "ingested_at", pa.array(np.full(inc.num_rows, np.datetime64(now, "us")))
        )
        cols = [*_INC, "ingested_at"]
        existing = rows_estimate(cur, "incidents")
        if rebuild_pays(inc.num_rows, existing):
            # A load large against the table: indexes are rebuilt afterwards.
            with indexes_rebuilt(cur, "incidents"):
                (empty,) = cur.execute(
                    "SELECT NOT EXISTS (SELECT 1 FROM incidents)"
                ).fetchone() or (True,)
                if empty:
                    return copy_in(cur, "incidents", cols, stamped), 0
                return PostgresStore._upsert(cur, stamped, cols, now, indexed=False)
        return PostgresStore._upsert(cur, stamped, cols, now, indexed=True)

    @staticmethod
    def _upsert(
        cur: psycopg.Cursor[Any],
        stamped: pa.Table,
        cols: list[str],
        now: datetime,
        *,
        indexed: bool,
    ) -> tuple[int, int]:
        """Stage the batch, update outcomes of known ids, insert the new ones."""
        cur.execute(
            f"CREATE TEMP TABLE _batch_inc ON COMMIT DROP AS SELECT {_INC_COLS}, ingested_at "  # noqa: S608 (constant columns)
            "FROM incidents WITH NO DATA"
        )
        copy_in(cur, "_batch_inc", cols, stamped)
        cur.execute("ANALYZE _batch_inc")
        # A crime id seen again updates the stored outcome instead of adding a row.
        cur.execute(
            """UPDATE incidents i SET outcome = b.outcome, updated_at = %s
               FROM _batch_inc b WHERE i.incident_id = b.incident_id
               AND b.outcome IS NOT NULL AND b.outcome IS DISTINCT FROM i.outcome""",
            [now],
        )
        updated = cur.rowcount
        if indexed:
            cur.execute(
                f"""INSERT INTO incidents ({_INC_COLS}, ingested_at)
                    SELECT {_INC_COLS}, ingested_at FROM _batch_inc
                    ON CONFLICT (incident_id) DO NOTHING"""  # noqa: S608 (constant columns)
            )
        else:  # no unique index while the indexes are being rebuilt: an anti-join
            cur.execute(
                f"""INSERT INTO incidents ({_INC_COLS}, ingested_at)
                    SELECT {_INC_COLS}, ingested_at FROM _batch_inc b WHERE NOT EXISTS
                    (SELECT 1 FROM incidents i WHERE i.incident_id = b.incident_id)"""  # noqa: S608 (constant columns)
            )
        return cur.rowcount, updated

    @staticmethod
    def _apply_cancels(cur: psycopg.Cursor[Any], cancels: list[str]) -> int:
        """Delete one stored incident per cancelled id (the copy with the highest ``~k``)."""
        if not cancels:
            return 0
        # Copies of id b are b itself and b~<digits>; with the "C" collation the
        # latter lie in [b~, b\x7f) of the unique btree index. A stored id that
        # ends in ~<digits> is a copy of its stem only, so a cancel naming it in
        # full does not take it (the rule of ingest._cancel and the DuckDB store).
        cur.execute(
            r"""
            WITH c AS (SELECT id COLLATE "C" AS id, count(*) AS n
                       FROM unnest(%s::text[]) AS u(id) GROUP BY 1),
            cand AS (
                SELECT i.ctid AS rid, c.id AS base, c.n,
                       CASE WHEN i.incident_id = c.id THEN 0
                            ELSE substr(i.incident_id, length(c.id) + 2)::numeric END AS k
                FROM c JOIN incidents i
                  ON (i.incident_id = c.id AND i.incident_id !~ '~[0-9]+$')
                  OR (i.incident_id >= c.id || '~' AND i.incident_id < c.id || chr(127)
                      AND substr(i.incident_id, length(c.id) + 2) ~ '^[0-9]+$')),
            ranked AS (
                SELECT rid, n, row_number() OVER (PARTITION BY base ORDER BY k DESC) AS r
                FROM cand)
            DELETE FROM incidents WHERE ctid IN (SELECT rid FROM ranked WHERE r <= n)
            """,
            [list(cancels)],
        )
        return cur.rowcount

    @staticmethod
    def _write_outcomes(cur: psycopg.Cursor[Any], out: pa.Table, now: datetime) -> tuple[int, int]:
        if out.num_rows == 0:
            return 0, 0
        cur.execute(
            "CREATE TEMP TABLE _batch_out ON COMMIT DROP AS SELECT * FROM outcomes WITH NO DATA"
        )
        copy_in(cur, "_batch_out", out.column_names, out)
        cur.execute("INSERT INTO outcomes SELECT * FROM _batch_out")
        # The latest outcome (by outcome month) becomes the crime's outcome; among
        # outcomes of the same month the first in file order wins, which is what
        # the embedded store's arg_max picks.
        cur.execute(
            """UPDATE incidents i SET outcome = o.outcome, updated_at = %s
               FROM (SELECT DISTINCT ON (crime_id) crime_id, outcome FROM _batch_out
                     WHERE outcome IS NOT NULL
                     ORDER BY crime_id, month DESC NULLS LAST, file_id, row_no) o
               WHERE i.incident_id = o.crime_id AND i.outcome IS DISTINCT FROM o.outcome""",
            [now],
        )
        return out.num_rows, cur.rowcount

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
        q, params = self.incidents_query(
            forces=forces, categories=categories, start=start, end=end, sources=sources, bbox=bbox
        )
        return IncidentTable(self._bulk(q, params, INCIDENT_SCHEMA))

    @staticmethod
    def incidents_query(
        *,
        forces: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        start: Any = None,
        end: Any = None,
        sources: Iterable[str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters :meth:`incidents` runs (for ``EXPLAIN`` and tests)."""
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if forces is not None:
            where.append("force = ANY(%s::text[])")
            params.append(sorted(set(forces)))
        if categories is not None:
            where.append("category = ANY(%s::text[])")
            params.append(sorted(set(categories)))
        if sources is not None:
            where.append("source = ANY(%s::text[])")
            params.append(sorted(set(sources)))
        if start is not None:
            where.append("t_start >= %s::timestamp")
            params.append(str(np.datetime64(start, "s")))
        if end is not None:
            where.append("t_start < %s::timestamp")
            params.append(str(np.datetime64(end, "s")))
        if bbox is not None:
            xmin, ymin, xmax, ymax = (float(v) for v in bbox)
            # The GiST index finds candidates (&& compares bounding boxes only,
            # whatever the rows' SRIDs); the half-open test on x/y is exact.
            where.append(
                "geom && ST_MakeEnvelope(%s, %s, %s, %s) "
                "AND x >= %s AND y >= %s AND x < %s AND y < %s"
            )
            params.extend([xmin, ymin, xmax, ymax, xmin, ymin, xmax, ymax])
        q = f"SELECT {_INC_COLS} FROM incidents WHERE {' AND '.join(where)} ORDER BY file_id, row_no"  # noqa: S608 (constant clauses; values are parameters)
        return q, params

    def table(self, name: str) -> pa.Table:
        if name not in TABLES:
            raise NotFoundError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        cols = _INC_TABLE_COLS if name == "incidents" else "*"
        return self._bulk(f"SELECT {cols} FROM {name}", [], None)  # noqa: S608 (whitelisted table name)

    def _bulk(self, query: str, params: list[Any], schema: pa.Schema | None) -> pa.Table:
        """Rows of one of the store's own queries, through COPY (fast for large results)."""
        with self._lock:
            try:
                with self._c().cursor() as cur:
                    schema = schema or arrow_schema(cur, query)
                    if schema is None:
                        cur.execute(query, params or None)
                        return cursor_to_arrow(cur)
                    return copy_out(cur, query, params, schema)
            except psycopg.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    def forces(self) -> list[str]:
        t = self.sql("SELECT DISTINCT force FROM incidents ORDER BY 1")
        return [str(v) for v in t["force"].to_pylist()]
