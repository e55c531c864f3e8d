"""Benchmark: a 10-area patrol plan over Northumbria's 250 m grid.

Goal (issue #7): planning 10 areas of up to 1 km² each (16 cells of 250 m)
over the largest force's 250 m grid finishes within 10 s, with the gap to
the best proven bound printed. Reference run in the same process: the greedy
planner alone (same candidate set).

The forecast is the default EWM model's all-crime surface for the month after
the data (the operational forecast of ``crimemap forecast``).

Run: ``.venv/bin/python bench/bench_plan.py [--data /work/shared/data] [--force northumbria]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from crimemap.allocate import plan_patrols
from crimemap.evaluate import forecast_next
from crimemap.ingest import read_incidents

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--force", default="northumbria")
    ap.add_argument("--areas", type=int, default=10)
    ap.add_argument("--max-cells", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=7.0, help="CP-SAT limit (s)")
    ap.add_argument("--goal", type=float, default=10.0, help="wall-time goal (s)")
    args = ap.parse_args()

    paths = sorted((args.data / "police-uk").glob(f"*/*-{args.force}-street.csv.gz"))
    t0 = time.perf_counter()
    incidents = read_incidents(paths)
    surface = forecast_next(incidents, crime_set="all-crime", model="ewm", cell_size=250.0)
    prep_s = time.perf_counter() - t0
    print(
        f"{args.force}: {len(incidents):,} incidents, {len(surface.units):,} cells of 250 m, "
        f"forecast {str(surface.start)[:7]} (load + forecast {prep_s:.1f} s, not timed below)"
    )

    t = time.perf_counter()
    greedy = plan_patrols(
        surface, args.areas, max_cells=args.max_cells, method="greedy", time_limit_s=0
    )
    greedy_s = time.perf_counter() - t

    t = time.perf_counter()
    plan = plan_patrols(surface, args.areas, max_cells=args.max_cells, time_limit_s=args.time_limit)
    plan_s = time.perf_counter() - t

    print(f"model: {plan.n_centres} candidate centres, {plan.n_candidates} candidate cells")
    print(f"{'run':<10} {'seconds':>8} {'covered':>9} {'bound':>9} {'gap':>7} {'status':>9}")
    print(
        f"{'cp-sat':<10} {plan_s:>8.2f} {plan.objective:>9.1f} {plan.bound:>9.1f} "
        f"{100 * plan.gap:>6.2f}% {plan.status:>9}  (kept: {plan.method})"
    )
    print(
        f"{'greedy':<10} {greedy_s:>8.2f} {plan.greedy_objective:>9.1f} {plan.bound:>9.1f} "
        f"{100 * plan.greedy_gap:>6.2f}%  (gap to the same bound)"
    )
    print(
        f"bound from: {plan.bound_source} (CP-SAT's own bound is kept when it is the least); "
        f"greedy alone: {greedy.objective:.1f}, its bound {greedy.bound:.1f} ({greedy.bound_source})"
    )
    print(f"top-{args.areas * args.max_cells} cells (no compactness): {plan.top_k:.1f}")
    print(
        f"ratio cp-sat / greedy: time {plan_s / greedy_s:.1f}x, "
        f"covered {plan.objective / greedy.objective:.4f}x"
    )
    verdict = "PASS" if plan_s <= args.goal else "FAIL"
    print(f"goal: plan within {args.goal:g} s -> {plan_s:.2f} s {verdict}")


if __name__ == "__main__":
    main()
