"""Markdown/HTML report with curves and run parameters."""

from __future__ import annotations

import json

import pandas as pd

from crimemap.evaluate import BacktestConfig, backtest, write_report

from ._synth import table


def test_report_files_best_marked_and_parameters(tmp_path):
    cfg = BacktestConfig(n_seeds=4)
    res = backtest(
        table(),
        crime_sets=["burglary", "all-crime"],
        models=["_test_recorder"],
        n_origins=3,
        config=cfg,
    )
    files = write_report(res, tmp_path / "rep", title="Toy", params={"force": "synthetic"})
    md = files.markdown.read_text()
    assert md.startswith("# Toy")
    assert "## synthetic - burglary" in md and "## synthetic - all-crime" in md
    assert "oracle (reference)" in md and "hindsight (reference)" in md
    # The only forecast is the best of each column; reference rows are never bold.
    rec_line = next(line for line in md.splitlines() if line.startswith("| _test_recorder"))
    assert "**" in rec_line
    oracle_line = next(line for line in md.splitlines() if line.startswith("| oracle"))
    assert "**" not in oracle_line
    assert len(files.curves) == 2 and all(p.stat().st_size > 1000 for p in files.curves)
    assert all(p.name in md for p in files.curves)
    assert "<table>" in files.html.read_text()
    run = json.loads(files.run_json.read_text())
    assert run["config"]["n_seeds"] == 4 and run["config"]["cell_size"] == 250.0
    assert run["invocation"] == {"force": "synthetic"}
    assert run["data"][0]["origins"][0].startswith("2020-03")
    assert {m["name"] for m in run["data"][0]["models"]} == {
        "oracle",
        "hindsight",
        "_test_recorder",
    }
    summ = pd.read_csv(files.summary_csv)
    assert {"mean", "lo", "hi", "n", "metric"} <= set(summ.columns)
