"""Access control: roles, principals, API tokens and the action table.

Roles are ordered ``public < analyst < admin``:

* ``public``: aggregated counts only, after disclosure control
  (:mod:`crimemap.safeguards.disclosure`); no record-level data and no
  forecasts of individual cells;
* ``analyst``: everything for their own forces (record-level incidents,
  hot spots, forecasts, explanations, back-tests, exports, annotations);
* ``admin``: everything, for every force, plus users, settings, ingest
  and retention.

:data:`ACTIONS` is the declarative table action -> minimum role;
:func:`authorise` is the only check the API needs per route.

API tokens look like ``cm_<token_id>_<secret>``. The store keeps the
``token_id`` (a random public prefix used to find the row) and the argon2id
hash of the whole token (argon2-cffi, RFC 9106 parameters); the token itself
is shown once, when created, and never stored.
"""

from __future__ import annotations

import contextlib
import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from crimemap.errors import AccessDenied, AuthenticationError, NotFoundError

__all__ = [
    "ACTIONS",
    "ANONYMOUS",
    "ALL_FORCES",
    "FORCE_SCOPED",
    "Principal",
    "Role",
    "authenticate",
    "authorise",
    "allowed",
    "hash_token",
    "new_token",
    "parse_token",
]

#: Marker in a user's forces meaning "every force".
ALL_FORCES = "*"
_PREFIX = "cm"


class Role(enum.StrEnum):
    """User roles, ordered by privilege."""

    PUBLIC = "public"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def level(self) -> int:
        """0 for public, 1 for analyst, 2 for admin."""
        return _LEVEL[self]

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """The role named ``value``.

        Raises
        ------
        crimemap.errors.NotFoundError
            For an unknown role name.
        """
        try:
            return cls(str(value).lower())
        except ValueError:
            raise NotFoundError(
                f"unknown role {value!r}; use one of {', '.join(r.value for r in cls)}"
            ) from None


_LEVEL = {Role.PUBLIC: 0, Role.ANALYST: 1, Role.ADMIN: 2}

#: Action -> minimum role. The API maps each route to one action.
ACTIONS: Mapping[str, Role] = MappingProxyType(
    {
        # public: aggregated, disclosure-controlled outputs and documentation
        "meta.read": Role.PUBLIC,
        "counts.read": Role.PUBLIC,
        "transparency.read": Role.PUBLIC,
        # analyst: restricted data of their own forces
        "incidents.read": Role.ANALYST,
        "hotspots.read": Role.ANALYST,
        "forecast.read": Role.ANALYST,
        "explain.read": Role.ANALYST,
        "series.read": Role.ANALYST,
        "backtest.run": Role.ANALYST,
        "fairness.run": Role.ANALYST,
        "export": Role.ANALYST,
        "annotate": Role.ANALYST,
        "stream.read": Role.ANALYST,
        # admin
        "incidents.write": Role.ADMIN,
        "ingest": Role.ADMIN,
        "users.manage": Role.ADMIN,
        "settings.write": Role.ADMIN,
        "audit.read": Role.ADMIN,
        "retention.apply": Role.ADMIN,
    }
)

#: Actions limited to the principal's own forces (analysts). Public actions
#: are aggregated over every force; admins have every force.
FORCE_SCOPED = frozenset(a for a, r in ACTIONS.items() if r is Role.ANALYST)


@dataclass(frozen=True)
class Principal:
    """An authenticated user.

    Attributes
    ----------
    user : str
        User name.
    role : Role
        Their role.
    forces : frozenset of str
        Forces whose restricted data they may see (:data:`ALL_FORCES` = all).
    """

    user: str
    role: Role
    forces: frozenset[str] = frozenset()

    def covers(self, force: str) -> bool:
        """True when the principal may see ``force``'s restricted data."""
        return self.role is Role.ADMIN or ALL_FORCES in self.forces or force in self.forces


#: The principal of an unauthenticated request.
ANONYMOUS = Principal("anonymous", Role.PUBLIC, frozenset())


def allowed(principal: Principal, action: str, force: str | None = None) -> bool:
    """True when :func:`authorise` would pass."""
    try:
        authorise(principal, action, force)
    except AccessDenied:
        return False
    return True


def authorise(principal: Principal, action: str, force: str | None = None) -> None:
    """Check that ``principal`` may perform ``action`` (on ``force``'s data).

    Raises
    ------
    crimemap.errors.NotFoundError
        For an action missing from :data:`ACTIONS` (a programming error:
        unknown actions are refused, never allowed by default).
    crimemap.errors.AccessDenied
        When the role is below the action's minimum role, or an analyst
        asks for a force outside their own (or for no force at all on a
        force-scoped action).
    """
    if action not in ACTIONS:
        raise NotFoundError(f"unknown action {action!r}")
    need = ACTIONS[action]
    if principal.role.level < need.level:
        raise AccessDenied(
            f"{principal.user!r} ({principal.role.value}) may not {action}: "
            f"needs the {need.value} role"
        )
    if action in FORCE_SCOPED and principal.role is not Role.ADMIN:
        if force is None:
            if ALL_FORCES not in principal.forces:
                raise AccessDenied(f"{action} needs a force (analysts see only their own forces)")
        elif not principal.covers(force):
            raise AccessDenied(f"{principal.user!r} may not see data of force {force!r}")


# ---------------------------------------------------------------- tokens
_HASHER = PasswordHasher()


def new_token() -> tuple[str, str]:
    """A fresh ``(token_id, token)``; the token embeds the id as its prefix."""
    token_id = secrets.token_hex(6)
    return token_id, f"{_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"


def parse_token(token: str) -> str:
    """The token id of a well-formed token.

    Raises
    ------
    crimemap.errors.AuthenticationError
        If the token is malformed.
    """
    parts = str(token).strip().split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or len(parts[1]) != 12 or len(parts[2]) < 20:
        raise AuthenticationError("malformed API token")
    return parts[1]


def hash_token(token: str) -> str:
    """argon2id hash of a token (salted; differs on every call)."""
    return _HASHER.hash(token)


def authenticate(store: Any, token: str | None) -> Principal:
    """The principal owning ``token``.

    The token id selects one row; the argon2 hash is verified in constant
    time (per hash). Revoked tokens and revoked users are refused.

    Raises
    ------
    crimemap.errors.AuthenticationError
        If the token is missing, malformed, unknown, wrong or revoked (the
        message does not say which, so it cannot be used to probe ids).
    """
    if not token:
        raise AuthenticationError("missing API token")
    token_id = parse_token(token)
    with store.transaction() as tx:
        row = tx.execute(
            """SELECT t.hash, u.name, u.role, u.forces FROM tokens t JOIN users u
               ON t.user_name = u.name
               WHERE t.token_id = ? AND t.revoked_at IS NULL AND u.revoked_at IS NULL""",
            [token_id],
        ).fetchone()
    if row is None:
        # Spend the same work as a real check so timing does not reveal ids.
        _dummy_verify(token)
        raise AuthenticationError("invalid or revoked API token")
    h, name, role, forces = row
    try:
        _HASHER.verify(h, token)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise AuthenticationError("invalid or revoked API token") from None
    return Principal(str(name), Role.parse(role), frozenset(forces or ()))


_DUMMY: list[str] = []


def _dummy_verify(token: str) -> None:
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash(secrets.token_urlsafe(16)))
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _HASHER.verify(_DUMMY[0], token)
