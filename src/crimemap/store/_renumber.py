"""File ids allocated at write time: a batch read against a stale ``next_file_id``.

The pipeline numbers a batch's files from :meth:`Store.next_file_id` before
it writes. With several writers on one database (API workers on PostgreSQL)
another batch may commit in between and take those ids; the store then
shifts the batch's ids past the ones in use, under its write lock, instead
of failing on the primary key. Incident ids never depend on file ids, so
nothing else changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from crimemap.ingest.pipeline import Batch

__all__ = ["from_file_id"]


def _shift(t: pa.Table, offset: int) -> pa.Table:
    k = t.schema.get_field_index("file_id")
    if k < 0 or t.num_rows == 0:
        return t
    col = pc.add(t.column(k), pa.scalar(offset, t.schema.field(k).type))
    return t.set_column(k, t.schema.field(k), col)


def from_file_id(batch: Batch, first: int) -> Batch:
    """``batch`` with its file ids starting at ``first`` or later (unchanged if they do)."""
    if not batch.files:
        return batch
    lo = min(f.file_id for f in batch.files)
    if lo >= first:
        return batch
    off = first - lo
    return replace(
        batch,
        files=[replace(f, file_id=f.file_id + off) for f in batch.files],
        incidents=_shift(batch.incidents, off),
        outcomes=_shift(batch.outcomes, off),
        stop_search=_shift(batch.stop_search, off),
    )
