"""Back-test report: Markdown and HTML tables, hit-rate curves, run parameters.

For every (force, crime set, horizon) the report has two tables with one row
per model, each cell the mean over origins and its interval
(:meth:`BacktestResult.summary`):

* ranking: hit rate and PAI at 1, 5, 10 and 20 % of the area, PEI at 5 and
  20 %;
* counts: Spearman's rho, Poisson log-likelihood, Poisson CRPS, coverage of
  the 90 % band.

The best forecast per column is in bold (reference rows, which are not
forecasts, never compete). Hit-rate-versus-area curves are PNG files
(matplotlib, Agg backend). ``run.json`` stores the configuration, data ranges,
origins, models and parameters so that the run can be reproduced;
``summary.csv`` and ``per_origin.csv`` hold the numbers behind the tables.
"""

from __future__ import annotations

import dataclasses
import html
import json
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crimemap.evaluate.results import BacktestResult, metric_direction
from crimemap.evaluate.spec import REFERENCE_LABELS

__all__ = ["ReportFiles", "write_report", "RANK_METRICS", "COUNT_METRICS"]

RANK_METRICS: tuple[str, ...] = (
    "hit@1%",
    "hit@5%",
    "hit@10%",
    "hit@20%",
    "pai@1%",
    "pai@5%",
    "pai@10%",
    "pai@20%",
    "pei@5%",
    "pei@20%",
)
COUNT_METRICS: tuple[str, ...] = ("spearman", "loglik", "crps", "coverage90")


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    markdown: Path
    html: Path
    run_json: Path
    summary_csv: Path
    per_origin_csv: Path
    curves: tuple[Path, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _fmt(v: float, digits: int = 3) -> str:
    if not np.isfinite(v):
        return "-"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def _cell(row: pd.Series) -> str:
    if not np.isfinite(row["mean"]):
        return "-"
    if row["n"] < 2:
        return _fmt(row["mean"])
    return f"{_fmt(row['mean'])} [{_fmt(row['lo'])}, {_fmt(row['hi'])}]"


def _best(block: pd.DataFrame, metric: str) -> set[str]:
    cand = block[(block.metric == metric) & (~block.reference) & np.isfinite(block["mean"])]
    if cand.empty:
        return set()
    v = cand["mean"].to_numpy(float)
    d = metric_direction(metric)
    key = -v if d == "max" else (v if d == "min" else np.abs(v - 0.9))
    best = key.min()
    return set(cand["model"][np.isclose(key, best, rtol=1e-9, atol=1e-12)])


def _table(
    block: pd.DataFrame, metrics: Sequence[str]
) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """Header and rows of ``(text, bold)`` for one (force, crime set, horizon)."""
    models = list(dict.fromkeys(block.sort_values("reference", kind="stable")["model"]))
    best = {m: _best(block, m) for m in metrics}
    rows = []
    for model in models:
        sub = block[block.model == model].set_index("metric")
        ref = bool(sub["reference"].iloc[0])
        label = f"{model} (reference)" if ref else model
        cells: list[tuple[str, bool]] = [(label, False)]
        for m in metrics:
            cells.append((_cell(sub.loc[m]) if m in sub.index else "-", model in best[m]))
        rows.append(cells)
    return ["model", *metrics], rows


def _md_table(header: list[str], rows: list[list[tuple[str, bool]]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(f"**{t}**" if b else t for t, b in r) + " |")
    return "\n".join(out)


def _html_table(header: list[str], rows: list[list[tuple[str, bool]]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = []
    for r in rows:
        tds = "".join(
            f"<td><b>{html.escape(t)}</b></td>" if b else f"<td>{html.escape(t)}</td>" for t, b in r
        )
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _plot_curves(curves: pd.DataFrame, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for model, g in curves.groupby("model", sort=False):
        ref = bool(g["reference"].iloc[0])
        ax.plot(
            np.r_[0.0, g["coverage"].to_numpy(float) * 100],
            np.r_[0.0, g["hit_rate"].to_numpy(float) * 100],
            ls="--" if ref else "-",
            lw=1.2 if ref else 1.6,
            label=f"{model} (reference)" if ref else str(model),
        )
    ax.set_xlabel("share of the study area flagged (%)")
    ax.set_ylabel("share of crimes in flagged cells (%)")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(0, float(curves["coverage"].max() * 100))
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def write_report(
    result: BacktestResult,
    out_dir: str | Path,
    *,
    title: str = "Back-test report",
    params: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    level: float = 0.95,
) -> ReportFiles:
    """Write ``report.md``, ``report.html``, PNG curves, CSVs and ``run.json``.

    Parameters
    ----------
    result : BacktestResult
        The back-test (one or several forces).
    out_dir : path
        Output folder (created).
    title : str
        Report title.
    params : mapping, optional
        How the run was invoked (e.g. command-line arguments), stored in
        ``run.json`` with the configuration.
    notes : sequence of str
        Extra paragraphs (Markdown) shown after the introduction.
    level : float
        Confidence level of the intervals over origins (t-intervals).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary(level=level)
    per_origin = result.per_origin()
    curves = result.curves()
    timings = result.timings()

    cfg = result.config
    md: list[str] = [f"# {title}", ""]
    hx: list[str] = [f"<h1>{html.escape(title)}</h1>"]
    intro = (
        f"Rolling-origin back-test: each model is fitted on the data before each origin "
        f"and forecasts the next {'month' if cfg.freq == 'M' else {'W': 'week', 'D': 'day'}[cfg.freq]}"
        f" on a {cfg.cell_size:g} m grid. Cells give the mean over origins and a "
        f"{level:.0%} t-interval. Bold: best forecast per column (reference rows excluded). "
        f"Ties in scores are broken at random ({cfg.n_seeds} seeded permutations). "
        "Metric definitions: docs/metrics.md."
    )
    md += [intro, ""]
    hx.append(f"<p>{html.escape(intro)}</p>")
    refs = [f"- `{k}`: {v}" for k, v in REFERENCE_LABELS.items()]
    md += ["Reference rows (not forecasts):", "", *refs, ""]
    hx.append("<ul>" + "".join(f"<li>{html.escape(r[2:])}</li>" for r in refs) + "</ul>")
    for n in notes:
        md += [n, ""]
        hx.append(f"<p>{html.escape(n)}</p>")
    for m in result.meta:
        line = (
            f"**{m.get('force')}**: data {m.get('data_range')}, {m.get('n_incidents')} incidents, "
            f"origins {m['origins'][0][:10]} .. {m['origins'][-1][:10]} ({len(m['origins'])})"
        )
        if m.get("missing_periods"):
            line += f"; periods without complete data: {', '.join(p[:10] for p in m['missing_periods'])}"
        md += [line, ""]
        hx.append(f"<p>{html.escape(line.replace('**', ''))}</p>")

    pngs: list[Path] = []
    keys = ["force", "crime_set", "horizon"]
    for (force, cs, h), block in summary.groupby(keys, sort=False):
        head = f"{force} - {cs}" + (f" - horizon {h}" if len(cfg.horizons) > 1 else "")
        md += [f"## {head}", ""]
        hx.append(f"<h2>{html.escape(head)}</h2>")
        for name, metrics in (("Ranking", RANK_METRICS), ("Counts", COUNT_METRICS)):
            metrics = tuple(m for m in metrics if m in set(block.metric))
            header, rows = _table(block, metrics)
            md += [f"{name}:", "", _md_table(header, rows), ""]
            hx.append(f"<h3>{name}</h3>" + _html_table(header, rows))
        c = curves[(curves.force == force) & (curves.crime_set == cs) & (curves.horizon == h)]
        if not c.empty:
            png = _plot_curves(
                c, f"{head}: hit rate vs area", out / f"curve-{_slug(f'{force}-{cs}-h{h}')}.png"
            )
            pngs.append(png)
            md += [f"![hit rate vs area, {head}]({png.name})", ""]
            hx.append(
                f'<img src="{html.escape(png.name)}" alt="hit rate vs area, {html.escape(head)}">'
            )

    if not timings.empty:
        md += ["## Run time per model (seconds per origin and crime set)", ""]
        hx.append("<h2>Run time per model (seconds per origin and crime set)</h2>")
        header = ["model", "fit mean", "fit max", "predict mean", "predict max", "tasks"]
        rows = [
            [
                (str(r.model), False),
                (f"{r.fit_mean:.3f}", False),
                (f"{r.fit_max:.3f}", False),
                (f"{r.predict_mean:.3f}", False),
                (f"{r.predict_max:.3f}", False),
                (str(int(r.n)), False),
            ]
            for r in timings.itertuples()
        ]
        md += [_md_table(header, rows), ""]
        hx.append(_html_table(header, rows))

    md_path = out / "report.md"
    md_path.write_text("\n".join(md) + "\n")
    html_path = out / "report.html"
    style = (
        "body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child{text-align:left}img{max-width:640px}"
    )
    html_path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(hx)}</body></html>\n"
    )
    summary_path = out / "summary.csv"
    summary.to_csv(summary_path, index=False)
    per_origin_path = out / "per_origin.csv"
    per_origin.to_csv(per_origin_path, index=False)

    from crimemap import __version__

    run = {
        "title": title,
        "config": _jsonable(dataclasses.asdict(cfg)),
        "invocation": _jsonable(dict(params or {})),
        "data": _jsonable(list(result.meta)),
        "interval": {"method": "t", "level": level},
        "versions": {
            "crimemap": __version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
    }
    run_path = out / "run.json"
    run_path.write_text(json.dumps(run, indent=2) + "\n")
    return ReportFiles(md_path, html_path, run_path, summary_path, per_origin_path, tuple(pngs))
