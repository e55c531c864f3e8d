"""Fan-out of change events to the maps connected to ``/api/stream``.

Each connection owns a bounded asyncio queue on the server's event loop.
Writers (upload handlers, possibly in worker threads) publish through
:meth:`Broker.publish`, which hands the event to the loop thread-safely; a
slow client whose queue is full loses its oldest events rather than holding
up everyone else (it refetches its view on the next event anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from typing import Any

__all__ = ["Broker"]


class Broker:
    """Publish/subscribe of JSON events for server-sent events."""

    def __init__(self, maxsize: int = 100) -> None:
        self._subs: set[asyncio.Queue[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.maxsize = maxsize

    @property
    def clients(self) -> int:
        """Connected streams."""
        return len(self._subs)

    def subscribe(self) -> asyncio.Queue[str]:
        """A new queue for one connection (call on the event loop)."""
        self._loop = asyncio.get_running_loop()
        q: asyncio.Queue[str] = asyncio.Queue(self.maxsize)
        with self._lock:
            self._subs.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        """Forget a connection's queue."""
        with self._lock:
            self._subs.discard(q)

    def _put_all(self, msg: str) -> None:
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(msg)

    def publish(self, event: str, data: dict[str, Any]) -> str:
        """Send ``data`` as an SSE message of type ``event`` to every connection."""
        msg = f"id: {next(self._ids)}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        loop = self._loop
        if loop is None or loop.is_closed():
            return msg
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put_all(msg)
        else:
            loop.call_soon_threadsafe(self._put_all, msg)
        return msg
