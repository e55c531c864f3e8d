"""``crimemap demo``: the main job on the bundled sample.

Ingest the bundled North Yorkshire extract into a DuckDB store, detect hot
spots (Getis-Ord Gi* and emerging hot spots), forecast next month, and serve
the live map with that forecast on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors, progress_bar
from crimemap.cli.ingest_cmd import print_report, print_status
from crimemap.data import sample_dir, sample_police_uk
from crimemap.ingest import ingest
from crimemap.store import open_store

__all__ = ["demo_command"]

FORCE = "north-yorkshire"


@handle_errors
def demo_command(
    store: Annotated[Path, typer.Option(help="DuckDB file for the demo store.")] = Path(
        "out/demo.duckdb"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("out/demo"),
    serve: Annotated[bool, typer.Option(help="Start the map server at the end.")] = True,
    port: Annotated[int, typer.Option(help="Port of the map server.")] = 8000,
) -> None:
    """Ingest the bundled sample, detect hot spots, forecast next month, serve the map."""
    store.parent.mkdir(parents=True, exist_ok=True)
    with open_store(store) as st, progress_bar("ingesting the bundled sample") as update:
        report = ingest(st, [sample_police_uk()], progress=update)
        print_report(report)
        print_status(st.status())
        token = _demo_token(st)
    _analyse(str(store), out)
    console.print(f"demo store: {store}; outputs in {out}")
    console.print(
        "sign in on the map with this admin token to see forecasts, hot spots and "
        f"explanations (without it the map shows public, disclosure-controlled counts):\n  {token}"
    )
    if serve:
        from crimemap.cli.serve import serve as serve_map

        serve_map(store=str(store), port=port, out_dir=out, lsoa_dir=sample_dir() / "lsoa")


def _demo_token(st: object) -> str:
    """A fresh token for the demo's admin user (created on first run; audited)."""
    from crimemap.errors import InputError
    from crimemap.safeguards import add_user, issue_token

    try:
        return add_user(st, "demo", "admin", actor="demo")[1]
    except InputError:
        return issue_token(st, "demo", actor="demo")


def _analyse(store: str, out: Path) -> None:
    """Hot spots and a forecast on the demo store (skipped stages are reported)."""
    try:
        from crimemap.cli.hotspots import hotspots
    except ModuleNotFoundError:
        console.print("hot spot detection is not installed in this build")
    else:
        for method in ("gi", "emerging"):
            hotspots(FORCE, method=method, store=store, out=out / "hotspots", png=True)
    try:
        from crimemap.cli.forecast import forecast
    except ModuleNotFoundError:
        console.print("forecasting is not installed in this build")
    else:
        forecast(force=FORCE, category="all-crime", store=store, out=out / "forecast.parquet")
