"""``crimemap forecast``: fit on all the data and write the next period's risk surface."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors, store_from_cli
from crimemap.errors import NotFoundError
from crimemap.evaluate import forecast_next, write_surface, write_surface_geojson

__all__ = ["forecast", "DEFAULT_MODEL"]

#: Model used when none is named: the exponentially weighted mean baseline,
#: the best simple baseline in the police.uk back-tests (docs/backtest).
DEFAULT_MODEL = "ewm"


@handle_errors
def forecast(
    force: Annotated[str, typer.Option(help="Force (or city), e.g. northumbria.")],
    category: Annotated[
        str, typer.Option(help="Crime set or category slug, e.g. all-crime or burglary.")
    ],
    horizon: Annotated[
        str,
        typer.Option(help="Which period ahead: 1m = the month after the data; also 2m, 1w, 1d."),
    ] = "1m",
    model: Annotated[
        str, typer.Option(help="Model 'name' or 'name:key=value,...'.")
    ] = DEFAULT_MODEL,
    cell_size: Annotated[float, typer.Option(help="Grid cell size in metres.")] = 250.0,
    out: Annotated[
        Path,
        typer.Option(
            help="Parquet (or .csv) file; a .geojson of cells with score > 0 is written beside it."
        ),
    ] = Path("out/forecast.parquet"),
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: settings).")
    ] = None,
) -> None:
    """Forecast where crime will concentrate next (places only, never people)."""
    with store_from_cli(store, read_only=True) as st:
        incidents = st.incidents(forces=[force])
    if len(incidents) == 0:
        raise NotFoundError(f"no incidents for force {force!r} in the store")
    surface = forecast_next(
        incidents, crime_set=category, model=model, horizon=horizon, cell_size=cell_size
    )
    freq = horizon.strip()[-1].upper()
    path = write_surface(surface, out, force=force, crime_set=category, freq=freq)
    gj = write_surface_geojson(
        surface, out.with_suffix(".geojson"), force=force, crime_set=category
    )
    n_pos = int((surface.mean > 0).sum())
    console.print(
        f"{surface.model} forecast of {category} for {force}, {str(surface.start)[:10]} .. "
        f"{str(surface.end)[:10]}: {len(surface.mean)} cells, {n_pos} with score > 0, "
        f"expected total {surface.mean.sum():.0f}"
    )
    console.print(f"surface: {path}; map: {gj}")
