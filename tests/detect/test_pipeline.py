from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crimemap.detect.outputs import parse_unit
from crimemap.detect.pipeline import clip_to_area, run_hotspots
from crimemap.errors import InputError
from crimemap.table import IncidentTable


def _synthetic(seed: int = 0) -> IncidentTable:
    rng = np.random.default_rng(seed)
    n = 6000
    months = np.datetime64("2021-01") + rng.integers(0, 12, n)
    xy = rng.uniform(420_000, 426_000, (n, 2))
    hot = rng.random(n) < 0.3
    xy[hot] = rng.normal(423_000, 150, (hot.sum(), 2))
    cats = np.where(rng.random(n) < 0.5, "burglary", "violent-crime")
    return IncidentTable.from_columns(
        category=list(cats),
        t_start=months.astype("datetime64[s]"),
        x=xy[:, 0],
        y=xy[:, 1],
        force=["synthetic"] * n,
    )


@pytest.mark.parametrize("method", ["kde", "gi", "lisa", "emerging"])
def test_every_method_runs_on_grid(method: str) -> None:
    run = run_hotspots(
        _synthetic(),
        categories={"burglary", "violent-crime"},
        unit=parse_unit("grid:250"),
        method=method,
        permutations=199,
    )
    n = len(run.units)
    assert all(len(v) == n for v in run.columns.values())
    assert run.concentration is not None and run.concentration.sufficient
    centre = np.argmin(np.hypot(*(run.units.centroids - 423_000).T))
    if method == "gi":
        assert run.columns["hotspot"][centre] == "hot"
    if method == "lisa":
        assert run.columns["cluster"][centre] == "high-high"
    if method == "kde":
        assert run.columns["density_km2"][centre] >= np.quantile(run.columns["density_km2"], 0.95)
    if method == "emerging":
        assert "persistent" in run.columns["category"][centre]


def test_harm_and_h3() -> None:
    run = run_hotspots(
        _synthetic(),
        categories={"burglary"},
        unit=parse_unit("h3:8"),
        method="gi",
        harm=True,
        permutations=99,
    )
    assert (run.columns["harm"] >= run.columns["count"]).all()
    with pytest.raises(InputError):
        run_hotspots(
            _synthetic(), categories={"burglary"}, unit=parse_unit("grid:250"), method="nope"
        )


def test_clip_drops_far_points() -> None:
    inc = _synthetic()
    far = IncidentTable.from_columns(
        category=["burglary"],
        t_start=np.array(["2021-01-01"], "datetime64[s]"),
        x=[100_000.0],
        y=[100_000.0],
        force=["synthetic"],
    )
    both = IncidentTable.concat([inc, far])
    assert len(clip_to_area(both)) == len(inc)


@pytest.mark.slow
def test_cli_on_real_store(tmp_path: Path, police_uk: Path, lsoa_dir: Path, store_url: str) -> None:
    # On both backends: the CLI opens the store by its --store value.
    from typer.testing import CliRunner

    from crimemap.cli.app import app
    from crimemap.ingest import ingest
    from crimemap.store import open_store

    months = ["2021-01", "2021-02", "2021-03"]
    db = store_url
    with open_store(db) as st:
        ingest(st, [police_uk / m / f"{m}-northumbria-street.csv.gz" for m in months])
    runner = CliRunner()
    out = tmp_path / "hs"
    r = runner.invoke(
        app,
        [
            "hotspots",
            "northumbria",
            "--store",
            str(db),
            "--out",
            str(out),
            "--png",
            "--permutations",
            "99",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "hot / cold" in r.output
    assert (out / "northumbria_all-crime_grid250_gi.parquet").exists()
    assert (out / "northumbria_all-crime_grid250_gi.png").exists()
    r = runner.invoke(
        app,
        [
            "hotspots",
            "northumbria",
            "--store",
            str(db),
            "--out",
            str(out),
            "--unit",
            "lsoa",
            "--boundaries",
            str(lsoa_dir),
            "--method",
            "lisa",
        ],
    )
    assert r.exit_code == 0, r.output
    # Three months are too few for emerging hot spots: a plain error, no traceback.
    r = runner.invoke(
        app,
        ["hotspots", "northumbria", "--store", str(db), "--method", "emerging", "--out", str(out)],
    )
    assert r.exit_code == 1 and "at least 10 periods" in r.output
