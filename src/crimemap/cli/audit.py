"""``crimemap audit verify/show``: check and read the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crimemap.cli._common import console, err_console, handle_errors, store_from_cli
from crimemap.safeguards.audit import audit_rows, verify_chain

__all__ = ["audit_verify", "audit_show"]

_STORE_HELP = "Store URL or DuckDB path (default: settings)."


@handle_errors
def audit_verify(
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    expected_head: Annotated[
        str | None,
        typer.Option(help="A previously recorded chain head (detects a truncated tail)."),
    ] = None,
) -> None:
    """Verify the audit chain; print where it breaks and exit 1 if it does."""
    with store_from_cli(store) as st:
        v = verify_chain(st, expected_head=expected_head)
    if v.ok:
        console.print(f"audit log intact: {v.rows} row(s); head {v.head}")
        return
    err_console.print(
        f"[red]audit log BROKEN at row {v.first_bad_row}[/red] of {v.rows}: {v.reason}"
    )
    raise typer.Exit(1)


@handle_errors
def audit_show(
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    limit: Annotated[int, typer.Option(help="Show the last N rows.")] = 20,
) -> None:
    """Show the last audit rows."""
    with store_from_cli(store) as st:
        rows = audit_rows(st, limit=limit)
    t = Table(title="audit log")
    for c in ("seq", "time (UTC)", "actor", "role", "action", "force", "area", "rows"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            str(r.seq),
            f"{r.ts:%Y-%m-%d %H:%M:%S}",
            r.actor,
            r.role,
            r.action,
            r.force or "",
            r.area or "",
            "" if r.n_rows is None else f"{r.n_rows:,}",
        )
    console.print(t)
