"""Benchmark: one full back-test of Northumbria (12 origins x 4 crime sets x all models).

Goals (issue #10): the whole back-test under 60 s on 2 cores; every model's
fit + predict per origin under 2 s, except ETAS. The simple baselines run in
the same process as the reference: each model's time is also given as a
ratio to the ``mean`` baseline's.

Usage::

    .venv/bin/python bench/bench_backtest.py [--workers 2] [--models a,b] [--origins 12]
        [--data ../shared/data/police-uk] [--force northumbria]

Prints: data loading, preparation (study areas, observed cubes), per-model
fit/predict times, harness overhead (scoring, slicing) and the total.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from crimemap.evaluate import (
    BacktestConfig,
    ModelSpec,
    backtest,
    default_origins,
    prepare,
    run_task,
)
from crimemap.forecast import models
from crimemap.ingest import read_incidents

REPO = Path(__file__).resolve().parents[1]
CRIME_SETS = ("all-crime", "violence", "burglary", "asb")
REFERENCE_MODEL = "mean"
GOAL_TOTAL_S = 60.0
GOAL_TASK_S = 2.0
EXEMPT = {"etas"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "police-uk")
    ap.add_argument("--force", default="northumbria")
    ap.add_argument(
        "--models", default="", help="comma-separated (default: every registered model)"
    )
    ap.add_argument("--origins", type=int, default=12)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    names = [m for m in (args.models.split(",") if args.models else list(models())) if m]
    if REFERENCE_MODEL not in names:
        names.insert(0, REFERENCE_MODEL)
    print(
        f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; workers: {args.workers}"
    )

    t = time.perf_counter()
    inc = read_incidents(sorted(args.data.glob(f"*/*-{args.force}-street.csv.gz")))
    print(f"load {args.force}: {len(inc):,} incidents in {time.perf_counter() - t:.2f} s")

    cfg = BacktestConfig()
    t = time.perf_counter()
    prep = prepare(inc, CRIME_SETS, cfg)
    origins = default_origins(prep, args.origins)
    t_prep = time.perf_counter() - t
    print(
        f"prepare: {len(prep.units):,} cells x {len(prep.periods)} months x {len(CRIME_SETS)} sets "
        f"in {t_prep:.2f} s; origins {str(origins[0])[:7]} .. {str(origins[-1])[:7]}"
    )

    # Harness cost without models: the two reference rows for every task.
    t = time.perf_counter()
    n_ref = 0
    for cs in CRIME_SETS:
        for o in origins:
            for ref in ("oracle", "hindsight"):
                run_task(prep, cs, ModelSpec(ref), o, cfg)
                n_ref += 1
    t_ref = time.perf_counter() - t
    print(
        f"harness (slice, score; references): {n_ref} tasks in {t_ref:.2f} s ({1000 * t_ref / n_ref:.0f} ms/task)"
    )

    # The full back-test, all models at once, as the CLI runs it.
    t = time.perf_counter()
    res = backtest(
        inc,
        crime_sets=list(CRIME_SETS),
        models=names,
        origins=origins,
        config=cfg,
        workers=args.workers,
    )
    wall = time.perf_counter() - t
    df = res.per_origin()
    df = df[~df.reference]
    df = df.assign(task=df.fit_seconds + df.predict_seconds)
    ref_total = df[df.model == REFERENCE_MODEL].task.sum()
    print()
    print(
        f"{'model':14s} {'tasks':>5s} {'fit mean':>9s} {'fit max':>8s} {'pred mean':>9s} {'task max':>9s} {'total s':>8s} {'x mean':>7s}  goal <{GOAL_TASK_S:g} s/task"
    )
    for model, g in df.groupby("model", sort=False):
        worst = g.task.max()
        ok = "exempt" if model in EXEMPT else ("ok" if worst < GOAL_TASK_S else "MISSED")
        print(
            f"{model:14s} {len(g):5d} {g.fit_seconds.mean():9.3f} {g.fit_seconds.max():8.3f} "
            f"{g.predict_seconds.mean():9.3f} {worst:9.3f} {g.task.sum():8.2f} "
            f"{g.task.sum() / ref_total:7.1f}  {ok}"
        )
    model_s = df.task.sum()
    print()
    print(
        f"total back-test wall time: {wall:.1f} s (goal < {GOAL_TOTAL_S:g} s on 2 cores): {'ok' if wall < GOAL_TOTAL_S else 'MISSED'}"
    )
    print(
        f"  of which model fit+predict (summed over tasks): {model_s:.1f} s; harness and references: {max(wall - model_s, 0):.1f} s"
    )
    no_etas = df[~df.model.isin(EXEMPT)].task.sum()
    print(
        f"  model time without ETAS: {no_etas:.1f} s; ratio of total to the '{REFERENCE_MODEL}' baseline: {model_s / ref_total:.1f}"
    )
    s = res.summary()
    pai = s[(s.metric == "pai@5%") & (s.crime_set == "all-crime")].set_index("model")["mean"]
    print(
        "PAI@5% all-crime (mean over origins): "
        + ", ".join(f"{m} {v:.2f}" for m, v in pai.items() if np.isfinite(v))
    )


if __name__ == "__main__":
    main()
