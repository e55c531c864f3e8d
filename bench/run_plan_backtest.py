"""Back-test patrol plans on the four police.uk forces; writes docs/plans/README.md.

For each force: the last 12 monthly origins, an EWM all-crime forecast fitted
on data before each origin, a plan of 10 areas of at most 16 cells (1 km²)
of 250 m, the same plan under the IMD fairness cap (1.5: no decile may hold
more than 1.5 times its share of forecast harm in areas), and the top-k cells
of equal total area. Scores are the crime of the following month
(:mod:`crimemap.allocate.evaluate`).

The cap value (1.5), the plan size and the model were fixed before running;
nothing is tuned on these results.

Run: ``.venv/bin/python bench/run_plan_backtest.py [--data DIR] [--forces a,b] [--time-limit 5]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from crimemap.allocate.evaluate import PlanBacktest, PlanOriginResult, plan_backtest
from crimemap.evaluate import BacktestConfig, default_origins, prepare
from crimemap.ingest import read_incidents
from crimemap.spatial.covariates import read_imd, unit_covariates

REPO = Path(__file__).resolve().parents[1]
FORCES = ("north-yorkshire", "south-yorkshire", "leicestershire", "northumbria")
CAP = 1.5


def _deciles(prep, first_origin: np.datetime64, imd) -> tuple[np.ndarray, float]:
    before = prep.incidents.filter(end=str(first_origin)[:10])
    cov = unit_covariates(prep.units, before, imd)
    dec = cov.values[:, cov.names.index("imd_decile")]
    return dec, float(np.isfinite(dec).mean())


def _fmt(v: float, nd: int = 1) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:,.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--forces", default=",".join(FORCES))
    ap.add_argument("--origins", type=int, default=12)
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "plans" / "README.md")
    args = ap.parse_args()

    t_all = time.perf_counter()
    imd = read_imd(args.data / "imd-2019")
    runs: list[tuple[str, PlanBacktest, float, str]] = []
    for force in args.forces.split(","):
        paths = sorted((args.data / "police-uk").glob(f"*/*-{force}-street.csv.gz"))
        incidents = read_incidents(paths)
        prep = prepare(incidents, ["all-crime"], BacktestConfig(cell_size=250.0), force=force)
        origins = default_origins(prep, args.origins)
        dec, known = _deciles(prep, origins[0], imd)

        def show(r: PlanOriginResult) -> None:
            p, k = r.score("plan"), r.score("top-k")
            print(
                f"  {str(r.origin)[:7]} plan {p.captured:.0f} top-k {k.captured:.0f} "
                f"gap {100 * r.gap:.1f}% {r.status} {r.seconds:.1f}s",
                flush=True,
            )

        print(f"{force}: {len(incidents):,} incidents, {len(prep.units):,} cells", flush=True)
        bt = plan_backtest(
            prep,
            crime_set="all-crime",
            model="ewm",
            origins=origins,
            fairness_cap=CAP,
            deciles=dec,
            time_limit_s=args.time_limit,
            progress=show,
        )
        runs.append((force, bt, known, prep.span()))
    _write(args.out, runs, args, time.perf_counter() - t_all)
    print(f"wrote {args.out}")


def _write(path: Path, runs, args, seconds: float) -> None:
    lines = [
        "# Patrol plans: back-test on four police.uk forces",
        "",
        "Produced by `bench/run_plan_backtest.py` (do not edit by hand). Method and",
        "formulation: [docs/allocate.md](../allocate.md).",
        "",
        f"Each force: the last {args.origins} monthly origins; at each, the `ewm` model is",
        "fitted on all-crime incidents before the origin and forecasts the next month on",
        "250 m cells (study area = cells with any incident before the origin). Plans:",
        "10 compact contiguous areas of at most 16 cells (1 km²) each, CP-SAT with a",
        f"{args.time_limit:g} s limit. **Fair plan**: the same with the IMD fairness cap",
        f"{CAP:g} (no deprivation decile may hold more than {CAP:g}x its share of forecast",
        "harm in areas, counted by each area's centre cell). **Top-k**: the k cells with",
        "the highest forecast, k = the plan's cell count (same area, scattered). Scores:",
        "all-crime incidents of the forecast month (never seen by the model), summed over",
        "the origins. PAI = hit rate / share of the study area patrolled.",
        "",
        "Price of compactness = 1 - captured(plan) / captured(top-k);",
        "price of fairness = 1 - captured(fair plan) / captured(plan).",
        "",
        "| force | origins | plan captured / month | top-k captured / month | price of compactness "
        "| plan per km² | top-k per km² | plan PAI | top-k PAI | fair plan captured / month "
        "| price of fairness | mean gap (plan / fair) | cells with IMD decile |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for force, bt, known, _ in runs:
        n = len(bt.results)
        o0, o1 = str(bt.results[0].origin)[:7], str(bt.results[-1].origin)[:7]
        gap = np.mean([r.gap for r in bt.results])
        fgap = np.nanmean([r.fair_gap for r in bt.results])
        lines.append(
            f"| {force} | {n} ({o0} .. {o1}) | {_fmt(bt.mean('plan', 'captured'))} "
            f"| {_fmt(bt.mean('top-k', 'captured'))} | {100 * bt.price('plan', 'top-k'):.1f} % "
            f"| {_fmt(bt.mean('plan', 'per_km2'))} | {_fmt(bt.mean('top-k', 'per_km2'))} "
            f"| {_fmt(bt.mean('plan', 'pai'))} | {_fmt(bt.mean('top-k', 'pai'))} "
            f"| {_fmt(bt.mean('fair plan', 'captured'))} "
            f"| {100 * bt.price('fair plan', 'plan'):.1f} % "
            f"| {100 * gap:.1f} % / {100 * fgap:.1f} % | {100 * known:.0f} % |"
        )
    lines += [
        "",
        "Per-origin detail (captured incidents; area in km²):",
        "",
        "| force | origin | observed in study area | plan | top-k | fair plan | top-k (fair area) "
        "| plan km² | fair km² | gap | CP-SAT status | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for force, bt, _, _ in runs:
        for r in bt.results:
            s = {x.label: x for x in r.scores}
            lines.append(
                f"| {force} | {str(r.origin)[:7]} | {r.observed:.0f} | {s['plan'].captured:.0f} "
                f"| {s['top-k'].captured:.0f} | {s['fair plan'].captured:.0f} "
                f"| {s['top-k (fair area)'].captured:.0f} | {s['plan'].area_km2:.2f} "
                f"| {s['fair plan'].area_km2:.2f} | {100 * r.gap:.1f} % | {r.status} "
                f"| {r.seconds:.1f} |"
            )
    lines += [
        "",
        "Notes",
        "",
        "- The gap is to the best proven bound on the candidate-restricted model: the",
        "  least of CP-SAT's bound, the Lagrangian bound and the top-k forecast",
        "  (docs/allocate.md). It limits how much more *forecast* a plan could cover,",
        "  not how much more observed crime.",
        "- Plans maximise the forecast, so a fair plan can capture more observed crime",
        "  than the unconstrained plan in a given month (a negative price of fairness).",
        "- IMD 2019 deciles join through each cell's modal 2011 LSOA code among the",
        "  incidents before the first origin; cells without a match (2021 codes that",
        "  changed, Welsh LSOAs) are not capped (last column of the summary).",
        "- CP-SAT status `UNKNOWN` means it found no plan within the limit and the greedy",
        "  plan was kept (its gap is reported the same way).",
        f"- Data: {', '.join(f'{f} {span}' for f, _, _, span in runs)}.",
        f"- Total run time {seconds / 60:.1f} min on this machine.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
