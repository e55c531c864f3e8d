"""``GET /api/stream``: server-sent events telling open maps what changed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from crimemap.api._access import ACTION_KEY, require
from crimemap.api.deps import State
from crimemap.safeguards import Principal

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["live"])

#: Seconds between keep-alive comments (proxies drop idle connections).
KEEPALIVE_S = 15.0


def _touches(msg: str, force: str) -> bool:
    """True when an SSE change message lists ``force`` among its forces."""
    for line in msg.splitlines():
        if line.startswith("data: "):
            try:
                return force in json.loads(line[6:]).get("forces", [])
            except (ValueError, AttributeError):
                return False
    return False


@router.get(
    "/stream",
    summary="Live change events (text/event-stream)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "A 'hello' event, then one 'change' event per stored batch: "
            "{batch_id, rows_inserted, layers, cells (250 m ids), months, forces, version}.",
        }
    },
    openapi_extra={ACTION_KEY: "stream.read"},
)
async def stream(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require("stream.read"))],
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=10_000,
            description="Close the stream after this many change events (tests, tools).",
        ),
    ] = None,
    force: Annotated[
        str | None,
        Query(description="Only changes touching this force (analysts must name their force)."),
    ] = None,
) -> StreamingResponse:
    """Subscribe to change events; the connection stays open until the client leaves."""
    broker = state.broker
    queue = broker.subscribe()

    async def events() -> AsyncIterator[str]:
        sent = 0
        try:
            hello = {"version": list(state.version), "clients": broker.clients}
            yield f"retry: 2000\nevent: hello\ndata: {json.dumps(hello)}\n\n"
            while limit is None or sent < limit:
                try:
                    msg = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield ": keep-alive\n\n"
                    continue
                if force is not None and not _touches(msg, force):
                    continue
                yield msg
                sent += 1
        finally:
            broker.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
