"""User and token management (``crimemap users add/revoke/list``).

Every change writes an audit row in the same transaction as the change, so
a user can never exist without the record of who created it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crimemap.errors import InputError, NotFoundError
from crimemap.safeguards._tables import AUDIT_LOCK
from crimemap.safeguards.access import ALL_FORCES, Principal, Role, hash_token, new_token
from crimemap.safeguards.audit import _actor, _append
from crimemap.store import Transaction

__all__ = ["UserInfo", "add_user", "issue_token", "list_users", "revoke_user"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class UserInfo:
    """A user as stored (never with a token).

    Attributes
    ----------
    name : str
    role : Role
    forces : tuple of str
        Sorted forces (``("*",)`` = every force).
    created_at, revoked_at : datetime or None
    active_tokens : int
        Tokens not revoked.
    """

    name: str
    role: Role
    forces: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    active_tokens: int

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, frozenset(self.forces))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check_forces(role: Role, forces: Iterable[str]) -> list[str]:
    fs = sorted({f.strip() for f in forces if f and f.strip()})
    if role is Role.ADMIN:
        return [ALL_FORCES]
    if role is Role.ANALYST and not fs:
        raise InputError("an analyst needs at least one force (or '*' for every force)")
    for f in fs:
        if f != ALL_FORCES and not re.fullmatch(r"[a-z0-9-]+", f):
            raise InputError(f"invalid force slug {f!r}")
    return fs


def _issue(tx: Transaction, name: str, now: datetime) -> tuple[str, str]:
    token_id, token = new_token()
    tx.execute(
        "INSERT INTO tokens VALUES (?, ?, ?, ?, NULL)", [token_id, name, hash_token(token), now]
    )
    return token_id, token


def add_user(
    store: Any,
    name: str,
    role: str | Role,
    forces: Iterable[str] = (),
    *,
    actor: Any = "cli",
    now: datetime | None = None,
) -> tuple[UserInfo, str]:
    """Create a user and their first API token.

    Returns
    -------
    (UserInfo, str)
        The user and the token, which is shown once and never stored.

    Raises
    ------
    crimemap.errors.InputError
        Bad name or forces, or the user already exists.
    """
    if not _NAME.match(name or ""):
        raise InputError(f"invalid user name {name!r} (letters, digits, . _ @ -; max 64)")
    r = Role.parse(role)
    fs = _check_forces(r, forces)
    now = now or _now()
    who, who_role = _actor(actor)
    with store.transaction() as tx:
        # Under the audit lock, so two processes cannot both create the user.
        tx.lock(AUDIT_LOCK)
        if tx.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise InputError(f"user {name!r} already exists (revoke it first or pick another name)")
        tx.execute("INSERT INTO users VALUES (?, ?, ?, ?, NULL)", [name, r.value, fs, now])
        token_id, token = _issue(tx, name, now)
        _append(
            tx,
            actor=who,
            role=who_role,
            action="user.add",
            force=None,
            area=None,
            n_rows=1,
            detail={"user": name, "role": r.value, "forces": fs, "token_id": token_id},
            now=now,
        )
    return UserInfo(name, r, tuple(fs), now, None, 1), token


def issue_token(store: Any, name: str, *, actor: Any = "cli", now: datetime | None = None) -> str:
    """A new API token for an existing, active user (e.g. to rotate tokens)."""
    now = now or _now()
    who, who_role = _actor(actor)
    with store.transaction() as tx:
        tx.lock(AUDIT_LOCK)
        row = tx.execute("SELECT revoked_at FROM users WHERE name = ?", [name]).fetchone()
        if row is None or row[0] is not None:
            raise NotFoundError(f"no active user {name!r}")
        token_id, token = _issue(tx, name, now)
        _append(
            tx,
            actor=who,
            role=who_role,
            action="user.add",
            force=None,
            area=None,
            n_rows=1,
            detail={"user": name, "token_id": token_id, "kind": "token"},
            now=now,
        )
    return token


def revoke_user(
    store: Any, name: str, *, actor: Any = "cli", now: datetime | None = None
) -> UserInfo:
    """Revoke a user and every token of theirs (rows are kept for the audit trail).

    Raises
    ------
    crimemap.errors.NotFoundError
        If there is no active user of that name.
    """
    now = now or _now()
    who, who_role = _actor(actor)
    with store.transaction() as tx:
        tx.lock(AUDIT_LOCK)
        row = tx.execute(
            "SELECT role, forces, created_at FROM users WHERE name = ? AND revoked_at IS NULL",
            [name],
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no active user {name!r}")
        tx.execute("UPDATE users SET revoked_at = ? WHERE name = ?", [now, name])
        (n_tok,) = tx.execute(
            "SELECT count(*) FROM tokens WHERE user_name = ? AND revoked_at IS NULL", [name]
        ).fetchone() or (0,)
        tx.execute(
            "UPDATE tokens SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL",
            [now, name],
        )
        _append(
            tx,
            actor=who,
            role=who_role,
            action="user.revoke",
            force=None,
            area=None,
            n_rows=int(n_tok),
            detail={"user": name, "tokens_revoked": int(n_tok)},
            now=now,
        )
    return UserInfo(name, Role.parse(row[0]), tuple(row[1]), row[2], now, 0)


def list_users(store: Any, *, include_revoked: bool = True) -> list[UserInfo]:
    """Every user, by name, with their count of active tokens."""
    with store.transaction() as tx:
        rows = tx.execute(
            """SELECT u.name, u.role, u.forces, u.created_at, u.revoked_at,
                      count(t.token_id) FILTER (WHERE t.revoked_at IS NULL)
               FROM users u LEFT JOIN tokens t ON t.user_name = u.name
               GROUP BY u.name, u.role, u.forces, u.created_at, u.revoked_at
               ORDER BY u.name"""
        ).fetchall()
    out = [UserInfo(r[0], Role.parse(r[1]), tuple(r[2]), r[3], r[4], int(r[5])) for r in rows]
    return [u for u in out if include_revoked or u.revoked_at is None]
