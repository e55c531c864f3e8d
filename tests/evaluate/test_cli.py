"""``crimemap backtest`` and ``crimemap forecast`` on a small real store."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from crimemap.cli.app import app
from crimemap.evaluate import EXPORT_COLUMNS
from crimemap.ingest import ingest
from crimemap.store import open_store

MONTHS = ("2025-08", "2025-09", "2025-10", "2025-11", "2025-12")


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def store_path(request, police_uk, tmp_path_factory):
    """``--store`` value of a small real store: a DuckDB file, or a PostgreSQL schema's URL."""
    from tests._backends import drop_schema, new_schema, pg_test_url, schema_url

    files = [police_uk / m / f"{m}-north-yorkshire-street.csv.gz" for m in MONTHS]
    if request.param == "duckdb":
        path = tmp_path_factory.mktemp("store") / "ny.duckdb"
        with open_store(path) as st:
            ingest(st, files)
        yield str(path)
        return
    from crimemap.store.postgres import PostgresStore

    url, schema = pg_test_url(), new_schema()
    with PostgresStore(url, schema=schema) as st:
        ingest(st, files)
    yield schema_url(url, schema)
    drop_schema(url, schema)


def test_backtest_command_writes_report_and_export(store_path, tmp_path):
    out = tmp_path / "rep"
    export = tmp_path / "pred.parquet"
    res = CliRunner().invoke(
        app,
        [
            "backtest", "--force", "north-yorkshire", "--crime-set", "all-crime",
            "--crime-set", "burglary", "--model", "last", "--model", "mean:k=3",
            "--origins", "2", "--out", str(out), "--export", str(export),
            "--store", str(store_path),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "pai@5%" in res.output
    md = (out / "report.md").read_text()
    assert "## north-yorkshire - burglary" in md and "mean:k=3" in md
    run = json.loads((out / "run.json").read_text())
    assert run["invocation"]["model"] == ["last", "mean:k=3"]
    assert run["data"][0]["origins"][0].startswith("2025-11")
    df = pd.read_parquet(export)
    assert tuple(df.columns) == EXPORT_COLUMNS
    assert set(df.origin) == {"2025-11", "2025-12"}
    assert set(df.model) == {"oracle", "hindsight", "last", "mean:k=3"}


def test_forecast_command_writes_surface_and_geojson(store_path, tmp_path):
    out = tmp_path / "f.parquet"
    res = CliRunner().invoke(
        app,
        [
            "forecast", "--force", "north-yorkshire", "--category", "burglary",
            "--horizon", "1m", "--model", "mean", "--out", str(out), "--store", str(store_path),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert set(df.origin) == {"2026-01"}  # the month after the data
    assert (df.score >= 0).all() and df.score.sum() > 0
    gj = json.loads(out.with_suffix(".geojson").read_text())
    assert len(gj["features"]) == int((df.score > 0).sum())


def test_unknown_force_is_a_clean_error(store_path):
    res = CliRunner().invoke(app, ["backtest", "--force", "atlantis", "--store", str(store_path)])
    assert res.exit_code == 1
    assert "no incidents" in res.output
