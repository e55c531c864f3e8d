"""Benchmark: one full back-test of Northumbria (12 origins x 4 crime sets x all models).

Goals (issue #10): the whole back-test under 60 s on 2 cores; every model's
fit + predict per origin under 2 s, except ETAS. The simple baselines run in
the same process as the reference: each model's time is also given as a
ratio to the ``mean`` baseline's.

Usage::

    .venv/bin/python bench/bench_backtest.py [--workers 2] [--models a,b] [--origins 12]
        [--data ../shared/data/police-uk] [--force northumbria]

Prints: data loading, preparation (study areas, observed cubes), harness
overhead (scoring, slicing), then two runs of the same back-test: every model
alone (one task per crime set x model x origin: each model's stand-alone time
per task, judged against the 2 s goal) and the full back-test as the CLI runs
it (one task per crime set x origin running every model, the ensemble reusing
its members' fits: judged against the 60 s goal), with a check that both give
the same numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from crimemap.evaluate import (
    BacktestConfig,
    BacktestResult,
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

    # 1. Every model alone (one task per crime set x model x origin): each
    #    model's stand-alone fit + predict time, judged against the per-task goal.
    def timed_run(share_fits: bool) -> tuple[float, BacktestResult, pd.DataFrame]:
        """Wall time, result and per-task forecast rows (with ``task`` = fit + predict)."""
        t = time.perf_counter()
        res = backtest(
            inc,
            crime_sets=list(CRIME_SETS),
            models=names,
            origins=origins,
            config=cfg,
            workers=args.workers,
            share_fits=share_fits,
        )
        wall = time.perf_counter() - t
        df = res.per_origin()
        df = df[~df.reference]
        return wall, res, df.assign(task=df.fit_seconds + df.predict_seconds)

    def scores_only(df: pd.DataFrame) -> pd.DataFrame:
        drop = [c for c in df.columns if c.endswith("_seconds") or c == "task"]
        return df.drop(columns=drop).reset_index(drop=True)

    wall_alone, _, df = timed_run(share_fits=False)
    ref_total = df[df.model == REFERENCE_MODEL].task.sum()
    print()
    print("each model alone (stand-alone cost per task):")
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
    print(
        f"  wall time: {wall_alone:.1f} s; model fit+predict summed over tasks: {model_s:.1f} s; "
        f"without ETAS: {df[~df.model.isin(EXEMPT)].task.sum():.1f} s; "
        f"ratio to the '{REFERENCE_MODEL}' baseline: {model_s / ref_total:.1f}"
    )

    # 2. The full back-test as the CLI runs it: one task per crime set x origin
    #    running every model, the ensemble reusing its members' fits.
    wall, res, sh = timed_run(share_fits=True)
    print()
    print(
        f"full back-test, shared fits (as the CLI runs it): {wall:.1f} s wall "
        f"(goal < {GOAL_TOTAL_S:g} s on 2 cores): {'ok' if wall < GOAL_TOTAL_S else 'MISSED'}; "
        f"{wall_alone / wall:.2f}x faster than every model alone; same numbers: "
        f"{scores_only(sh).equals(scores_only(df))}"
    )
    per_model = sh.groupby("model").task.sum().sort_values(ascending=False)
    print(
        f"  model fit+predict summed over tasks: {sh.task.sum():.1f} s ("
        + ", ".join(f"{m} {v:.1f}" for m, v in per_model.items())
        + "); the rest of the wall time is scoring, slicing and the workers' start"
    )
    ens = sh[sh.model == "ensemble"]
    if len(ens):
        print(
            f"  ensemble inside it (members' fits reused): {ens.task.mean():.3f} s per task on "
            f"average, {ens.task.max():.3f} s at most"
        )
    s = res.summary()
    pai = s[(s.metric == "pai@5%") & (s.crime_set == "all-crime")].set_index("model")["mean"]
    print(
        "PAI@5% all-crime (mean over origins): "
        + ", ".join(f"{m} {v:.2f}" for m, v in pai.items() if np.isfinite(v))
    )


if __name__ == "__main__":
    main()
