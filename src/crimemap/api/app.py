"""The application factory: ``create_app(settings)`` builds the whole web API and map."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crimemap.api._access import Guard, RateLimit
from crimemap.api._state import AppState
from crimemap.api.errors import install_error_handlers
from crimemap.api.routers import (
    explain,
    incidents,
    layers,
    meta,
    plans,
    series,
    session,
    stream,
    transparency,
)
from crimemap.settings import Settings
from crimemap.store import Store, open_store

__all__ = ["create_app", "static_dir"]


class ServerTiming:
    """ASGI middleware adding ``Server-Timing: app;dur=<ms>`` (time to the response start)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1000.0
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)


def static_dir() -> Path:
    """Folder of the browser map's static files (vendor/ is filled by scripts/build_web.sh)."""
    return Path(str(resources.files("crimemap") / "web" / "static"))


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the API and the map on one store.

    Also the factory of each worker process of ``crimemap serve --workers N``
    (uvicorn calls it without arguments: the settings come from the
    environment).

    Parameters
    ----------
    settings : Settings, optional
        Configuration; ``Settings()`` (environment) by default.
    store : Store, optional
        An open store to serve (DuckDB or PostgreSQL); by default
        ``settings.store`` is opened read-write and owned (and closed) by the app.
    """
    settings = settings or Settings()
    owned = store is None
    st = store if store is not None else open_store(settings.store)
    state = AppState(settings, st)
    guard = Guard(settings, st)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Hear the other workers' uploads from the start (PostgreSQL only).
        await run_in_threadpool(state.start_relay)
        if settings.forecast_on_start and state.forecast is None:
            await run_in_threadpool(state.load_forecast)
        await run_in_threadpool(state.warm_up)
        yield
        await run_in_threadpool(state.broker.detach)
        state.refitter.close()
        if owned:
            st.close()

    app = FastAPI(
        title="crimemap",
        summary="Where crime concentrates, where it is emerging and where it is forecast to be.",
        description="Places and times only: no person-level prediction. Counts come from the "
        "embedded store; layers are aggregated server-side to grid cells (British National "
        "Grid ids g<size>:<i>:<j>) and returned as GeoJSON clipped to the viewport.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.crimemap = state
    app.state.guard = guard
    app.add_middleware(ServerTiming)
    # Outermost: a limited request costs no authentication and no query.
    app.add_middleware(RateLimit, guard=guard)
    install_error_handlers(app)
    for r in (
        meta.router,
        layers.router,
        series.router,
        explain.router,
        incidents.router,
        stream.router,
        session.router,
        plans.router,
        transparency.router,
    ):
        app.include_router(r)

    web = static_dir()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(web / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/map", include_in_schema=False)
    def map_redirect() -> RedirectResponse:
        return RedirectResponse("/")

    app.mount("/static", StaticFiles(directory=web, check_dir=False), name="static")
    return app
