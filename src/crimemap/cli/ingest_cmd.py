"""``crimemap ingest``, ``crimemap status`` and ``crimemap export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crimemap.cli._common import (
    cli_actor,
    console,
    handle_errors,
    progress_bar,
    settings,
    store_from_cli,
)
from crimemap.ingest import POLICIES, ingest
from crimemap.safeguards import record
from crimemap.store import IngestReport, StoreStatus

__all__ = [
    "ingest_command",
    "status_command",
    "export_command",
    "maintain_command",
    "print_report",
    "print_status",
]


@handle_errors
def ingest_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, folder trees or zip archives to ingest.")
    ],
    policy: Annotated[str, typer.Option(help=f"Batch policy: {' or '.join(POLICIES)}.")] = "strict",
    reader: Annotated[
        str | None, typer.Option(help="Reader name (default: recognise each file).")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Partner mapping file (YAML); implies --reader partner.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
) -> None:
    """Ingest police.uk or partner files into the store, atomically, one batch."""
    cfg = settings()
    options = None
    if mapping is not None:
        reader = reader or "partner"
        options = {"mapping": str(mapping)}
    key = cfg.pii_key.get_secret_value().encode() if cfg.pii_key else None
    with store_from_cli(store) as st, progress_bar("reading files") as update:
        report = ingest(
            st,
            paths,
            policy=policy,
            reader=reader,
            reader_options=options,
            pii_key=key,
            threads=cfg.threads,
            progress=update,
        )
        if report.files:
            record(
                st,
                cli_actor(),
                "ingest",
                n_rows=report.rows_inserted,
                detail={
                    "batch_id": report.batch_id,
                    "files": report.files,
                    "rejected": report.rows_rejected,
                    "updated": report.rows_updated,
                },
            )
    print_report(report)


def print_report(r: IngestReport) -> None:
    """Print an ingest report."""
    console.print(
        f"[bold]batch {r.batch_id}[/bold]: {r.files} file(s) ingested, {len(r.skipped)} skipped (already stored); "
        f"{r.rows_read:,} rows read, {r.rows_inserted:,} new incidents, {r.rows_updated:,} outcomes updated, "
        f"{r.rows_rejected:,} rejected; {r.outcomes:,} outcome rows, {r.stop_search:,} stop-and-search rows"
    )
    if r.counts:
        t = Table("reason", "rows", title="rows by reason")
        for k, v in r.counts.items():
            t.add_row(k, f"{v:,}")
        console.print(t)


@handle_errors
def status_command(
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
    months: Annotated[bool, typer.Option(help="Also list incidents by month.")] = False,
) -> None:
    """Summarise the store: rows by source, force, category and month; rejects; coverage."""
    with store_from_cli(store) as st:
        print_status(st.status(), months=months)


def print_status(s: StoreStatus, *, months: bool = False) -> None:
    """Print a store status."""
    pct = (lambda n: f"{100 * n / s.incidents:.1f} %") if s.incidents else (lambda n: "-")
    console.print(
        f"[bold]{s.incidents:,} incidents[/bold] from {s.files} file(s); "
        f"with coordinates {s.with_coordinates:,} ({pct(s.with_coordinates)}), "
        f"with LSOA {s.with_lsoa:,} ({pct(s.with_lsoa)}); "
        f"{s.outcomes:,} outcome rows; {s.stop_search:,} stop-and-search rows"
    )
    groups = [("source", s.by_source), ("force", s.by_force), ("category", s.by_category)]
    if months:
        groups.append(("month", s.by_month))
    elif s.by_month:
        console.print(f"months: {s.by_month[0][0]} … {s.by_month[-1][0]} ({len(s.by_month)})")
    for name, rows in groups:
        t = Table(name, "incidents")
        for k, v in rows:
            t.add_row(k, f"{v:,}")
        console.print(t)
    if s.rejects_by_reason:
        t = Table("reason", "rows", title="rejected rows by reason")
        for k, v in s.rejects_by_reason:
            t.add_row(k, f"{v:,}")
        console.print(t)
    if s.counts_by_reason:
        t = Table("reason", "rows", title="kept / repaired / merged rows by reason")
        for k, v in s.counts_by_reason:
            t.add_row(k, f"{v:,}")
        console.print(t)


@handle_errors
def export_command(
    table: Annotated[
        str, typer.Argument(help="Table: incidents, outcomes, stop_search, files, rejects, ...")
    ],
    out: Annotated[Path, typer.Argument(help="Parquet file to write.")],
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
) -> None:
    """Export a table of the store to Parquet."""
    with store_from_cli(store) as st:
        n = st.export_parquet(table, out)
        record(st, cli_actor(), "export", area=table, n_rows=n, detail={"path": str(out)})
    console.print(f"wrote {n:,} rows to {out}")


@handle_errors
def maintain_command(
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
    retention_months: Annotated[
        int | None, typer.Option(help="Keep this many months (default: CRIMEMAP_RETENTION_MONTHS).")
    ] = None,
) -> None:
    """Housekeeping: apply the retention setting (the deletion is audited)."""
    from datetime import UTC, datetime

    from crimemap.safeguards import apply_retention

    months = retention_months if retention_months is not None else settings().retention_months
    if months is None:
        console.print("no retention period set (CRIMEMAP_RETENTION_MONTHS): nothing deleted")
        return
    with store_from_cli(store) as st:
        rep = apply_retention(st, months, now=datetime.now(UTC), actor=cli_actor())
    console.print(f"retention {months} months: {rep}")
