"""``crimemap users add/revoke/list``: API users and their tokens.

Plain functions; the application registers them as a ``users`` sub-app.
A new token is printed once and never stored (only its argon2 hash is).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crimemap.cli._common import console, handle_errors, store_from_cli
from crimemap.safeguards.users import add_user, list_users, revoke_user

__all__ = ["users_add", "users_revoke", "users_list"]

_STORE_HELP = "Store URL or DuckDB path (default: settings)."


@handle_errors
def users_add(
    name: Annotated[str, typer.Option(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="public, analyst or admin.")] = "analyst",
    forces: Annotated[
        list[str] | None,
        typer.Option("--force", help="Force whose data the user may see (repeat; '*' = all)."),
    ] = None,
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
) -> None:
    """Create a user and print their API token (shown once, never stored)."""
    with store_from_cli(store) as st:
        info, token = add_user(st, name, role, forces or [], actor="cli")
    console.print(
        f"user [bold]{info.name}[/bold] ({info.role.value}, forces: {', '.join(info.forces) or '-'})"
    )
    console.print("API token (copy it now: it cannot be shown again):")
    console.print(token, soft_wrap=True)


@handle_errors
def users_revoke(
    name: Annotated[str, typer.Option(help="User to revoke (with all their tokens).")],
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
) -> None:
    """Revoke a user and every token of theirs (kept in the audit trail)."""
    with store_from_cli(store) as st:
        info = revoke_user(st, name, actor="cli")
    console.print(f"revoked user [bold]{info.name}[/bold] at {info.revoked_at:%Y-%m-%d %H:%M} UTC")


@handle_errors
def users_list(
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
) -> None:
    """List users, roles, forces and active tokens (never the tokens)."""
    with store_from_cli(store) as st:
        users = list_users(st)
    t = Table(title="users")
    for c in ("name", "role", "forces", "active tokens", "created", "revoked"):
        t.add_column(c)
    for u in users:
        t.add_row(
            u.name,
            u.role.value,
            ", ".join(u.forces) or "-",
            str(u.active_tokens),
            f"{u.created_at:%Y-%m-%d}",
            "" if u.revoked_at is None else f"{u.revoked_at:%Y-%m-%d}",
        )
    console.print(t)
