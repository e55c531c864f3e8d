"""Roles, tokens (hashed only), authenticate and authorise for every role x action."""

from __future__ import annotations

import itertools

import pytest

from crimemap.errors import AccessDenied, AuthenticationError, InputError, NotFoundError
from crimemap.safeguards import (
    ACTIONS,
    FORCE_SCOPED,
    SAFEGUARD_TABLES,
    Principal,
    Role,
    add_user,
    allowed,
    audit_rows,
    authenticate,
    authorise,
    issue_token,
    list_users,
    revoke_user,
)
from crimemap.store._schema import TABLES


def _scan_store(store, needle: str) -> list[str]:
    """Every (table, column) whose text contains ``needle``, over every table."""
    hits = []
    meta = "meta" if store.dialect.name == "duckdb" else "schema_version"
    for table in (*TABLES, *SAFEGUARD_TABLES, meta):
        for row in store.query(f"SELECT * FROM {table}").to_pylist():  # noqa: S608
            for c, v in row.items():
                if v is not None and needle in str(v):
                    hits.append(f"{table}.{c}")
    return hits


def test_token_is_stored_only_as_a_hash(store):
    _, tok_a = add_user(store, "alice", "analyst", ["northumbria"])
    _, tok_b = add_user(store, "root", "admin")
    tok_c = issue_token(store, "alice")
    for tok in (tok_a, tok_b, tok_c):
        secret = tok.split("_", 2)[2]
        assert _scan_store(store, tok) == []
        assert _scan_store(store, secret) == []
        assert _scan_store(store, secret[:16]) == []
    hashes = store.query("SELECT hash FROM tokens")["hash"].to_pylist()
    assert len(hashes) == 3 and all(h.startswith("$argon2id$") for h in hashes)


def test_authenticate_returns_principal_and_refuses_bad_tokens(store):
    _, tok = add_user(store, "alice", "analyst", ["northumbria", "leicestershire"])
    p = authenticate(store, tok)
    assert p == Principal("alice", Role.ANALYST, frozenset({"northumbria", "leicestershire"}))
    tid, secret = tok.split("_", 2)[1:]
    wrong = f"cm_{tid}_{'A' * len(secret)}"
    for bad in (None, "", "nonsense", wrong, f"cm_{'0' * 12}_{secret}", tok + "x"):
        with pytest.raises(AuthenticationError):
            authenticate(store, bad)


def test_revoked_user_and_tokens_are_refused(store):
    _, tok = add_user(store, "bob", "analyst", ["northumbria"])
    tok2 = issue_token(store, "bob")
    assert authenticate(store, tok2).user == "bob"
    info = revoke_user(store, "bob")
    assert info.revoked_at is not None
    for t in (tok, tok2):
        with pytest.raises(AuthenticationError):
            authenticate(store, t)
    (u,) = list_users(store)
    assert u.name == "bob" and u.active_tokens == 0 and u.revoked_at is not None
    with pytest.raises(NotFoundError):
        revoke_user(store, "bob")
    with pytest.raises(NotFoundError):
        issue_token(store, "bob")


def test_add_user_validation(store):
    with pytest.raises(InputError):
        add_user(store, "a b", "analyst", ["x"])
    with pytest.raises(InputError):
        add_user(store, "carol", "analyst", [])  # analysts need a force
    with pytest.raises(NotFoundError):
        add_user(store, "carol", "superuser")
    add_user(store, "carol", "public")
    with pytest.raises(InputError):
        add_user(store, "carol", "public")
    # admins always cover every force, whatever was asked
    info, _ = add_user(store, "root", "admin", ["northumbria"])
    assert info.forces == ("*",)


def test_user_changes_are_audited(store):
    _, _ = add_user(store, "alice", "analyst", ["northumbria"], actor="ops")
    issue_token(store, "alice", actor="ops")
    revoke_user(store, "alice", actor=Principal("root", Role.ADMIN, frozenset({"*"})))
    rows = audit_rows(store)
    assert [r.action for r in rows] == ["user.add", "user.add", "user.revoke"]
    assert [r.actor for r in rows] == ["ops", "ops", "root"]
    assert rows[2].role == "admin" and rows[2].n_rows == 2
    assert '"user":"alice"' in rows[0].detail


# Expected outcome of every role x action, written out from the policy in the
# module docstring rather than from ACTIONS (so a changed table fails here).
PUBLIC_OK = {"meta.read", "counts.read", "transparency.read"}
ANALYST_OK = PUBLIC_OK | {
    "incidents.read",
    "hotspots.read",
    "forecast.read",
    "explain.read",
    "series.read",
    "backtest.run",
    "fairness.run",
    "export",
    "annotate",
    "stream.read",
}


@pytest.mark.parametrize(("role", "action"), list(itertools.product(list(Role), sorted(ACTIONS))))
def test_every_role_x_action(role, action):
    expected = {Role.PUBLIC: PUBLIC_OK, Role.ANALYST: ANALYST_OK, Role.ADMIN: set(ACTIONS)}[role]
    p = Principal("u", role, frozenset({"northumbria"}))
    if action in expected:
        authorise(p, action, "northumbria")
        assert allowed(p, action, "northumbria")
    else:
        with pytest.raises(AccessDenied):
            authorise(p, action, "northumbria")
        assert not allowed(p, action, "northumbria")


@pytest.mark.parametrize("action", sorted(FORCE_SCOPED))
def test_analyst_is_limited_to_own_forces(action):
    p = Principal("a", Role.ANALYST, frozenset({"northumbria"}))
    authorise(p, action, "northumbria")
    with pytest.raises(AccessDenied):
        authorise(p, action, "leicestershire")
    with pytest.raises(AccessDenied):
        authorise(p, action, None)
    star = Principal("s", Role.ANALYST, frozenset({"*"}))
    authorise(star, action, "leicestershire")
    authorise(star, action, None)
    admin = Principal("r", Role.ADMIN, frozenset())
    authorise(admin, action, "leicestershire")


def test_public_actions_are_not_force_scoped():
    p = Principal("anon", Role.PUBLIC, frozenset())
    authorise(p, "counts.read", "leicestershire")
    authorise(p, "counts.read", None)


def test_unknown_action_is_refused():
    with pytest.raises(NotFoundError):
        authorise(Principal("r", Role.ADMIN, frozenset({"*"})), "drop.database")
