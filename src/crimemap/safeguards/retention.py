"""Retention: delete incidents older than N months, with an audit row.

The cut-off is the first day of the month ``months`` months before the month
of ``now`` (calendar-aligned, so a monthly police.uk file is kept or deleted
as a whole). Incidents are deleted by ``t_start``; outcomes by their
outcome month; stop-and-search records by their time. The deletion and its
audit row are one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from crimemap.errors import InputError
from crimemap.safeguards.audit import _actor, _append

__all__ = ["RetentionReport", "apply_retention", "retention_cutoff"]


@dataclass(frozen=True)
class RetentionReport:
    """What :func:`apply_retention` deleted.

    Attributes
    ----------
    cutoff : datetime
        Records strictly before this instant were deleted.
    incidents, outcomes, stop_search : int
        Rows deleted from each table.
    audit_seq : int
        The audit row recording the deletion.
    """

    cutoff: datetime
    incidents: int
    outcomes: int
    stop_search: int
    audit_seq: int


def retention_cutoff(now: datetime, months: int) -> datetime:
    """First instant kept: the start of the month ``months`` before ``now``'s month."""
    if int(months) < 1:
        raise InputError("retention must keep at least 1 month")
    m = np.datetime64(now.replace(tzinfo=None), "M") - int(months)
    return datetime.fromisoformat(str(m.astype("datetime64[D]")))


def apply_retention(store: Any, months: int, *, now: datetime, actor: Any) -> RetentionReport:
    """Delete records older than ``months`` months and audit the counts.

    Parameters
    ----------
    store : Store
    months : int
        Months of data to keep before ``now``'s month.
    now : datetime
        The reference time (passed in, never read from the clock here).
    actor : Principal or str
        Who ran it.
    """
    cutoff = retention_cutoff(now, months)
    who, role = _actor(actor)
    counts: dict[str, int] = {}
    with store.transaction() as tx:
        for table, col in (
            ("incidents", "t_start"),
            ("outcomes", "month"),
            ("stop_search", "t"),
        ):
            # The cutoff is a UTC wall-clock time; stop-and-search times are zoned.
            cast = "TIMESTAMPTZ" if table == "stop_search" else "TIMESTAMP"
            value = cutoff.replace(tzinfo=UTC) if table == "stop_search" else cutoff
            where = f"{col} < CAST(? AS {cast})"
            (n,) = tx.execute(
                f"SELECT count(*) FROM {table} WHERE {where}",  # noqa: S608 (constant names)
                [value],
            ).fetchone() or (0,)
            tx.execute(f"DELETE FROM {table} WHERE {where}", [value])  # noqa: S608
            counts[table] = int(n)
        row = _append(
            tx,
            actor=who,
            role=role,
            action="retention",
            force=None,
            area=None,
            n_rows=counts["incidents"],
            detail={"months": int(months), "cutoff": cutoff.isoformat(), **counts},
            now=now.replace(tzinfo=None),
        )
    return RetentionReport(
        cutoff, counts["incidents"], counts["outcomes"], counts["stop_search"], row.seq
    )
