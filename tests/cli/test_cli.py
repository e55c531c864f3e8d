"""The command line, run in-process with Typer's runner on real files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from crimemap.cli.app import app
from crimemap.store import open_store

from ..ingest._helpers import row, write

runner = CliRunner()


def test_ingest_status_export(tmp_path: Path, police_uk: Path, store_url: str) -> None:
    db = store_url
    files = [str(p) for p in sorted(police_uk.glob("2024-0[12]/*north-yorkshire-street.csv.gz"))]
    r = runner.invoke(app, ["ingest", *files, "--store", db])
    assert r.exit_code == 0, r.output
    assert "2 file(s) ingested" in r.output and "kept:repeated_record_without_id" in r.output
    r = runner.invoke(app, ["ingest", *files, "--store", db])
    assert "0 file(s) ingested, 2 skipped" in r.output
    r = runner.invoke(app, ["status", "--store", db, "--months"])
    assert r.exit_code == 0 and "north-yorkshire" in r.output and "2024-02" in r.output
    out = tmp_path / "inc.parquet"
    r = runner.invoke(app, ["export", "incidents", str(out), "--store", db])
    assert r.exit_code == 0 and out.exists()
    exported = pq.read_table(out)
    with open_store(db, read_only=True) as st:
        status = st.status()
    # The export holds every stored incident, one row each, in its two months.
    assert exported.num_rows == status.incidents == sum(n for _, n in status.by_month) > 0
    assert [m for m, _ in status.by_month] == ["2024-01", "2024-02"]
    assert len(set(exported["incident_id"].to_pylist())) == exported.num_rows


def test_ingest_error_is_plain_and_exit_code_2(tmp_path: Path) -> None:
    bad = write(tmp_path / "2024-01-north-yorkshire-street.csv", [row("a", month="2024-13")])
    r = runner.invoke(app, ["ingest", str(bad), "--store", str(tmp_path / "c.duckdb")])
    assert r.exit_code == 2
    assert "row 2" in r.output and "'Month'" in r.output and "unparseable_month" in r.output
    assert "Traceback" not in r.output


def test_quarantine_policy_from_cli(tmp_path: Path, store_url: str) -> None:
    f = write(tmp_path / "2024-01-north-yorkshire-street.csv", [row("a"), row("b", month="x")])
    db = store_url
    r = runner.invoke(app, ["ingest", str(f), "--policy", "quarantine", "--store", db])
    assert r.exit_code == 0 and "1 rejected" in r.output
    r = runner.invoke(app, ["status", "--store", db])
    assert "unparseable_month" in r.output


def test_demo_runs_on_bundled_sample(tmp_path: Path) -> None:
    r = runner.invoke(app, ["demo", "--store", str(tmp_path / "demo.duckdb"), "--no-serve"])
    assert r.exit_code == 0, r.output
    assert "15 file(s) ingested" in r.output


def test_ingest_and_export_are_audited_and_chain_verifies(tmp_path: Path, store_url: str) -> None:
    from crimemap.safeguards import audit_rows, verify_chain

    db = store_url
    f = write(tmp_path / "2024-01-north-yorkshire-street.csv", [row("a"), row("b")])
    assert runner.invoke(app, ["ingest", str(f), "--store", db]).exit_code == 0
    out = tmp_path / "x.parquet"
    assert runner.invoke(app, ["export", "incidents", str(out), "--store", db]).exit_code == 0
    r = runner.invoke(app, ["audit", "verify", "--store", db])
    assert r.exit_code == 0, r.output
    with open_store(db) as st:
        rows = audit_rows(st)
        assert [x.action for x in rows] == ["ingest", "export"]
        assert rows[0].n_rows == 2 and rows[1].n_rows == 2
        assert verify_chain(st).ok


def test_maintain_applies_retention(tmp_path: Path, store_url: str) -> None:
    db = store_url
    f = write(tmp_path / "2020-01-north-yorkshire-street.csv", [row("old", month="2020-01")])
    assert runner.invoke(app, ["ingest", str(f), "--store", db]).exit_code == 0
    r = runner.invoke(app, ["maintain", "--store", db, "--retention-months", "12"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["status", "--store", db])
    assert "0 incidents" in r.output
