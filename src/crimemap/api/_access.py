"""Access control of the API: rate limit, principal, per-route action, audit.

Every request to ``/api`` is first rate-limited by token id (the public
``cm_<id>_`` prefix of a bearer token) or client address, *before* any
argon2 check, so a flood of bad tokens costs the server almost nothing.
Then :func:`get_principal` finds who is asking: a bearer token, else the
signed session cookie, else :data:`~crimemap.safeguards.ANONYMOUS` (role
``public``). Each route declares one action of
:data:`crimemap.safeguards.ACTIONS` through :func:`require` (and in its
OpenAPI ``x-crimemap-action``); refusals are audited (``auth.failed``,
``auth.denied``), as are reads of restricted data.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from crimemap.api.errors import error_response
from crimemap.errors import AccessDenied, AuthenticationError, ConfigError, RateLimited
from crimemap.safeguards import (
    ACTIONS,
    ANONYMOUS,
    COOKIE_ATTRIBUTES,
    COOKIE_NAME,
    Principal,
    TokenBucketLimiter,
    authenticate,
    authorise,
    ensure_tables,
    new_session_id,
    record,
    sign_session,
    verify_session,
)
from crimemap.safeguards.access import parse_token
from crimemap.settings import Settings

__all__ = [
    "ACTION_KEY",
    "AUTH_ACTION",
    "Guard",
    "RateLimit",
    "Who",
    "audit",
    "check",
    "get_guard",
    "get_principal",
    "require",
]

log = logging.getLogger("crimemap.api")

#: OpenAPI extension naming the action a route needs.
ACTION_KEY = "x-crimemap-action"
#: Pseudo-action of the routes that authenticate (sign in and out): open to all.
AUTH_ACTION = "auth"


class Guard:
    """The access state of one API process: limiter, session map, token cache.

    Parameters
    ----------
    settings : Settings
        Rate limit, session key and lifetimes, cookie flags.
    store : Store
        The store holding users, tokens and the audit log.
    clock : callable
        Wall-clock seconds (sessions); tests may pass a fake one.
    """

    def __init__(
        self, settings: Settings, store: Any, clock: Callable[[], float] = time.time
    ) -> None:
        ensure_tables(store)
        self.store = store
        self.settings = settings
        self.clock = clock
        self.limiter = TokenBucketLimiter(settings.rate_limit_per_s, settings.rate_burst)
        if settings.session_key is not None:
            key = settings.session_key.get_secret_value().encode()
            if len(key) < 32:
                raise ConfigError("CRIMEMAP_SESSION_KEY must be at least 32 bytes")
        else:
            key = secrets.token_bytes(32)
            log.warning(
                "no CRIMEMAP_SESSION_KEY set: using a random key, so sessions end on restart"
            )
        self._key = key
        self._sessions: dict[str, tuple[Principal, float]] = {}
        # sha256(token) -> (principal, expiry): one argon2 check per token and
        # ``token_cache_s``, not per request. Only digests are kept, in memory.
        self._tokens: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ tokens
    def authenticate(self, token: str) -> Principal:
        """The principal of a bearer token (argon2-verified at most every ``token_cache_s``)."""
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._tokens.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = authenticate(self.store, token)
        with self._lock:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[digest] = (principal, now + self.settings.token_cache_s)
        return principal

    # ---------------------------------------------------------- sessions
    def open_session(self, principal: Principal) -> str:
        """A new session for ``principal``; returns the signed cookie value."""
        now = self.clock()
        ttl = self.settings.session_ttl_s
        sid = new_session_id()
        with self._lock:
            for k in [k for k, (_, exp) in self._sessions.items() if exp <= now]:
                del self._sessions[k]
            self._sessions[sid] = (principal, now + ttl)
        return sign_session(sid, self._key, now=now, ttl=ttl)

    def session(self, cookie: str) -> Principal:
        """The principal of a session cookie.

        Raises
        ------
        crimemap.errors.AuthenticationError
            Bad signature, expired, or unknown (ended or from before a restart).
        """
        now = self.clock()
        sid = verify_session(cookie, self._key, now=now)
        with self._lock:
            hit = self._sessions.get(sid)
        if hit is None or hit[1] <= now:
            raise AuthenticationError("session ended; sign in again")
        return hit[0]

    def close_session(self, cookie: str | None) -> None:
        """End a session (no error if it is unknown or invalid)."""
        try:
            sid = verify_session(cookie, self._key, now=self.clock())
        except AuthenticationError:
            return
        with self._lock:
            self._sessions.pop(sid, None)

    @property
    def cookie_attributes(self) -> dict[str, Any]:
        """``set_cookie`` keyword arguments (COOKIE_ATTRIBUTES, Secure per settings)."""
        attrs = dict(COOKIE_ATTRIBUTES)
        attrs["secure"] = bool(self.settings.cookie_secure)
        attrs["max_age"] = int(self.settings.session_ttl_s)
        return attrs


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def rate_key(headers: Mapping[str, str], client: str | None) -> str:
    """Bucket of a request: its token id, else its client address."""
    token = _bearer(headers)
    if token:
        try:
            return "token:" + parse_token(token)
        except AuthenticationError:
            pass
    return "addr:" + (client or "unknown")


class RateLimit:
    """ASGI middleware: one token bucket per token id or address on ``/api``."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api"):
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            client = scope.get("client")
            try:
                self.guard.limiter.check(rate_key(headers, client[0] if client else None))
            except RateLimited as exc:
                await error_response(exc, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def get_guard(request: Request) -> Guard:
    """The process's :class:`Guard`."""
    guard: Guard = request.app.state.guard
    return guard


async def audit(
    request: Request,
    principal: Principal | str,
    action: str,
    *,
    force: str | None = None,
    area: str | None = None,
    n_rows: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an audit row (on a worker thread: it writes to the store)."""
    store = get_guard(request).store
    await run_in_threadpool(
        lambda: record(
            store, principal, action, force=force, area=area, n_rows=n_rows, detail=detail
        )
    )


async def get_principal(request: Request) -> Principal:
    """Who is asking: bearer token, else session cookie, else the anonymous public.

    Raises
    ------
    crimemap.errors.AuthenticationError
        A token or cookie was given but is invalid (audited ``auth.failed``).
    """
    guard = get_guard(request)
    token = _bearer(request.headers)
    cookie = request.cookies.get(COOKIE_NAME)
    try:
        if token is not None:
            return await run_in_threadpool(guard.authenticate, token)
        if cookie:
            return guard.session(cookie)
    except AuthenticationError as exc:
        await audit(
            request,
            ANONYMOUS,
            "auth.failed",
            detail={
                "path": request.url.path,
                "via": "token" if token is not None else "session",
                "reason": str(exc),
            },
        )
        raise
    return ANONYMOUS


Who = Annotated[Principal, Depends(get_principal)]


async def check(
    request: Request, principal: Principal, action: str, force: str | None = None
) -> None:
    """:func:`~crimemap.safeguards.authorise`, with refusals audited (``auth.denied``)."""
    try:
        authorise(principal, action, force)
    except AccessDenied as exc:
        await audit(
            request,
            principal,
            "auth.denied",
            force=force,
            detail={"path": request.url.path, "action": action, "reason": str(exc)},
        )
        raise


def require(action: str, *, scoped: bool = True) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the principal, once allowed to perform ``action``.

    The force checked is the request's ``force`` query parameter. With
    ``scoped=False`` (routes whose force is in the body) only the role is
    checked here, and the handler must call :func:`check` with the body's
    force. The returned callable carries ``.action`` so a test can walk the
    routes.
    """

    async def dependency(request: Request, principal: Who) -> Principal:
        if scoped:
            await check(request, principal, action, request.query_params.get("force") or None)
        elif principal.role.level < ACTIONS[action].level:
            await check(request, principal, action)
        return principal

    dependency.action = action  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{action.replace('.', '_')}"
    return dependency
