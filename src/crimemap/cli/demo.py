"""``crimemap demo``: the main job on the bundled sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors, progress_bar
from crimemap.cli.ingest_cmd import print_report, print_status
from crimemap.data import sample_police_uk
from crimemap.ingest import ingest
from crimemap.store import open_store

__all__ = ["demo_command"]


@handle_errors
def demo_command(
    store: Annotated[Path, typer.Option(help="DuckDB file for the demo store.")] = Path(
        "out/demo.duckdb"
    ),
    serve: Annotated[bool, typer.Option(help="Start the map server at the end.")] = True,
) -> None:
    """Ingest the bundled sample, summarise it, and (when available) serve the map."""
    store.parent.mkdir(parents=True, exist_ok=True)
    with open_store(store) as st, progress_bar("ingesting the bundled sample") as update:
        report = ingest(st, [sample_police_uk()], progress=update)
        print_report(report)
        print_status(st.status())
    console.print(f"demo store: {store}")
    del serve
