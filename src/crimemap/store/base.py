"""The storage interface.

Readers and the pipeline produce a validated :class:`~crimemap.ingest.Batch`;
a store writes it atomically and answers queries. The embedded DuckDB store
is the default; a PostgreSQL/PostGIS store can implement the same interface
without touching the readers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from crimemap.table import IncidentTable

if TYPE_CHECKING:
    from crimemap.ingest.pipeline import Batch

__all__ = ["Store", "IngestReport", "StoreStatus"]


@dataclass(frozen=True)
class IngestReport:
    """What one ingest batch did.

    Attributes
    ----------
    batch_id : int
        Id of the batch in the ``batches`` table (0 if nothing was written).
    files : int
        Files ingested in this batch.
    skipped : tuple of str
        Files skipped because their checksum was already stored.
    rows_read, rows_inserted, rows_updated, rows_rejected : int
        Data rows seen, new incidents, incidents whose outcome was updated,
        rows refused (quarantined).
    outcomes, stop_search : int
        Rows added to those tables.
    counts : dict
        Rows by reason (``kept:…``, ``repaired:…``, ``merged:…``,
        ``rejected:…``).
    """

    batch_id: int
    files: int
    skipped: tuple[str, ...]
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_rejected: int
    outcomes: int = 0
    stop_search: int = 0
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreStatus:
    """Summary of a store's contents (``crimemap status``)."""

    incidents: int
    by_source: list[tuple[str, int]]
    by_force: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    by_month: list[tuple[str, int]]
    rejects_by_reason: list[tuple[str, int]]
    counts_by_reason: list[tuple[str, int]]
    with_coordinates: int
    with_lsoa: int
    files: int
    outcomes: int
    stop_search: int


class Store(ABC):
    """A store of incidents, outcomes, stop-and-search and provenance."""

    url: str

    @abstractmethod
    def checksums(self) -> set[str]:
        """SHA-256 of every file already ingested."""

    @abstractmethod
    def next_file_id(self) -> int:
        """The next free file id."""

    @abstractmethod
    def write_batch(self, batch: Batch) -> IngestReport:
        """Write a validated batch in one transaction (all or nothing)."""

    @abstractmethod
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
        """Incidents matching the filters (time window on ``t_start``, ``[start, end)``;
        ``bbox`` = (xmin, ymin, xmax, ymax) in the projected CRS)."""

    @abstractmethod
    def table(self, name: str) -> pa.Table:
        """A whole table (``outcomes``, ``stop_search``, ``rejects``, ``files`` ...)."""

    @abstractmethod
    def status(self) -> StoreStatus:
        """Counts by source, force, category and month; rejects; coverage."""

    @abstractmethod
    def forces(self) -> list[str]:
        """Forces (agencies) present."""

    @abstractmethod
    def export_parquet(self, name: str, path: Path) -> int:
        """Write a table to Parquet; returns the number of rows."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
