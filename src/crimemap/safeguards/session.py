"""Signed session cookies (HMAC-SHA256 with an expiry).

The browser UI exchanges an API token for a session once; the API then
sets a cookie whose value is ``<session_id>.<expires>.<signature>`` with
``signature = base64url(HMAC-SHA256(key, "<session_id>.<expires>"))``. The
cookie carries no role or user: the server maps the session id to a
principal. It must be set with :data:`COOKIE_ATTRIBUTES` (HttpOnly so
scripts cannot read it, SameSite=Strict against cross-site requests,
Secure so it never travels over plain HTTP).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from crimemap.errors import AuthenticationError, InputError

__all__ = [
    "COOKIE_ATTRIBUTES",
    "COOKIE_NAME",
    "new_session_id",
    "sign_session",
    "verify_session",
]

#: Name of the session cookie.
COOKIE_NAME = "crimemap_session"

#: Keyword arguments for ``Response.set_cookie`` (Starlette/FastAPI).
COOKIE_ATTRIBUTES: Mapping[str, Any] = MappingProxyType(
    {"httponly": True, "samesite": "strict", "secure": True, "path": "/"}
)

_MIN_KEY = 32


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _sig(key: bytes, msg: str) -> str:
    return _b64(hmac.new(key, msg.encode("ascii"), hashlib.sha256).digest())


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < _MIN_KEY:
        raise InputError(f"session key must be at least {_MIN_KEY} random bytes")


def new_session_id() -> str:
    """A random, URL-safe session id (256 bits)."""
    return secrets.token_urlsafe(32)


def sign_session(session_id: str, key: bytes, *, now: float, ttl: float = 8 * 3600) -> str:
    """The cookie value for ``session_id``, valid until ``now + ttl`` (Unix seconds)."""
    _check_key(key)
    if not session_id or "." in session_id or not session_id.isascii():
        raise InputError("session id must be non-empty ASCII without '.'")
    if ttl <= 0:
        raise InputError("session ttl must be positive")
    msg = f"{session_id}.{int(now + ttl)}"
    return f"{msg}.{_sig(key, msg)}"


def verify_session(cookie: str | None, key: bytes, *, now: float) -> str:
    """The session id of a valid, unexpired cookie.

    Raises
    ------
    crimemap.errors.AuthenticationError
        If the cookie is missing, malformed, tampered with (signature checked
        in constant time) or expired.
    """
    _check_key(key)
    if not cookie:
        raise AuthenticationError("no session")
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise AuthenticationError("malformed session cookie")
    sid, exp, sig = parts
    if not hmac.compare_digest(_sig(key, f"{sid}.{exp}"), sig):
        raise AuthenticationError("invalid session cookie")
    if now >= int(exp):
        raise AuthenticationError("session expired")
    return sid
