"""Transparency record from a real (sample) store, a back-test summary and a fairness report."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from crimemap.safeguards import (
    NOT_PREDICTED,
    Principal,
    Role,
    annotate,
    build_record,
    record_markdown,
    write_record,
)
from crimemap.store import DuckDBStore, Store

NOW = datetime(2025, 2, 10, 12, 0, 0)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def sample_store(request, tmp_path_factory):
    """Opener of a store of each backend holding three months of the bundled sample."""
    from crimemap.data import sample_police_uk
    from crimemap.ingest import ingest
    from tests._backends import drop_schema, new_schema, pg_test_url

    files = sorted(sample_police_uk().glob("2024-1*/*.csv.gz"))  # 2024-10 .. 2024-12
    if request.param == "duckdb":
        path = tmp_path_factory.mktemp("st") / "s.duckdb"

        def open_() -> Store:
            return DuckDBStore(path)

    else:
        from crimemap.store.postgres import PostgresStore

        url, schema = pg_test_url(), new_schema()

        def open_() -> Store:
            return PostgresStore(url, schema=schema)

    st = open_()
    ingest(st, files)
    st.close()
    yield open_
    if request.param == "postgres":
        drop_schema(url, schema)


def _backtest(tmp_path, pai_lo):
    d = tmp_path / "bt"
    d.mkdir()
    rows = [
        "force,crime_set,model,reference,horizon,metric,mean,lo,hi,n",
        f"north-yorkshire,all-crime,ewm,False,1,pai@5%,6.1,{pai_lo},7.0,12",
        "north-yorkshire,all-crime,ewm,False,1,hit@5%,0.31,0.28,0.34,12",
        "north-yorkshire,all-crime,lgbm,False,1,hit@5%,0.33,0.30,0.36,12",
        "north-yorkshire,all-crime,oracle,True,1,hit@5%,0.6,0.55,0.65,12",
    ]
    (d / "summary.csv").write_text("\n".join(rows) + "\n")
    (d / "run.json").write_text(json.dumps({"config": {"freq": "M", "cell_size": 500.0}}))
    return d


def _fairness(tmp_path, concerns):
    doc = {
        "results": [
            {
                "force": "north-yorkshire",
                "crime_set": "all-crime",
                "model": "ewm",
                "summary": ["line one.", "line two."],
                "imd_match": {"rate": 0.999},
                "concerns": concerns,
                "feedback": {"stationary": {"mean_recall": {"naive": 0.9, "reweighted": 0.9}}},
                "thresholds": {"exposure_high": 1.25},
            }
        ]
    }
    p = tmp_path / "fairness.json"
    p.write_text(json.dumps(doc))
    return p


def test_record_from_store_backtest_and_fairness(sample_store, tmp_path):
    st = sample_store()
    try:
        annotate(
            st, Principal("ann", Role.ANALYST, frozenset({"*"})), "g500:1:2", "dismiss", "event"
        )
        rec = build_record(
            st,
            config={"model": "ewm", "cell_m": 500, "crime_set": "all-crime", "owner": "Test PD"},
            now=NOW,
            backtest=_backtest(tmp_path, 5.2),
            fairness=_fairness(tmp_path, []),
        )
    finally:
        st.close()
    d = rec.data
    (src,) = d["data_sources"]
    assert src["source"] == "police.uk" and src["files"] == 3
    assert (src["first_month"], src["last_month"]) == ("2024-10", "2024-12")
    assert src["forces"] == ["north-yorkshire"]
    assert d["data_summary"]["incidents"] == src["rows_loaded"] > 10_000
    # only the deployed model and the references are quoted
    assert {r["model"] for r in d["accuracy"]["rows"]} == {"ewm", "oracle"}
    pai = next(r for r in d["accuracy"]["rows"] if r["metric"] == "pai@5%")
    assert (pai["mean"], pai["lo"], pai["hi"], pai["origins"]) == (6.1, 5.2, 7.0, 12)
    assert d["oversight"]["annotation_counts"] == {"dismiss": 1}
    assert d["oversight"]["audit"]["chain_ok"] and d["oversight"]["audit"]["rows"] == 1
    assert d["owner"]["organisation"] == "Test PD"
    assert d["not_predicted"] == list(NOT_PREDICTED)
    assert rec.triggered == ()  # data end 2024-12 is 2 months before NOW
    md = record_markdown(rec)
    assert "No person-level prediction" in md and "What is NOT predicted" in md
    assert "| north-yorkshire | all-crime | ewm | pai@5% | 6.1 | 5.2 .. 7.0 | 12 |" in md
    mdp, jsp = write_record(rec, tmp_path / "out")
    assert json.loads(jsp.read_text())["tier_1"]["name"] and mdp.read_text() == md


def test_switch_off_conditions_are_triggered(sample_store, tmp_path):
    st = sample_store()
    try:
        concern = {"kind": "exposure", "subject": "deciles 1-2", "message": "m"}
        rec = build_record(
            st,
            config={"model": "ewm"},
            now=datetime(2025, 6, 1),  # data ends 2024-12: stale
            backtest=_backtest(tmp_path, 0.9),  # PAI interval reaches 1
            fairness=_fairness(tmp_path, [concern]),
        )
        assert set(rec.triggered) == {"accuracy", "fairness", "data"}
        st.execute("UPDATE audit_log SET actor = 'x'")  # break the chain
        rec2 = build_record(st, config={"model": "ewm"}, now=datetime(2025, 1, 1))
        assert rec2.triggered == ("audit",)
        assert rec2.data["accuracy"]["available"] is False
    finally:
        st.close()
