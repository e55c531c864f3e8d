"""``crimemap transparency``: generate the model card / ATRS-style record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors, settings, store_from_cli
from crimemap.safeguards.audit import record
from crimemap.safeguards.transparency import build_record, write_record

__all__ = ["transparency"]


@handle_errors
def transparency(
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
    backtest: Annotated[
        Path | None, typer.Option(help="Latest back-test report folder (summary.csv, run.json).")
    ] = None,
    fairness: Annotated[
        Path | None, typer.Option(help="Latest fairness report folder or fairness.json.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/transparency"),
    owner: Annotated[str | None, typer.Option(help="Owning organisation.")] = None,
    contact: Annotated[str | None, typer.Option(help="Public contact address.")] = None,
) -> None:
    """Write transparency.md and transparency.json from the configuration and latest results."""
    cfg = settings()
    config = {
        "model": cfg.forecast_model.split(":", 1)[0],
        "model_spec": cfg.forecast_model,
        "cell_m": cfg.forecast_cell_m,
        "crime_set": cfg.forecast_crime_set,
        "disclosure_threshold": cfg.disclosure_threshold,
        "retention_months": cfg.retention_months,
    }
    if owner:
        config["owner"] = owner
    if contact:
        config["contact"] = contact
    with store_from_cli(store) as st:
        rec = build_record(
            st,
            config=config,
            now=datetime.now(UTC),
            backtest=backtest or cfg.backtest_path,
            fairness=fairness,
        )
        md, js = write_record(rec, out)
        record(st, "cli", "transparency.record", detail={"out": str(js)})
    if rec.triggered:
        console.print(
            f"[red]switch-off conditions met: {', '.join(rec.triggered)}[/red] (see {md})"
        )
    console.print(f"wrote {md} and {js}")
