"""Cross-process events through PostgreSQL ``LISTEN``/``NOTIFY`` (see :class:`PgChannel`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql as psql

from crimemap.errors import StoreError

__all__ = ["MAX_PAYLOAD", "PgChannel"]

log = logging.getLogger("crimemap.store")

#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD = 7999


class PgChannel:
    """One named channel of the database: publish to it, or listen on it in a thread.

    Publishing and listening each use a connection of their own (a
    listening connection waits for notifications and must not run the
    store's queries). Notifications are delivered only after the
    publisher's transaction commits, to every listener of the database,
    including the publisher's own process.

    Parameters
    ----------
    dsn : str
        libpq URL of the database.
    name : str
        Channel name (any text; quoted as an identifier for ``LISTEN``).
    """

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn = dsn
        self.name = name
        self._pub: psycopg.Connection[Any] | None = None
        self._pub_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, payload: str) -> None:
        """Send ``payload`` (< 8000 bytes of UTF-8) to every listener."""
        if len(payload.encode()) > MAX_PAYLOAD:
            raise StoreError(f"notification payload of {len(payload.encode())} bytes is too long")
        with self._pub_lock:
            for attempt in (1, 2):  # a connection lost since the last event is replaced once
                try:
                    if self._pub is None or self._pub.closed:
                        self._pub = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                    self._pub.execute("SELECT pg_notify(%s, %s)", [self.name, payload])
                    return
                except psycopg.OperationalError as exc:
                    self._pub = None
                    if attempt == 2:
                        raise StoreError(f"cannot notify {self.name!r}: {exc}") from exc
                except psycopg.Error as exc:
                    raise StoreError(f"cannot notify {self.name!r}: {exc}") from exc

    def listen(
        self,
        on_message: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
        poll_s: float = 0.5,
    ) -> None:
        """Call ``on_message(payload)`` for each notification, in a background thread.

        ``on_connect`` runs each time the listener (re)connects, after
        ``LISTEN``: events missed while disconnected can be caught up there.
        Errors raised by the callbacks are logged, not propagated.
        """
        if self._thread is not None:
            raise StoreError(f"already listening on {self.name!r}")
        ready = threading.Event()

        def run() -> None:
            backoff = 0.5
            while not self._stop.is_set():
                try:
                    with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                        conn.execute(psql.SQL("LISTEN {}").format(psql.Identifier(self.name)))
                        ready.set()
                        backoff = 0.5
                        if on_connect is not None:
                            self._safely(on_connect)
                        while not self._stop.is_set():
                            for n in conn.notifies(timeout=poll_s):
                                self._safely(on_message, n.payload)
                except psycopg.Error as exc:
                    log.warning("listener on %s lost its connection: %s", self.name, exc)
                    ready.set()
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)

        self._thread = threading.Thread(target=run, name=f"listen-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(15)

    @staticmethod
    def _safely(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # one bad event must not stop the listener
            log.exception("event handler failed")

    def close(self) -> None:
        """Stop listening and close the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._pub_lock:
            if self._pub is not None:
                self._pub.close()
                self._pub = None
