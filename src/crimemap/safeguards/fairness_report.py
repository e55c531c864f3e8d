"""Fairness report: plain-language summary, JSON, Markdown and HTML with figures.

The JSON (``fairness.json``) is what the transparency record reads; the HTML
and Markdown are for people. Figures are PNGs drawn with matplotlib (Agg).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crimemap.safeguards.fairness import FairnessResult

__all__ = ["FairnessReportFiles", "result_to_dict", "summary_lines", "write_fairness_report"]


@dataclass(frozen=True)
class FairnessReportFiles:
    """Paths written by :func:`write_fairness_report`."""

    html: Path
    markdown: Path
    json: Path
    figures: tuple[Path, ...]


def _num(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return None if not np.isfinite(v) else round(float(v), 6)
    return v


def result_to_dict(r: FairnessResult) -> dict[str, Any]:
    """A JSON-ready summary of one audit."""
    fb = {
        name: {
            "mean_tv": {s: _num(float(v.mean())) for s, v in run.tv.items()},
            "final_tv": {s: _num(float(v[-1])) for s, v in run.tv.items()},
            "mean_recall": {s: _num(float(v.mean())) for s, v in run.recall.items()},
            "final_recall": {s: _num(float(v[-1])) for s, v in run.recall.items()},
            "recall_by_month": {s: [_num(float(x)) for x in v] for s, v in run.recall.items()},
            "tv_by_month": {s: [_num(float(x)) for x in v] for s, v in run.tv.items()},
            "deprived_share_of_flags": dict(r.feedback_deprived_share[name]),
        }
        for name, run in r.feedback.items()
    }
    first = next(iter(r.feedback.values()))
    return {
        "force": r.force,
        "crime_set": r.crime_set,
        "model": r.model,
        "origins": list(r.origins),
        "cell_m": r.cell_m,
        "top_share": r.top_share,
        "n_cells": r.n_cells,
        "outside_area": r.outside_area,
        "imd_match": {k: _num(v) for k, v in r.match.as_dict().items()},
        "overall": {
            "hit_rate": _num(r.deciles.hit_rate_all),
            "pai": _num(r.deciles.pai_all),
            "hit_rate_rank_scores": _num(r.overall_rank["hit_rate"]),
            "pai_rank_scores": _num(r.overall_rank["pai"]),
        },
        "deciles": [{k: _num(v) for k, v in row.items()} for row in r.deciles.rows()],
        "enforcement": {k: _num(v) for k, v in asdict(r.enforcement).items()},
        "feedback": fb,
        "feedback_config": asdict(first.config),
        "thresholds": asdict(r.thresholds),
        "concerns": [asdict(c) for c in r.concerns],
        "summary": summary_lines(r),
    }


def summary_lines(r: FairnessResult) -> list[str]:
    """The plain-language summary (one sentence per line)."""
    t = r.deciles
    out = [
        f"{r.force}, {r.crime_set}: the '{r.model}' forecast flagged the top "
        f"{r.top_share:.0%} of {r.n_cells:,} cells of {r.cell_m:g} m for each of "
        f"{len(r.origins)} months ({r.origins[0]} to {r.origins[-1]}); the flagged cells "
        f"held {t.hit_rate_all:.0%} of the crime recorded next month (PAI {t.pai_all:.1f}).",
        f"{r.match.rate:.1%} of the {r.match.located:,} located incidents in the force area "
        f"were joined to IMD 2019: {r.match.direct / max(r.match.located, 1):.1%} by their "
        f"2011 LSOA code, {r.match.by_polygon:,} by point in the 2011 polygons (their code "
        f"is a 2021 code); {r.outside_area:,} incidents located outside the force area "
        f"were left out.",
    ]
    dep = slice(1, 3)
    f2, c2 = float(np.nansum(t.flag_share[dep])), float(np.nansum(t.crime_share[dep]))
    p2 = float(np.nansum(t.population[dep]) / max(np.nansum(t.population[1:]), 1))
    out.append(
        f"The two most deprived deciles hold {p2:.0%} of the residents of the study cells and "
        f"{c2:.0%} of recorded crime, and received {f2:.0%} of the flags."
    )
    e = r.enforcement
    if e.applicable:
        out.append(
            f"Police-initiated categories (drugs, possession of weapons) make up {e.share:.0%} of "
            f"the forecast in flagged cells; without them {e.overlap:.0%} (Jaccard) of the flagged "
            f"cells stay the same, and the hit rate on victim-reported crime is "
            f"{e.hit_victim_with:.0%} with them and {e.hit_victim_without:.0%} without."
        )
    else:
        out.append("This crime set has no police-initiated category.")
    for name, run in r.feedback.items():
        rec = {s: float(v.mean()) for s, v in run.recall.items()}
        out.append(
            f"Feedback simulation ({name}, 24 months): the model that learns from its own patrols "
            f"finds {rec['naive']:.0%} of the truly highest-crime cells on average, against "
            f"{rec['reweighted']:.0%} when patrol-found crime is re-weighted and "
            f"{rec['victim-only']:.0%} when it learns from victim-reported crime only."
        )
    if r.concerns:
        out.append(f"{len(r.concerns)} result(s) are outside their thresholds (listed below).")
    else:
        out.append("No result is outside its threshold.")
    out.append(
        "A concern is a prompt for human review, not proof of unfairness: recorded crime is "
        "itself shaped by reporting and policing."
    )
    return out


def _figures(r: FairnessResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stem = f"{r.force}_{r.crime_set}"
    files = []
    t = r.deciles
    fig, ax = plt.subplots(figsize=(7, 3.2))
    d = np.arange(1, 11)
    ax.bar(d - 0.2, t.flag_share[1:], 0.4, label="share of flags", color="#d7301f")
    ax.bar(d + 0.2, t.crime_share[1:], 0.4, label="share of recorded crime", color="#636363")
    ax.set_xticks(d)
    ax.set_xlabel("IMD 2019 decile (1 = most deprived)")
    ax.set_title(f"{r.force}: flags and crime by deprivation decile")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    p = out / f"{stem}_exposure.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    files.append(p)
    fig, axes = plt.subplots(1, len(r.feedback), figsize=(8, 3.2), sharey=True)
    for ax, (name, run) in zip(np.atleast_1d(axes), r.feedback.items(), strict=True):
        for s, v in run.recall.items():
            ax.plot(np.arange(1, len(v) + 1), v, label=s)
        ax.set_title(name)
        ax.set_xlabel("simulated month")
        ax.set_ylim(0, 1)
    np.atleast_1d(axes)[0].set_ylabel("recall of true top cells")
    np.atleast_1d(axes)[0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"{r.force}: feedback-loop simulation")
    fig.tight_layout()
    p = out / f"{stem}_feedback.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    files.append(p)
    return files


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if pct:
        return f"{v:.1%}"
    return f"{v:,.2f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:,.0f}"


_COLS = [
    ("decile", "decile", False),
    ("cells", "cells", False),
    ("flag_share", "share of flags", True),
    ("crime_share", "share of crime", True),
    ("exposure_ratio", "exposure ratio", False),
    ("pop_flag_rate", "residents in flagged cells", True),
    ("hit_rate", "hit rate", True),
    ("pai", "PAI", False),
]


def _md_section(r: FairnessResult, figs: Sequence[Path]) -> str:
    lines = [f"## {r.force} - {r.crime_set}", ""]
    lines += [f"- {s}" for s in summary_lines(r)]
    lines += ["", "| " + " | ".join(c[1] for c in _COLS) + " |", "|" + "---|" * len(_COLS)]
    for row in r.deciles.rows():
        if row["decile"] == 0 and not row["cells"]:
            continue
        lines.append(
            "| "
            + " | ".join(
                _fmt(row[k], pct) if k != "decile" else (str(row[k]) if row[k] else "unknown")
                for k, _, pct in _COLS
            )
            + " |"
        )
    lines.append("")
    if r.concerns:
        lines += ["Concerns:", ""] + [
            f"- **{c.kind}** ({c.subject}): {c.message}" for c in r.concerns
        ]
    lines += [""] + [f"![{f.stem}]({f.name})" for f in figs] + [""]
    return "\n".join(lines)


def _html_section(r: FairnessResult, figs: Sequence[Path]) -> str:
    esc = html.escape
    rows = []
    for row in r.deciles.rows():
        if row["decile"] == 0 and not row["cells"]:
            continue
        cells = "".join(
            f"<td>{esc(_fmt(row[k], pct) if k != 'decile' else (str(row[k]) if row[k] else 'unknown'))}</td>"
            for k, _, pct in _COLS
        )
        rows.append(f"<tr>{cells}</tr>")
    head = "".join(f"<th>{esc(c[1])}</th>" for c in _COLS)
    concerns = "".join(
        f"<li><b>{esc(c.kind)}</b> ({esc(c.subject)}): {esc(c.message)}</li>" for c in r.concerns
    )
    return (
        f"<section><h2>{esc(r.force)} - {esc(r.crime_set)}</h2><ul>"
        + "".join(f"<li>{esc(s)}</li>" for s in summary_lines(r))
        + f"</ul><table><tr>{head}</tr>{''.join(rows)}</table>"
        + (f"<h3>Concerns</h3><ul>{concerns}</ul>" if concerns else "<p>No concerns.</p>")
        + "".join(f'<img src="{esc(f.name)}" alt="{esc(f.stem)}">' for f in figs)
        + "</section>"
    )


_INTRO = (
    "Bias audit of the place-based forecast. Places and times only: nothing here, or anywhere "
    "in crimemap, predicts anything about a person. Method and thresholds: docs/safeguards.md."
)


def write_fairness_report(
    results: Sequence[FairnessResult], out: str | Path, *, title: str = "Fairness audit"
) -> FairnessReportFiles:
    """Write ``fairness.json``, ``fairness.md``, ``fairness.html`` and PNG figures to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figs = {id(r): _figures(r, out) for r in results}
    doc = {"title": title, "results": [result_to_dict(r) for r in results]}
    jpath = out / "fairness.json"
    jpath.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    md = f"# {title}\n\n{_INTRO}\n\n" + "\n".join(_md_section(r, figs[id(r)]) for r in results)
    mpath = out / "fairness.md"
    mpath.write_text(md)
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:100%}"
    )
    body = "".join(_html_section(r, figs[id(r)]) for r in results)
    hpath = out / "fairness.html"
    hpath.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(_INTRO)}</p>{body}</body></html>\n"
    )
    return FairnessReportFiles(hpath, mpath, jpath, tuple(p for r in results for p in figs[id(r)]))
