"""The storage interface.

Readers and the pipeline produce a validated :class:`~crimemap.ingest.Batch`;
a store writes it atomically and answers queries. The embedded DuckDB store
is the default; a PostgreSQL/PostGIS store can implement the same interface
without touching the readers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pyarrow as pa

from crimemap.store._sql import Dialect
from crimemap.table import IncidentTable

if TYPE_CHECKING:
    from crimemap.ingest.pipeline import Batch

__all__ = ["Channel", "Dialect", "IngestReport", "Store", "StoreStatus", "Transaction"]


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
    file_ids : tuple of int
        Ids the batch's files were stored under.
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
    file_ids: tuple[int, ...] = ()


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


class Transaction(Protocol):
    """An open transaction of a store (see :meth:`Store.transaction`).

    Statements use ``?`` placeholders and the SQL both backends share (see
    :mod:`crimemap.store._sql`); rows come back as tuples of Python values
    (``datetime`` for timestamps, ``list`` for arrays).
    """

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Transaction:
        """Run one statement; returns the transaction for ``fetchone``/``fetchall``."""
        ...

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row of the last statement, or None."""
        ...

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The remaining rows of the last statement."""
        ...

    def lock(self, name: str) -> None:
        """Serialise with every other transaction taking lock ``name``, in any process.

        Held until the transaction ends. On PostgreSQL an advisory
        transaction lock; on the embedded store (one writer process, whose
        transactions already run one at a time) nothing more is needed.
        """
        ...


class Channel(Protocol):
    """A cross-process event channel of a store's database (see :meth:`Store.channel`)."""

    def publish(self, payload: str) -> None:
        """Send ``payload`` (short text) to every listener of the channel."""
        ...

    def listen(
        self,
        on_message: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        """Call ``on_message(payload)`` for every event, from a background thread."""
        ...

    def close(self) -> None:
        """Stop listening and release the connections."""
        ...


class Store(ABC):
    """A store of incidents, outcomes, stop-and-search and provenance.

    Besides the typed methods, a store offers a small **portable SQL
    surface** for the outer layers (safeguards, API aggregates):
    :meth:`query` (rows as Arrow), :meth:`execute` (one statement) and
    :meth:`transaction` (several statements, all or nothing). All three take
    ``?`` placeholders and SQL common to both backends; expressions spelled
    differently live in :attr:`dialect`. Nothing outside :mod:`crimemap.store`
    touches a driver connection.
    """

    url: str

    #: The backend's spelling of the expressions that differ (month labels ...).
    dialect: ClassVar[Dialect]

    @property
    def month_sql(self) -> str:
        """The backend's SQL for the ``YYYY-MM`` month of ``t_start``."""
        return self.dialect.month("t_start")

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Rows of a portable, ``?``-parameterised statement as an Arrow table.

        Inside :meth:`transaction` (same thread) it sees the transaction's writes.
        """

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one portable, ``?``-parameterised statement that returns no rows.

        Joins the current thread's open :meth:`transaction`, else commits at once.
        """

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction: committed when the block ends, rolled back if it raises.

        Re-entrant: a transaction opened inside another one (same thread)
        joins it. Other threads of the process wait until it ends.

        Raises
        ------
        crimemap.errors.StoreError
            When the database refuses a statement (the transaction is rolled back).
        """

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

    #: True when several processes may write the store at once (a database
    #: server); False for a store one process owns (the embedded DuckDB file).
    multi_process: ClassVar[bool] = False

    def channel(self, name: str) -> Channel | None:
        """A channel to tell the other processes on this store what changed.

        None when the store has one process (nothing to tell). The channel is
        scoped to the store's schema, so stores in other schemas of the same
        database do not hear it.
        """
        return None

    @abstractmethod
    def sql(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """Run a parameterised query in the backend's own SQL dialect and placeholders.

        Backend-specific (DuckDB ``?``, psycopg ``%s``): for tests and tools
        that mean one backend. Portable callers use :meth:`query`.
        """

    def status(self) -> StoreStatus:
        """Counts by source, force, category and month; rejects; coverage.

        The same queries on every backend (only the month expression differs);
        ties in a count are ordered by key so the result is deterministic.
        """

        def pairs(q: str) -> list[tuple[str, int]]:
            t = self.query(q)
            keys, values = t.column(0).to_pylist(), t.column(1).to_pylist()
            return [(str(k), int(v)) for k, v in zip(keys, values, strict=True)]

        one = self.query(
            """SELECT count(*) AS n, count(x) AS xy, count(lsoa) AS lsoa,
                      (SELECT count(*) FROM files) AS files, (SELECT count(*) FROM outcomes) AS outcomes,
                      (SELECT count(*) FROM stop_search) AS ss FROM incidents"""
        ).to_pylist()[0]
        month = self.month_sql
        return StoreStatus(
            incidents=int(one["n"]),
            by_source=pairs("SELECT source, count(*) FROM incidents GROUP BY 1 ORDER BY 1"),
            by_force=pairs("SELECT force, count(*) FROM incidents GROUP BY 1 ORDER BY 1"),
            by_category=pairs(
                "SELECT category, count(*) FROM incidents GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            by_month=pairs(
                f"SELECT {month}, count(*) FROM incidents GROUP BY 1 ORDER BY 1"  # noqa: S608 (class constant)
            ),
            rejects_by_reason=pairs(
                "SELECT reason, count(*) FROM rejects GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            counts_by_reason=pairs(
                "SELECT reason, sum(n) FROM ingest_counts WHERE n > 0 GROUP BY 1 ORDER BY 2 DESC, 1"
            ),
            with_coordinates=int(one["xy"]),
            with_lsoa=int(one["lsoa"]),
            files=int(one["files"]),
            outcomes=int(one["outcomes"]),
            stop_search=int(one["ss"]),
        )

    @abstractmethod
    def forces(self) -> list[str]:
        """Forces (agencies) present."""

    def export_parquet(self, name: str, path: Path) -> int:
        """Write a table to Parquet (atomically: temp file, then rename); returns the rows."""
        import pyarrow.parquet as pq

        t = self.table(name)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        pq.write_table(t, tmp)
        tmp.replace(path)
        return int(t.num_rows)

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
