"""Transparency record: a model card and an ATRS-style record, from what is on disk.

The record is generated, not hand-written, so that it cannot drift from the
running system: data sources and their dates come from the store
(``files`` table and :meth:`~crimemap.store.base.Store.status`), the model
and its settings from the configuration passed in, accuracy (with
intervals over forecast origins) from the latest back-test's
``summary.csv`` and ``run.json`` (:func:`crimemap.evaluate.report.write_report`),
fairness from ``fairness.json`` (:mod:`crimemap.safeguards.fairness_report`),
and oversight from the annotation and audit tables.

The layout follows the UK Algorithmic Transparency Recording Standard
(ATRS, CDDO/DSIT 2023): tier 1 (a short summary for the public) and tier 2
(owner and responsibility, description and rationale, decision making and
human oversight, technical specification and data, risks, mitigations and
impact assessments), and the model-card sections of Mitchell et al. (2019).

References
----------
Central Digital and Data Office (2023). *Algorithmic Transparency Recording
Standard, version 2.1*.
Mitchell, M. et al. (2019). Model cards for model reporting. *FAT* '19*, 220-229.
College of Policing (2024). *Data-driven technologies: Authorised Professional
Practice*. NPCC (2023). *Covenant for using Artificial Intelligence in policing*.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crimemap.safeguards.audit import verify_chain

__all__ = [
    "NOT_PREDICTED",
    "SWITCH_OFF_CONDITIONS",
    "TransparencyRecord",
    "build_record",
    "record_markdown",
    "write_record",
]

#: What the system never predicts (stated in every record).
NOT_PREDICTED = (
    "No person-level prediction, ever: crimemap does not score, rank, identify or predict "
    "any person (victim, suspect, offender, resident or officer). It forecasts counts of "
    "recorded crime for places (grid cells or areas) and time windows only.",
    "It does not predict where or when a particular crime will happen, who will commit it, "
    "or why; a flagged place is one where more recorded crime is expected than elsewhere.",
    "Recorded crime is not all crime: it reflects what is reported and what police find.",
    "Forecasts are not evidence and must never be the sole grounds for a stop, search, "
    "arrest or any decision about a person.",
)

#: When the system should be switched off (or its forecasts withdrawn) - checked
#: automatically where possible (``id`` in :attr:`TransparencyRecord.triggered`).
SWITCH_OFF_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("audit", "The audit log's hash chain fails verification (crimemap audit verify)."),
    (
        "accuracy",
        "The latest back-test's PAI at 5 % of the area has a lower interval bound at or below 1 "
        "(no better than chance) for the deployed model, for any force it serves.",
    ),
    (
        "fairness",
        "The fairness audit marks the two most deprived deciles as flagged more than 1.25x "
        "their share of recorded crime, or finds a feedback-loop effect, and no documented "
        "review has accepted it.",
    ),
    (
        "data",
        "The newest data is more than 3 months old, or fewer than 95 % of located incidents "
        "join to the deprivation data.",
    ),
    (
        "disclosure",
        "Any public output fails the disclosure check (DisclosureError) in production.",
    ),
    (
        "misuse",
        "Forecasts are used to make decisions about individuals, or as the sole basis for "
        "enforcement action (not checkable automatically: report to the owner).",
    ),
)


@dataclass(frozen=True, eq=False)
class TransparencyRecord:
    """The generated record.

    Attributes
    ----------
    data : dict
        The whole record (ATRS tiers 1 and 2 plus the model card), JSON-ready.
    triggered : tuple of str
        Ids of :data:`SWITCH_OFF_CONDITIONS` that the available evidence
        shows are met (an empty tuple does not prove that none is).
    """

    data: dict[str, Any]
    triggered: tuple[str, ...]


def _data_sources(store: Any) -> list[dict[str, Any]]:
    with store.transaction() as tx:
        rows = tx.execute(
            """SELECT f.source, count(DISTINCT f.file_id), sum(f.rows_loaded),
                      min(i.first), max(i.last), max(f.ingested_at)
               FROM files f LEFT JOIN (
                   SELECT file_id, min(t_start) AS first, max(t_start) AS last
                   FROM incidents GROUP BY file_id) i USING (file_id)
               GROUP BY f.source ORDER BY f.source"""
        ).fetchall()
        forces = dict(
            tx.execute(
                "SELECT source, array_agg(DISTINCT force ORDER BY force) FROM incidents "
                "GROUP BY source"
            ).fetchall()
        )
    return [
        {
            "source": s,
            "files": int(nf),
            "rows_loaded": int(nr or 0),
            "first_month": None if a is None else str(a)[:7],
            "last_month": None if b is None else str(b)[:7],
            "last_ingest": None if c is None else str(c)[:19],
            "forces": list(forces.get(s, [])),
        }
        for s, nf, nr, a, b, c in rows
    ]


def _accuracy(backtest: Path | None, model: str) -> dict[str, Any]:
    if backtest is None:
        return {"available": False, "note": "no back-test given"}
    import pandas as pd

    folder = Path(backtest)
    # A folder, its summary.csv, or any file beside it (e.g. per_origin.csv).
    summ = folder / "summary.csv" if folder.is_dir() else folder.with_name("summary.csv")
    if not summ.exists():
        return {"available": False, "note": f"no back-test summary at {summ}"}
    df = pd.read_csv(summ)
    run = folder / "run.json" if folder.is_dir() else summ.with_name("run.json")
    keep = ("hit@5%", "pai@5%", "hit@20%", "spearman", "crps", "coverage90")
    rows = []
    models = sorted(set(df["model"]))
    chosen = model if model in models else None
    for r in df[df["metric"].isin(keep)].itertuples():
        if chosen is not None and r.model != chosen and not bool(r.reference):
            continue
        rows.append(
            {
                "force": r.force,
                "crime_set": r.crime_set,
                "model": r.model,
                "reference": bool(r.reference),
                "metric": r.metric,
                "mean": None if pd.isna(r.mean) else round(float(r.mean), 4),
                "lo": None if pd.isna(r.lo) else round(float(r.lo), 4),
                "hi": None if pd.isna(r.hi) else round(float(r.hi), 4),
                "origins": int(r.n),
            }
        )
    out: dict[str, Any] = {
        "available": True,
        "source": str(summ),
        "deployed_model_in_backtest": chosen is not None,
        "models": models,
        "interval": "95 % t-interval over forecast origins",
        "rows": rows,
    }
    if run.exists():
        cfg = json.loads(run.read_text()).get("config", {})
        out["config"] = {k: cfg.get(k) for k in ("freq", "cell_size", "n_seeds") if k in cfg}
    return out


def _fairness(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"available": False, "note": "no fairness report given"}
    p = Path(path)
    p = p / "fairness.json" if p.is_dir() else p
    if not p.exists():
        return {"available": False, "note": f"no fairness report at {p}"}
    doc = json.loads(p.read_text())
    return {
        "available": True,
        "source": str(p),
        "results": [
            {
                "force": r["force"],
                "crime_set": r["crime_set"],
                "model": r["model"],
                "summary": r["summary"],
                "imd_match_rate": r["imd_match"]["rate"],
                "concerns": r["concerns"],
                "feedback_mean_recall": {k: v["mean_recall"] for k, v in r["feedback"].items()},
            }
            for r in doc.get("results", [])
        ],
        "thresholds": doc["results"][0]["thresholds"] if doc.get("results") else {},
    }


def _oversight(store: Any) -> dict[str, Any]:
    with store.transaction() as tx:
        ann = dict(tx.execute("SELECT action, count(*) FROM annotations GROUP BY 1").fetchall())
    v = verify_chain(store)
    return {
        "decision_support": "Forecasts are decision support for analysts and supervisors. "
        "A person decides what, if anything, to do; the map shows the forecast's drivers, its "
        "interval and any annotation.",
        "annotations": "Analysts can confirm, note or dismiss a flagged place with a written "
        "reason; every annotation is stored and audited.",
        "annotation_counts": {k: int(n) for k, n in ann.items()},
        "audit": {"rows": v.rows, "chain_ok": v.ok, "head": v.head, "reason": v.reason},
    }


def _triggered(rec: dict[str, Any], now: datetime, model: str) -> list[str]:
    out = []
    if not rec["oversight"]["audit"]["chain_ok"]:
        out.append("audit")
    acc = rec["accuracy"]
    if acc.get("available"):
        for r in acc["rows"]:
            lo = r["lo"]
            if r["model"] == model and r["metric"] == "pai@5%" and lo is not None and lo <= 1.0:
                out.append("accuracy")
                break
    fair = rec["fairness"]
    if fair.get("available"):
        for r in fair["results"]:
            kinds = {(c["kind"], c["subject"]) for c in r["concerns"]}
            if ("exposure", "deciles 1-2") in kinds or any(k == "feedback" for k, _ in kinds):
                out.append("fairness")
                break
    stale = [
        s
        for s in rec["data_sources"]
        if s["last_month"] is not None
        and (int(now.year) * 12 + now.month)
        - (int(s["last_month"][:4]) * 12 + int(s["last_month"][5:7]))
        > 3
    ]
    low_match = fair.get("available") and any(r["imd_match_rate"] < 0.95 for r in fair["results"])
    if stale or low_match:
        out.append("data")
    return out


def build_record(
    store: Any,
    *,
    config: Mapping[str, Any],
    now: datetime,
    backtest: str | Path | None = None,
    fairness: str | Path | None = None,
) -> TransparencyRecord:
    """Generate the transparency record.

    Parameters
    ----------
    store : Store
        Source of the data inventory, annotations and audit chain.
    config : mapping
        The deployed configuration, e.g. ``{"model": "ewm", "model_params": {...},
        "cell_m": 500, "crime_set": "all-crime", "disclosure_threshold": 5,
        "retention_months": 36, "owner": "...", "contact": "..."}``.
    now : datetime
        Generation time (passed in, for reproducibility).
    backtest : path, optional
        A back-test report folder (``summary.csv`` + ``run.json``) or its ``summary.csv``.
    fairness : path, optional
        A fairness report folder or its ``fairness.json``.
    """
    cfg = dict(config)
    model = str(cfg.get("model", "ewm"))
    st = store.status()
    rec: dict[str, Any] = {
        "generated_at": now.replace(tzinfo=None).isoformat(timespec="seconds"),
        "tier_1": {
            "name": "crimemap place-based crime forecast",
            "description": (
                f"Forecasts how many crimes ({cfg.get('crime_set', 'all-crime')}) will be recorded "
                f"in each {cfg.get('cell_m', 500):g} m grid cell next month, from pooled police, "
                "council and social-services records, to help analysts decide where to look first."
            ),
            "website": cfg.get("website", "to be completed by the owner"),
            "contact": cfg.get("contact", "to be completed by the owner"),
        },
        "owner": {
            "organisation": cfg.get("owner", "to be completed by the owner"),
            "senior_responsible_owner": cfg.get("sro", "to be completed by the owner"),
        },
        "what_is_predicted": {
            "target": "expected count of recorded crime per place and time window",
            "places": f"{cfg.get('cell_m', 500):g} m grid cells (British National Grid)",
            "times": "calendar months (police.uk data is month-only)",
            "crime_set": cfg.get("crime_set", "all-crime"),
        },
        "not_predicted": list(NOT_PREDICTED),
        "model": {
            "name": model,
            "params": cfg.get("model_params", {}),
            "flagged_share": cfg.get("top_share", 0.05),
        },
        "data_sources": _data_sources(store),
        "data_summary": {
            "incidents": st.incidents,
            "by_force": dict(st.by_force),
            "months": [st.by_month[0][0], st.by_month[-1][0]] if st.by_month else [],
            "with_coordinates": st.with_coordinates,
            "rejected_rows": sum(n for _, n in st.rejects_by_reason),
        },
        "accuracy": _accuracy(None if backtest is None else Path(backtest), model),
        "fairness": _fairness(None if fairness is None else Path(fairness)),
        "oversight": _oversight(store),
        "safeguards": {
            "access": "Roles public (aggregated, disclosure-controlled counts only), analyst "
            "(their own forces), admin. API tokens stored only as argon2 hashes.",
            "disclosure": f"Public counts below {cfg.get('disclosure_threshold', 5)} suppressed, "
            "others rounded to base 5, on fixed calendar-month bins and grid cells; aggregates "
            "are sums of published cells (differencing-safe).",
            "audit": "Every restricted access, ingest, user change, export, retention run and "
            "annotation is written to a hash-chained, append-only audit log.",
            "retention": f"Incidents older than {cfg.get('retention_months', 'the configured')} "
            "months are deleted (audited).",
        },
        "switch_off_conditions": [{"id": i, "condition": c} for i, c in SWITCH_OFF_CONDITIONS],
    }
    trig = _triggered(rec, now, model)
    rec["switch_off_triggered"] = trig
    return TransparencyRecord(rec, tuple(trig))


def _md_list(items: Sequence[str]) -> list[str]:
    return [f"- {s}" for s in items]


def record_markdown(rec: TransparencyRecord) -> str:
    """The record as a Markdown model card."""
    d = rec.data
    t1 = d["tier_1"]
    lines = [f"# Transparency record: {t1['name']}", "", f"Generated {d['generated_at']} UTC.", ""]
    lines += ["## Summary (ATRS tier 1)", "", t1["description"], ""]
    lines += [f"- Contact: {t1['contact']}", f"- Owner: {d['owner']['organisation']}", ""]
    lines += ["## What is predicted", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in d["what_is_predicted"].items()]
    lines += ["", "## What is NOT predicted", "", *_md_list(d["not_predicted"]), ""]
    m = d["model"]
    lines += ["## Model", "", f"- model: `{m['name']}`, parameters `{json.dumps(m['params'])}`"]
    lines += [f"- flagged share: top {float(m['flagged_share']):.0%} of cells", ""]
    lines += ["## Data sources", "", "| source | files | rows | months | forces | last ingest |"]
    lines += ["|---|---|---|---|---|---|"]
    for s in d["data_sources"]:
        lines.append(
            f"| {s['source']} | {s['files']} | {s['rows_loaded']:,} | {s['first_month']} .. "
            f"{s['last_month']} | {', '.join(s['forces'])} | {s['last_ingest']} |"
        )
    acc = d["accuracy"]
    lines += ["", "## Accuracy", ""]
    if acc.get("available"):
        lines += [f"From `{acc['source']}` ({acc['interval']}).", ""]
        lines += ["| force | crime set | model | metric | mean | interval | origins |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for r in acc["rows"]:
            lines.append(
                f"| {r['force']} | {r['crime_set']} | {r['model']} | {r['metric']} | {r['mean']} "
                f"| {r['lo']} .. {r['hi']} | {r['origins']} |"
            )
    else:
        lines.append(f"Not available: {acc.get('note')}.")
    fair = d["fairness"]
    lines += ["", "## Fairness", ""]
    if fair.get("available"):
        lines += [f"From `{fair['source']}`.", ""]
        for r in fair["results"]:
            lines += [f"### {r['force']} ({r['crime_set']})", "", *_md_list(r["summary"]), ""]
            lines += _md_list([f"concern: {c['message']}" for c in r["concerns"]])
            lines.append("")
    else:
        lines.append(f"Not available: {fair.get('note')}.")
    o = d["oversight"]
    lines += ["", "## Human oversight", "", o["decision_support"], "", o["annotations"], ""]
    lines += [f"- annotations so far: {o['annotation_counts'] or 'none'}"]
    a = o["audit"]
    lines += [f"- audit log: {a['rows']} rows, chain {'intact' if a['chain_ok'] else 'BROKEN'}"]
    lines += ["", "## Safeguards", "", *_md_list(list(d["safeguards"].values())), ""]
    lines += ["## When to switch it off", ""]
    lines += [f"- **{c['id']}**: {c['condition']}" for c in d["switch_off_conditions"]]
    trig = d["switch_off_triggered"]
    lines += [
        "",
        f"**Conditions met now: {', '.join(trig)}.**"
        if trig
        else "No condition is met on the evidence available (this does not prove none is).",
        "",
    ]
    return "\n".join(lines)


def write_record(rec: TransparencyRecord, out: str | Path) -> tuple[Path, Path]:
    """Write ``transparency.md`` and ``transparency.json`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "transparency.md", out / "transparency.json"
    md.write_text(record_markdown(rec))
    js.write_text(json.dumps(rec.data, indent=2, default=str) + "\n")
    return md, js
