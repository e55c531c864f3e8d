"""Every SQL query the API runs, parameterised (never formatted from user input).

The API keeps a small in-memory index of counts per 250 m cell, month,
category and force (:mod:`crimemap.api._cells`); these queries build it from
the store and read what the index does not hold (coverage, batches).

They run through the store's portable surface (:meth:`Store.query`: ``?``
placeholders, SQL shared by DuckDB and PostgreSQL), so the API serves either
backend; the one expression spelled differently (the month index) comes
from the store's dialect.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from crimemap.store import Store

__all__ = [
    "BASE_CELL_M",
    "cell_month_counts",
    "max_file_id",
    "main_crs",
    "data_version",
    "force_coverage",
    "cell_incident_count",
    "lsoa_codes",
    "time_precisions",
]

#: Side of the finest cell the index keeps (metres); coarser layers sum these.
BASE_CELL_M = 250.0

_CELL_COUNTS = """
SELECT force, category,
       {month} AS month,
       CAST(floor(x / ?) AS BIGINT) AS i,
       CAST(floor(y / ?) AS BIGINT) AS j,
       count(*) AS n
FROM incidents
WHERE x IS NOT NULL AND y IS NOT NULL AND crs = ? {extra}
GROUP BY 1, 2, 3, 4, 5
"""


def main_crs(store: Store) -> int:
    """The projected CRS that most located incidents use (27700 for UK data)."""
    rows = store.query(
        "SELECT crs, count(*) AS n FROM incidents WHERE x IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).to_pylist()
    return int(rows[0]["crs"]) if rows and rows[0]["crs"] is not None else 27700


def cell_month_counts(
    store: Store,
    crs: int,
    *,
    file_ids: list[int] | None = None,
    max_file_id: int | None = None,
) -> pa.Table:
    """Incident counts per force, category, month index (months since 1970-01) and base cell.

    ``file_ids`` restricts the count to the incidents of some files (the
    incremental update after an upload); ``max_file_id`` to incidents of
    files up to that id (and incidents of no file).
    """
    params: list[Any] = [BASE_CELL_M, BASE_CELL_M, crs]
    extra = ""
    if file_ids is not None:
        extra = "AND file_id = ANY(CAST(? AS BIGINT[]))"
        params.append([int(f) for f in file_ids])
    if max_file_id is not None:
        extra += " AND (file_id IS NULL OR file_id <= ?)"
        params.append(int(max_file_id))
    sql = _CELL_COUNTS.format(month=store.dialect.month_index("t_start"), extra=extra)
    return _cell_types(store.query(sql, params))


def _cell_types(t: pa.Table) -> pa.Table:
    """The index's column types whatever the backend returns (int32 vs int64 ...)."""
    schema = pa.schema(
        [
            ("force", pa.string()),
            ("category", pa.string()),
            ("month", pa.int64()),
            ("i", pa.int64()),
            ("j", pa.int64()),
            ("n", pa.int64()),
        ]
    )
    return t.select(schema.names).cast(schema)


def max_file_id(store: Store) -> int:
    """The highest stored file id (0 when none)."""
    t = store.query("SELECT coalesce(max(file_id), 0) AS m FROM files")
    return int(t["m"][0].as_py())


def data_version(store: Store) -> tuple[int, int]:
    """(number of incidents, last batch id): changes whenever data is written."""
    row = store.query(
        "SELECT (SELECT count(*) FROM incidents) AS n, "
        "(SELECT coalesce(max(batch_id), 0) FROM batches) AS b"
    ).to_pylist()[0]
    return int(row["n"]), int(row["b"])


def force_coverage(store: Store, force: str | None) -> dict[str, Any]:
    """Data coverage of one force (or every force): volume, location and time precision."""
    row = store.query(
        """SELECT count(*) AS incidents, count(x) AS located,
                  min(t_start) AS first, max(t_start) AS last,
                  count(DISTINCT date_trunc('month', t_start)) AS months,
                  string_agg(DISTINCT t_precision, ',' ORDER BY t_precision) AS time_precision,
                  string_agg(DISTINCT loc_precision, ',' ORDER BY loc_precision)
                      AS location_precision,
                  string_agg(DISTINCT source, ',' ORDER BY source) AS sources
           FROM incidents WHERE (CAST(? AS TEXT) IS NULL OR force = ?)""",
        [force, force],
    ).to_pylist()[0]
    return row


def cell_incident_count(
    store: Store, crs: int, size: float, i: int, j: int, categories: list[str]
) -> int:
    """Incidents in one grid cell straight from the incidents table (a cross-check)."""
    row = store.query(
        """SELECT count(*) AS n FROM incidents
           WHERE crs = ? AND CAST(floor(x / ?) AS BIGINT) = ? AND CAST(floor(y / ?) AS BIGINT) = ?
             AND category = ANY(CAST(? AS TEXT[]))""",
        [crs, size, i, size, j, categories],
    ).to_pylist()[0]
    return int(row["n"])


def lsoa_codes(store: Store) -> set[str]:
    """LSOA codes that appear on at least one incident."""
    t = store.query("SELECT DISTINCT lsoa FROM incidents WHERE lsoa IS NOT NULL")
    return set(t["lsoa"].to_pylist())


def time_precisions(store: Store) -> list[str]:
    """Time precisions present (``month``, ``day``, ``minute``)."""
    t = store.query("SELECT DISTINCT t_precision FROM incidents ORDER BY 1")
    return [str(v) for v in t["t_precision"].to_pylist()]
