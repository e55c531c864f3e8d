"""Session cookies: sign, verify, expiry, tampering; and the cookie attributes."""

from __future__ import annotations

import pytest

from crimemap.errors import AuthenticationError, InputError
from crimemap.safeguards import COOKIE_ATTRIBUTES, new_session_id, sign_session, verify_session

KEY = b"k" * 32
T0 = 1_700_000_000.0


def test_round_trip_and_expiry():
    sid = new_session_id()
    c = sign_session(sid, KEY, now=T0, ttl=60)
    assert verify_session(c, KEY, now=T0) == sid
    assert verify_session(c, KEY, now=T0 + 59) == sid
    with pytest.raises(AuthenticationError, match="expired"):
        verify_session(c, KEY, now=T0 + 60)


def test_tampering_is_detected():
    sid = new_session_id()
    c = sign_session(sid, KEY, now=T0, ttl=60)
    s, exp, sig = c.split(".")
    forged = [
        f"{s}.{int(exp) + 3600}.{sig}",  # extended expiry
        f"{new_session_id()}.{exp}.{sig}",  # other session
        f"{s}.{exp}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",  # edited signature
        f"{s}.{exp}",
        "",
        None,
        "a.b.c",
    ]
    for f in forged:
        with pytest.raises(AuthenticationError):
            verify_session(f, KEY, now=T0)
    with pytest.raises(AuthenticationError):
        verify_session(c, b"x" * 32, now=T0)  # another key


def test_bad_inputs_and_attributes():
    with pytest.raises(InputError):
        sign_session("abc", b"short", now=T0)
    with pytest.raises(InputError):
        sign_session("a.b", KEY, now=T0)
    assert COOKIE_ATTRIBUTES["httponly"] is True
    assert COOKIE_ATTRIBUTES["samesite"] == "strict"
    assert COOKIE_ATTRIBUTES["secure"] is True
