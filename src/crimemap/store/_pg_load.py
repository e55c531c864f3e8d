"""Bulk-load helpers of the PostgreSQL store: index rebuilds, provenance rows.

Maintaining a GiST and four btree indexes row by row costs about three
times the ``COPY`` itself, and about four times as much per row as building
them afterwards from the whole table (measured on the police.uk extract,
bench/bench_ingest_pg.py). So when a batch of ``B`` rows goes into a table
of ``N`` rows, rebuilding (cost ~ ``N + B``) beats maintaining (~ ``4 B``)
once ``B > N / 3``: the store then drops the table's indexes inside the
batch's transaction, loads, and recreates them from their catalogue
definitions before the transaction goes on (:func:`rebuild_pays`). Should
the batch fail, the rollback restores the indexes with everything else. The
price: ``DROP INDEX`` holds an exclusive lock on the table until commit, so
readers wait for such a load; the usual batches (a new month into years of
history) keep the indexes and never block readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from crimemap.ingest.pipeline import Batch

__all__ = ["rows_estimate", "rebuild_pays", "indexes_rebuilt", "write_provenance"]

#: Counts that belong to the batch, not to one file (as in the embedded store).
_BATCH_LEVEL = (
    "merged:",
    "dropped:cancelled_across_files",
    "dropped:cancelled_in_store",
    "unresolved:",
)
_FILE_COLS = [
    "file_id",
    "batch_id",
    "path",
    "sha256",
    "size",
    "reader",
    "target",
    "source",
    "rows_read",
    "rows_loaded",
    "rows_rejected",
    "ingested_at",
]
_REJECT_COLS = ("batch_id", "file", "row_no", "column", "value", "reason", "detail")

#: Memory for the index builds of one load (per transaction, not server-wide).
BUILD_MEMORY = "256MB"


#: Index maintenance per row / index build per row (see the module docstring).
MAINTAIN_OVER_BUILD = 4.0


def rebuild_pays(batch_rows: int, table_rows: int) -> bool:
    """True if rebuilding the indexes after the load is cheaper than maintaining them."""
    return batch_rows * MAINTAIN_OVER_BUILD >= table_rows + batch_rows


def rows_estimate(cur: psycopg.Cursor[Any], table: str) -> int:
    """Rows in ``table``: the planner's estimate when the table has been analysed, else a count."""
    row = cur.execute(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table]
    ).fetchone()
    if row is not None and row[0] is not None and row[0] >= 0:
        return int(row[0])
    row = cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def indexes_rebuilt(cur: psycopg.Cursor[Any], table: str) -> Iterator[None]:
    """Drop ``table``'s plain indexes, run the body, recreate them and analyse the table.

    Indexes that back a constraint (primary key, unique constraint) are left
    alone. Must run inside a transaction.
    """
    defs = cur.execute(
        """SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid)
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE i.indrelid = to_regclass(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
           ORDER BY c.relname""",
        [table],
    ).fetchall()
    for schema, name, _ in defs:
        cur.execute(
            sql.SQL("DROP INDEX {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        )
    yield
    cur.execute("SELECT set_config('maintenance_work_mem', %s, true)", [BUILD_MEMORY])
    for _, _, ddl in defs:
        cur.execute(ddl)  # the catalogue's own definition (schema-qualified)
    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def write_provenance(cur: psycopg.Cursor[Any], batch: Batch, bid: int, now: datetime) -> None:
    """Rows of ``files``, ``ingest_counts`` and ``rejects`` for the batch."""
    with cur.copy(
        sql.SQL("COPY files ({}) FROM STDIN").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in _FILE_COLS)
        )
    ) as cp:
        for f in batch.files:
            cp.write_row(
                (
                    f.file_id,
                    bid,
                    f.path,
                    f.sha256,
                    f.size,
                    f.reader,
                    f.target,
                    f.source,
                    f.rows_read,
                    f.rows_loaded,
                    f.rows_rejected,
                    now,
                )
            )
    counts = [(bid, f.file_id, k, v) for f in batch.files for k, v in sorted(f.counts.items())] + [
        (bid, None, k, v)
        for k, v in sorted(batch.counts.items())
        if k.startswith(_BATCH_LEVEL) and v
    ]
    with cur.copy("COPY ingest_counts (batch_id, file_id, reason, n) FROM STDIN") as cp:
        for row in counts:
            cp.write_row(row)
    if batch.rejects:
        with cur.copy(
            sql.SQL("COPY rejects ({}) FROM STDIN").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in _REJECT_COLS)
            )
        ) as cp:
            for i in batch.rejects:
                value = None if i.value is None else i.value[:500]
                cp.write_row((bid, i.file, i.row, i.column, value, i.reason, i.detail))
