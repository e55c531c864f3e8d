"""``crimemap backtest``: rolling-origin back-test of forecasting models, with a report.

One or many forces; the (force, crime set, model) tasks run serially, on a
local Dask cluster (``--workers N``) or on a running Dask scheduler
(``--scheduler tcp://HOST:PORT``), with identical numbers either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crimemap.cli._common import console, handle_errors, progress_bar, settings, store_from_cli
from crimemap.errors import NotFoundError
from crimemap.evaluate import (
    BacktestConfig,
    BacktestResult,
    distributed_backtest,
    write_predictions,
    write_report,
)
from crimemap.forecast import models as registered_models

__all__ = ["backtest", "DEFAULT_CRIME_SETS", "print_summary"]

#: Crime sets of a default back-test; police-initiated is reported separately.
DEFAULT_CRIME_SETS: tuple[str, ...] = (
    "all-crime",
    "violence",
    "burglary",
    "asb",
    "police-initiated",
)


@handle_errors
def backtest(
    force: Annotated[
        list[str],
        typer.Option(
            help="Force (or city) to back-test, e.g. northumbria (repeatable; 'all' = every "
            "force in the store)."
        ),
    ],
    crime_set: Annotated[
        list[str] | None,
        typer.Option(
            help="Crime set (repeatable; default: all-crime, violence, burglary, asb, police-initiated)."
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="Model 'name' or 'name:key=value,...' (repeatable; default: every registered model)."
        ),
    ] = None,
    origins: Annotated[
        int, typer.Option(help="Number of origins: the last N periods with complete data.")
    ] = 12,
    freq: Annotated[
        str, typer.Option(help="Origin period: M (month), W (week) or D (day; exact times only).")
    ] = "M",
    horizon: Annotated[
        int, typer.Option(help="Score horizons 1..H periods ahead of each origin.")
    ] = 1,
    cell_size: Annotated[float, typer.Option(help="Grid cell size in metres.")] = 250.0,
    start: Annotated[
        str | None, typer.Option(help="Ignore incidents before this date (YYYY-MM-DD).")
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Also write every per-origin prediction here (.parquet, .csv or .csv.gz)."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Report folder (report.md, report.html, PNGs, run.json).")
    ] = Path("out/backtest"),
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random tie-breaking.")] = 0,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes of a local Dask cluster running the (force, crime set, "
            "model) tasks (1 = serial, in this process)."
        ),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run the tasks on this Dask scheduler (tcp://HOST:PORT) instead; its workers "
            "must reach the store at the same URL."
        ),
    ] = None,
) -> None:
    """Back-test models on rolling origins (fit before each origin, score the next period)."""
    sets = list(crime_set or DEFAULT_CRIME_SETS)
    names = list(model or registered_models())
    config = BacktestConfig(
        cell_size=cell_size,
        freq=freq.upper(),
        horizons=tuple(range(1, horizon + 1)),
        seed=seed,
        start=start,
    )
    url = store or settings().store
    forces = list(dict.fromkeys(force))
    if forces == ["all"]:
        with store_from_cli(url, read_only=True) as st:
            forces = st.forces()
        if not forces:
            raise NotFoundError("the store holds no incidents")
    with progress_bar("back-testing") as update:
        result = distributed_backtest(
            url,
            forces=forces,
            crime_sets=sets,
            models=names,
            n_origins=origins,
            config=config,
            workers=workers,
            scheduler=scheduler,
            progress=update,
        )
    invocation = {
        "command": "crimemap backtest",
        "force": forces,
        "crime_set": sets,
        "model": names,
        "origins": origins,
        "freq": freq,
        "horizon": horizon,
        "cell_size": cell_size,
        "start": start,
        "seed": seed,
        "workers": workers,
        "scheduler": scheduler,
        "store": store,
    }
    files = write_report(result, out, title=f"Back-test: {', '.join(forces)}", params=invocation)
    if export is not None:
        write_predictions(result, export)
        console.print(f"predictions: {export}")
    print_summary(result)
    console.print(f"report: {files.markdown} and {files.html}")


def print_summary(result: BacktestResult, metric: str = "pai@5%") -> None:
    """Print one metric per (force,) model and crime set (mean over origins)."""
    s = result.summary()
    s = s[(s.metric == metric) & (s.horizon == 1)]
    sets = list(dict.fromkeys(s.crime_set))
    several = s.force.nunique() > 1
    head = ("force", "model") if several else ("model",)
    t = Table(*head, *sets, title=f"{metric}, mean over origins")
    for (force, model), g in s.groupby(["force", "model"], sort=False):
        vals = dict(zip(g.crime_set, g["mean"], strict=True))
        keys = (str(force), str(model)) if several else (str(model),)
        t.add_row(*keys, *(f"{vals.get(c, float('nan')):.2f}" for c in sets))
    console.print(t)
