"""The safeguards CLI functions, registered on a local Typer app as the lead will."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from crimemap.cli.audit import audit_show, audit_verify
from crimemap.cli.fairness import fairness
from crimemap.cli.transparency import transparency
from crimemap.cli.users import users_add, users_list, users_revoke
from crimemap.safeguards import authenticate
from crimemap.store import open_store


def _app() -> typer.Typer:
    app = typer.Typer()
    users = typer.Typer()
    users.command("add")(users_add)
    users.command("revoke")(users_revoke)
    users.command("list")(users_list)
    audit = typer.Typer()
    audit.command("verify")(audit_verify)
    audit.command("show")(audit_show)
    app.add_typer(users, name="users")
    app.add_typer(audit, name="audit")
    app.command("fairness")(fairness)
    app.command("transparency")(transparency)
    return app


def test_users_and_audit_commands(tmp_path, monkeypatch, store_url):
    # On both backends: the CLI opens the store by its --store value.
    monkeypatch.chdir(tmp_path)
    db = store_url
    run = CliRunner().invoke
    app = _app()
    r = run(
        app,
        [
            "users",
            "add",
            "--name",
            "alice",
            "--role",
            "analyst",
            "--force",
            "northumbria",
            "--store",
            db,
        ],
    )
    assert r.exit_code == 0, r.output
    token = re.search(r"(cm_[0-9a-f]{12}_\S+)", r.output).group(1)
    with open_store(db) as st:
        assert authenticate(st, token).user == "alice"
    r = run(app, ["users", "list", "--store", db])
    assert r.exit_code == 0 and "alice" in r.output and token not in r.output
    r = run(app, ["users", "add", "--name", "bob", "--role", "analyst", "--store", db])
    assert r.exit_code == 1  # an analyst needs a force
    r = run(app, ["users", "revoke", "--name", "alice", "--store", db])
    assert r.exit_code == 0
    r = run(app, ["audit", "verify", "--store", db])
    assert r.exit_code == 0 and "2 row(s)" in r.output
    r = run(app, ["audit", "show", "--store", db])
    assert "user.add" in r.output and "user.revoke" in r.output
    with open_store(db) as st:
        st.execute("DELETE FROM audit_log WHERE seq = 1")
    r = run(app, ["audit", "verify", "--store", db])
    assert r.exit_code == 1 and "row 2" in r.output


def test_transparency_command(tmp_path, monkeypatch, store_url):
    monkeypatch.chdir(tmp_path)
    db = store_url
    r = CliRunner().invoke(
        _app(), ["transparency", "--store", db, "--out", str(tmp_path / "t"), "--owner", "Test PD"]
    )
    assert r.exit_code == 0, r.output
    text = (tmp_path / "t" / "transparency.md").read_text()
    assert "Test PD" in text and "No person-level prediction" in text
    with open_store(db) as st:
        rows = [tuple(r.values()) for r in st.query("SELECT action FROM audit_log").to_pylist()]
    assert rows == [("transparency.record",)]


@pytest.mark.slow
def test_fairness_command_on_an_ingested_store(
    tmp_path, monkeypatch, police_uk, lsoa_dir, imd_dir, store_url
):
    from crimemap.ingest import ingest

    monkeypatch.chdir(tmp_path)
    db = store_url
    with open_store(db) as st:
        ingest(st, sorted(police_uk.glob("*/*-north-yorkshire-street.csv.gz"))[:14])
    out = tmp_path / "f"
    r = CliRunner().invoke(
        _app(),
        [
            "fairness",
            "--force",
            "north-yorkshire",
            "--store",
            db,
            "--out",
            str(out),
            "--imd",
            str(imd_dir),
            "--boundaries",
            str(lsoa_dir),
            "--origins",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "fairness.html").exists() and (out / "fairness.json").exists()
    assert "joined to IMD 2019" in r.output
    with open_store(db) as st:
        (row,) = [
            tuple(r.values()) for r in st.query("SELECT action, force FROM audit_log").to_pylist()
        ]
    assert row == ("fairness.report", "north-yorkshire")
