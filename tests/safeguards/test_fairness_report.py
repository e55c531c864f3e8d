"""Fairness report files (JSON, HTML, Markdown, figures)."""

from __future__ import annotations

from crimemap.safeguards.fairness import fairness_audit
from crimemap.safeguards.feedback import FeedbackConfig
from tests.safeguards._synth import synthetic_incidents, two_imd, two_polys


def test_report_writes_json_html_markdown(tmp_path):
    import json

    from crimemap.safeguards.fairness_report import write_fairness_report

    r = fairness_audit(
        synthetic_incidents(),
        force="f",
        imd=two_imd(),
        polys=two_polys(),
        cell_m=250.0,
        top_share=0.1,
        n_origins=3,
        feedback=FeedbackConfig(months=6),
    )
    files = write_fairness_report([r], tmp_path)
    doc = json.loads(files.json.read_text())
    (res,) = doc["results"]
    assert res["force"] == "f" and len(res["deciles"]) == 11
    assert res["imd_match"]["rate"] == 1.0
    assert set(res["feedback"]) == {"stationary", "crime moves"}
    text = files.html.read_text()
    assert "Places and times only" in text and "decile" in text
    assert all(p.exists() for p in files.figures)
    assert "| decile |" in files.markdown.read_text()
