"""``crimemap backtest``: rolling-origin back-test of forecasting models, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from crimemap.cli._common import console, handle_errors, progress_bar, store_from_cli
from crimemap.errors import NotFoundError
from crimemap.evaluate import BacktestConfig, BacktestResult, write_predictions, write_report
from crimemap.evaluate import backtest as run_backtest
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
    force: Annotated[str, typer.Option(help="Force (or city) to back-test, e.g. northumbria.")],
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
        int, typer.Option(help="Processes running the back-test tasks (1 = serial).")
    ] = 1,
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
    with store_from_cli(store, read_only=True) as st:
        incidents = st.incidents(forces=[force])
    if len(incidents) == 0:
        raise NotFoundError(f"no incidents for force {force!r} in the store")
    with progress_bar("back-testing") as update:
        total = len(sets) * (len(names) + 2) * origins * horizon
        done = [0]

        def tick(_: object) -> None:
            done[0] += 1
            update(done[0], total)

        result = run_backtest(
            incidents,
            crime_sets=sets,
            models=names,
            n_origins=origins,
            config=config,
            force=force,
            progress=tick,
            workers=workers,
        )
    invocation = {
        "command": "crimemap backtest",
        "force": force,
        "crime_set": sets,
        "model": names,
        "origins": origins,
        "freq": freq,
        "horizon": horizon,
        "cell_size": cell_size,
        "start": start,
        "seed": seed,
        "workers": workers,
        "store": store,
    }
    files = write_report(result, out, title=f"Back-test: {force}", params=invocation)
    if export is not None:
        write_predictions(result, export)
        console.print(f"predictions: {export}")
    print_summary(result)
    console.print(f"report: {files.markdown} and {files.html}")


def print_summary(result: BacktestResult, metric: str = "pai@5%") -> None:
    """Print one metric per model and crime set (mean over origins)."""
    s = result.summary()
    s = s[(s.metric == metric) & (s.horizon == 1)]
    t = Table("model", *dict.fromkeys(s.crime_set), title=f"{metric}, mean over origins")
    for model, g in s.groupby("model", sort=False):
        vals = dict(zip(g.crime_set, g["mean"], strict=True))
        t.add_row(
            str(model), *(f"{vals.get(c, float('nan')):.2f}" for c in dict.fromkeys(s.crime_set))
        )
    console.print(t)
