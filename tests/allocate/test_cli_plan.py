"""``crimemap plan`` (the lead registers it in the app): run in-process on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crimemap.cli.app import app as main_app
from crimemap.cli.plan import plan

runner = CliRunner()
app = typer.Typer()
app.command()(plan)


@pytest.mark.slow
def test_plan_writes_geojson_and_pages(tmp_path: Path, police_uk: Path) -> None:
    db = str(tmp_path / "c.duckdb")
    files = [str(p) for p in sorted(police_uk.glob("2025-0[1-6]/*north-yorkshire-street.csv.gz"))]
    r = runner.invoke(main_app, ["ingest", *files, "--store", db])
    assert r.exit_code == 0, r.output
    out = tmp_path / "plan"
    args = ["--force", "north-yorkshire", "--areas", "3", "--max-cells", "9", "--store", db]
    r = runner.invoke(app, [*args, "--out", str(out), "--time-limit-s", "2"])
    assert r.exit_code == 0, r.output
    gj = json.loads((out / "north-yorkshire_all-crime_plan.geojson").read_text())
    assert len(gj["features"]) == 3
    assert all(f["properties"]["n_cells"] <= 9 for f in gj["features"])
    assert gj["properties"]["start"].startswith("2025-07")  # the month after the data
    pages = sorted((out / "north-yorkshire_all-crime_plan").glob("area_*.png"))
    assert len(pages) == 3
    assert "patrol plan" in r.output


def test_plan_errors_are_plain(tmp_path: Path, police_uk: Path) -> None:
    db = str(tmp_path / "c.duckdb")
    files = [str(p) for p in sorted(police_uk.glob("2025-0[12]/*north-yorkshire-street.csv.gz"))]
    assert runner.invoke(main_app, ["ingest", *files, "--store", db]).exit_code == 0
    r = runner.invoke(app, ["--force", "north-yorkshire", "--fairness-cap", "1.5", "--store", db])
    assert r.exit_code == 1 and "--imd" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["--force", "nowhere", "--store", db])
    assert r.exit_code == 1 and "no incidents" in r.output
