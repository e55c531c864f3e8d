"""``crimemap serve``: the web API and the interactive map on one store.

``--workers N`` runs N API processes (uvicorn workers, each building the app
from the settings with :func:`crimemap.api.create_app`). Only a PostgreSQL
store takes several: the embedded DuckDB file allows one writer process.
The workers share the settings through ``CRIMEMAP_*`` environment variables
set here, and one session key (generated for the run when none is
configured) so that a map's session cookie is valid on every worker.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from crimemap.cli._common import console, handle_errors
from crimemap.errors import ConfigError
from crimemap.settings import Settings
from crimemap.store import open_store

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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API worker processes (more than 1 needs a PostgreSQL store; live updates "
            "reach every worker through LISTEN/NOTIFY).",
        ),
    ] = 1,
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
    if workers == 1:
        app = create_app(settings)
        console.print(
            f"crimemap map on http://{settings.host}:{settings.port}/  (store {settings.store})"
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
        return
    # Open once here: refuses a single-process store, and upgrades the schema
    # before the workers start (they would otherwise queue on the migration lock).
    with open_store(settings.store) as st:
        if not st.multi_process:
            raise ConfigError(
                f"--workers {workers} needs a PostgreSQL store (postgresql://...): the embedded "
                f"DuckDB store {settings.store} allows one writer process; use --workers 1"
            )
        shown = st.url
    env = {f"CRIMEMAP_{k.upper()}": str(v) for k, v in overrides.items()}
    if settings.session_key is None:  # one key for every worker (a configured key wins)
        env["CRIMEMAP_SESSION_KEY"] = secrets.token_urlsafe(48)
    os.environ.update(env)  # read by each worker's Settings()
    console.print(
        f"crimemap map on http://{settings.host}:{settings.port}/  "
        f"({workers} workers, store {shown})"
    )
    uvicorn.run(
        "crimemap.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=log_level,
    )
