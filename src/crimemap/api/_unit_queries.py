"""The SQL behind the H3, LSOA and day/hour layers (portable: DuckDB and PostgreSQL).

Written to run unchanged on both store backends: ``extract(... FROM ...)``
rather than DuckDB's ``year()``, explicit GROUP BY columns, ``?`` placeholders
and no backend-only functions; file filters as in :mod:`crimemap.api._queries`
(``file_id = ANY(CAST(? AS BIGINT[]))`` selects the incidents of an upload for
incremental updates, ``file_id <= ?`` the files an index was built from).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from crimemap.store import Store

__all__ = ["fine_incidents", "time_bins", "unit_month_counts"]

_MONTH_COUNTS = """
SELECT force, category,
       CAST(extract(year FROM t_start) AS INTEGER) AS yr,
       CAST(extract(month FROM t_start) AS INTEGER) AS mo,
       lon, lat, lsoa, count(*) AS n
FROM incidents
WHERE ((lon IS NOT NULL AND lat IS NOT NULL) OR lsoa IS NOT NULL) {extra}
GROUP BY force, category, CAST(extract(year FROM t_start) AS INTEGER),
         CAST(extract(month FROM t_start) AS INTEGER), lon, lat, lsoa
"""

_FINE = """
SELECT force, category, t_precision, t_start, lon, lat, x, y, crs, lsoa
FROM incidents
WHERE t_precision IN ('day', 'minute') {extra}
"""


def _files(file_ids: list[int] | None, max_file_id: int | None) -> tuple[str, list[Any]]:
    extra = ""
    params: list[Any] = []
    if file_ids is not None:
        extra = "AND file_id = ANY(CAST(? AS BIGINT[]))"
        params.append([int(f) for f in file_ids])
    if max_file_id is not None:
        extra += " AND (file_id IS NULL OR file_id <= ?)"
        params.append(int(max_file_id))
    return extra, params


def unit_month_counts(
    store: Store, *, file_ids: list[int] | None = None, max_file_id: int | None = None
) -> pa.Table:
    """Counts per force, category, month, WGS84 point and LSOA code.

    Rows with a point feed the H3 layers; rows with an LSOA code (located or
    not: unlocated records still count for their area) feed the LSOA layer.
    Columns: force, category, yr, mo, lon, lat, lsoa, n.
    """
    extra, params = _files(file_ids, max_file_id)
    return store.query(_MONTH_COUNTS.format(extra=extra), params)


def fine_incidents(
    store: Store, *, file_ids: list[int] | None = None, max_file_id: int | None = None
) -> pa.Table:
    """Incidents timed to the day or the minute (never month-only records), one row each."""
    extra, params = _files(file_ids, max_file_id)
    return store.query(_FINE.format(extra=extra), params)


def time_bins(store: Store) -> list[dict[str, Any]]:
    """Per force and time precision: incidents, first and last start time."""
    t = store.query(
        """SELECT force, t_precision, count(*) AS n, min(t_start) AS first, max(t_start) AS last
           FROM incidents GROUP BY force, t_precision ORDER BY force, t_precision"""
    )
    return list(t.to_pylist())
