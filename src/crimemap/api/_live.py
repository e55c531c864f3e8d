"""Fan-out of change events to the maps connected to ``/api/stream``.

Each connection owns a bounded asyncio queue on the server's event loop.
Writers (upload handlers, possibly in worker threads) publish through
:meth:`Broker.publish`, which hands the event to the loop thread-safely; a
slow client whose queue is full loses its oldest events rather than holding
up everyone else (it refetches its view on the next event anyway).

With several API workers on one PostgreSQL store, each worker's broker is
attached to the store's event channel (``LISTEN``/``NOTIFY``): an event
published in one worker is delivered to its own connections at once and
relayed, in a compact form (no cell list; at most 8000 bytes), to every
other worker, which brings its own state up to date (``on_remote``) before
passing the event on to its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from crimemap.errors import CrimemapError
from crimemap.store import Channel

__all__ = ["Broker"]

log = logging.getLogger("crimemap.api")

#: Turns a relayed event into the data sent to this worker's clients (None: drop it).
OnRemote = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class Broker:
    """Publish/subscribe of JSON events for server-sent events."""

    def __init__(self, maxsize: int = 100) -> None:
        self._subs: set[asyncio.Queue[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.maxsize = maxsize
        self.origin = uuid.uuid4().hex[:12]
        self._channel: Channel | None = None
        self._on_remote: OnRemote | None = None

    def attach(self, channel: Channel, on_remote: OnRemote) -> None:
        """Relay events through ``channel`` and receive the other workers' events from it."""
        self._channel, self._on_remote = channel, on_remote
        channel.listen(self._received)

    def detach(self) -> None:
        """Stop relaying (at shutdown)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _received(self, payload: str) -> None:
        # Runs in the channel's listener thread.
        try:
            msg = json.loads(payload)
            event, origin, data = str(msg["event"]), msg.get("origin"), dict(msg["data"])
        except (ValueError, KeyError, TypeError):
            return
        if origin == self.origin or self._on_remote is None:
            return  # our own event, already delivered
        local = self._on_remote(event, data)
        if local is not None:
            self._deliver(self._format(event, local))

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

    def _format(self, event: str, data: dict[str, Any]) -> str:
        return f"id: {next(self._ids)}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    def publish(
        self, event: str, data: dict[str, Any], *, relay: dict[str, Any] | None = None
    ) -> str:
        """Send ``data`` as an SSE message of type ``event`` to every connection.

        With a channel attached, ``relay`` (default: ``data`` without its
        cell list) goes to the other workers; it must stay under 8000 bytes.
        """
        msg = self._format(event, data)
        self._deliver(msg)
        if self._channel is not None:
            body = relay if relay is not None else {k: v for k, v in data.items() if k != "cells"}
            payload = {"origin": self.origin, "event": event, "data": body}
            try:
                self._channel.publish(json.dumps(payload, separators=(",", ":")))
            except CrimemapError as exc:  # the write is committed: report, do not fail it
                log.warning("could not relay %s event to the other workers: %s", event, exc)
        return msg

    def _deliver(self, msg: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put_all(msg)
        else:
            loop.call_soon_threadsafe(self._put_all, msg)
