"""``crimemap serve``: the web API and the interactive map on one store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors
from crimemap.settings import Settings

__all__ = ["serve"]


@handle_errors
def serve(
    store: Annotated[
        str | None, typer.Option(help="Store URL or DuckDB path (default: CRIMEMAP_STORE).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: CRIMEMAP_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: CRIMEMAP_PORT, 8000).")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model of the map's current forecast (default: CRIMEMAP_FORECAST_MODEL)."
        ),
    ] = None,
    forecast: Annotated[
        bool,
        typer.Option(
            help="Compute (or load the cached) current forecast at start-up; "
            "cached under <out_dir>/forecasts per data version."
        ),
    ] = True,
    basemap: Annotated[
        str | None,
        typer.Option(help="Online MapLibre style URL (default: offline outlines from the store)."),
    ] = None,
    lsoa_dir: Annotated[
        Path | None,
        typer.Option(
            help="LSOA GeoJSON file or folder (.json/.geojson, optionally .gz) drawn as "
            "outlines on the offline basemap (e.g. the bundled sample's LSOA file)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(help="Where the forecast cache is kept (default: CRIMEMAP_OUT_DIR)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API and the map (open http://HOST:PORT/ in a browser)."""
    import uvicorn

    from crimemap.api import create_app

    overrides: dict[str, object] = {"forecast_on_start": forecast}
    for key, value in (
        ("store", store),
        ("host", host),
        ("port", port),
        ("forecast_model", model),
        ("basemap_style_url", basemap),
        ("lsoa_geojson_dir", lsoa_dir),
        ("out_dir", out_dir),
    ):
        if value is not None:
            overrides[key] = value
    settings = Settings(**overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    console.print(
        f"crimemap map on http://{settings.host}:{settings.port}/  (store {settings.store})"
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
