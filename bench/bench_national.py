"""National-scale benchmark on the SYNTHETIC 43-force set (issue #9, item 5).

Steps (each prints its figures):

1. ``crimemap synth``: 43 forces x 36 months, ~18 M rows of police.uk-format
   street files, resampled from ../shared/data/police-uk (cached: reused when
   ``synth.json`` in the cache folder has the same parameters).
2. Ingest into a fresh DuckDB store, month by month (one batch, one
   transaction per month, as a national deployment loads its monthly
   downloads), in a child process: rows/s and peak RSS.
3. The same into PostgreSQL + PostGIS (``--pg-url``, else
   ``CRIMEMAP_TEST_PG_URL``, else a throw-away cluster from
   scripts/pg_cluster.sh; ``--skip-pg`` to leave it out). Peak RSS is the
   Python client's; the server's memory is not included.
4. Monthly 250 m grid counts of every located incident in the country, as
   one SQL aggregate inside DuckDB (goal < 10 s) and, where ingested, inside
   PostgreSQL. Reference in the same process: the same counts with numpy
   (``np.unique`` on cell and month keys) over columns already in memory.
5. The back-test of a set of forces (``--bt-forces``; ``all`` = every
   force) serially and on a 2-worker local Dask cluster
   (:func:`crimemap.evaluate.distributed_backtest`): wall times, speed-up,
   and a check that every metric and prediction is identical.

Usage::

    .venv/bin/python bench/bench_national.py [--rows 18000000] [--forces 43] [--months 36]
        [--cache /tmp/crimemap-national] [--skip-pg] [--pg-url URL]
        [--bt-forces 6|all|a,b] [--bt-models mean,ewm] [--bt-crime-sets all-crime,burglary]
        [--origins 6] [--workers 2]

Scaled-down smoke run: ``--rows 300000 --forces 6 --months 8 --bt-forces 3 --origins 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOAL_GRID_S = 10.0
GRID_SQL = (
    "SELECT floor(x / 250)::BIGINT AS cell_e, floor(y / 250)::BIGINT AS cell_n, "
    "date_trunc('month', t_start) AS month, count(*) AS n "
    "FROM incidents WHERE x IS NOT NULL GROUP BY 1, 2, 3"
)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ 1. synth
def synth(args: argparse.Namespace) -> Path:
    from crimemap.ingest.synth import synth_forces, synthesize

    forces = synth_forces()[: args.forces] if args.forces < 43 else synth_forces()
    out = args.cache / "synth"
    want = {"rows": args.rows, "months": args.months, "seed": args.seed, "forces": forces}
    man = out / "synth.json"
    if man.exists():
        have = json.loads(man.read_text())
        if {k: have.get(k) for k in want} == want:
            print(
                f"[synth] reusing {out}: {args.rows:,} rows, {len(forces)} forces x {args.months} months"
            )
            return out
    t = time.perf_counter()
    rep = synthesize(
        args.source, out, forces=forces, months=args.months, rows=args.rows, seed=args.seed
    )
    dt = time.perf_counter() - t
    size = sum(p.stat().st_size for p in rep.files) / 1e6
    print(
        f"[synth] wrote {rep.rows:,} rows in {len(rep.files)} files ({size:,.0f} MB gz) in {dt:.1f} s "
        f"({rep.rows / dt:,.0f} rows/s); peak RSS {_peak_mb():,.0f} MB"
    )
    return out


# ------------------------------------------------------------------ 2-3. ingest
def _month_dirs(data: Path) -> list[list[Path]]:
    return [sorted(d.glob("*-street.csv*")) for d in sorted(data.iterdir()) if d.is_dir()]


def child_ingest(backend: str, data: Path, target: str) -> None:
    """Runs in a child process: ingest month by month, print one JSON line."""
    from crimemap.ingest import ingest
    from crimemap.store import DuckDBStore
    from crimemap.store.postgres import PostgresStore

    url, _, schema = target.partition("#")
    st = DuckDBStore(url) if backend == "duckdb" else PostgresStore(url, schema=schema)
    rows = stored = 0
    t0 = time.perf_counter()
    for files in _month_dirs(data):
        rep = ingest(st, files)
        rows += rep.rows_read
        stored += rep.rows_inserted
    dt = time.perf_counter() - t0
    st.close()
    print(json.dumps({"seconds": dt, "rows": rows, "stored": stored, "peak_rss_mb": _peak_mb()}))


def run_ingest(backend: str, data: Path, target: str) -> dict[str, float]:
    p = subprocess.run(
        [sys.executable, __file__, "--child", backend, "--data", str(data), "--target", target],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        raise SystemExit(f"{backend} ingest failed:\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print(
        f"[ingest {backend:8s}] {r['rows']:,.0f} rows ({r['stored']:,.0f} stored) in {r['seconds']:.1f} s "
        f"= {r['rows'] / r['seconds']:,.0f} rows/s; peak RSS {r['peak_rss_mb']:,.0f} MB"
    )
    return r


def _pg_cluster(cmd: str) -> str:
    p = subprocess.run(
        ["bash", str(REPO / "scripts" / "pg_cluster.sh"), cmd],
        capture_output=True,
        text=True,
        check=True,
    )
    return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""


def _drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as c:
        c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ------------------------------------------------------------------ 4. grid counts
def grid_counts(store_url: str, label: str, schema: str = "") -> None:
    from crimemap.store import DuckDBStore
    from crimemap.store.postgres import PostgresStore

    st = (
        PostgresStore(store_url, schema=schema)
        if schema
        else DuckDBStore(store_url, read_only=True)
    )
    with st:
        t = time.perf_counter()
        res = st.sql(GRID_SQL)
        dt = time.perf_counter() - t
        n_inc = int(np.asarray(res["n"]).sum())
        line = (
            f"[grid {label:8s}] monthly 250 m counts: {res.num_rows:,} (cell, month) rows over "
            f"{n_inc:,} located incidents in {dt:.2f} s"
        )
        if label == "duckdb":
            line += f" (goal < {GOAL_GRID_S:g} s: {'met' if dt < GOAL_GRID_S else 'MISSED'})"
            cols = st.sql("SELECT x, y, t_start FROM incidents WHERE x IS NOT NULL")
            x, y = np.asarray(cols["x"]), np.asarray(cols["y"])
            m = np.asarray(cols["t_start"]).astype("datetime64[M]").astype(np.int64)
            t = time.perf_counter()
            e, nn = np.floor(x / 250).astype(np.int64), np.floor(y / 250).astype(np.int64)
            key = ((e + (1 << 20)) << 42) | ((nn + (1 << 20)) << 20) | (m & 0xFFFFF)
            _, counts = np.unique(key, return_counts=True)
            ref = time.perf_counter() - t
            assert len(counts) == res.num_rows and counts.sum() == n_inc
            line += f"; numpy reference on in-memory columns {ref:.2f} s (ratio {dt / ref:.2f})"
        print(line, flush=True)


# ------------------------------------------------------------------ 5. back-test
def _identical(a, b) -> bool:  # type: ignore[no-untyped-def]
    t = ["fit_seconds", "predict_seconds"]
    if not a.per_origin().drop(columns=t).equals(b.per_origin().drop(columns=t)):
        return False
    for ra, rb in zip(a.results, b.results, strict=True):
        for x, y in ((ra.ij, rb.ij), (ra.mean, rb.mean), (ra.lo90, rb.lo90), (ra.hi90, rb.hi90)):
            if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
                return False
    return True


def run_backtests(store: str, args: argparse.Namespace, all_forces: list[str]) -> None:
    from crimemap.evaluate import BacktestConfig, distributed_backtest

    if args.bt_forces == "all":
        forces = all_forces
    elif args.bt_forces.isdigit():
        # A spread of sizes: every k-th force of the (alphabetical) list.
        k = max(1, len(all_forces) // int(args.bt_forces))
        forces = all_forces[::k][: int(args.bt_forces)]
    else:
        forces = args.bt_forces.split(",")
    models = args.bt_models.split(",")
    sets = args.bt_crime_sets.split(",")
    print(
        f"[backtest] {len(forces)} forces ({', '.join(forces)}) x crime sets {sets} x models "
        f"{models} + oracle, hindsight; {args.origins} monthly origins, 250 m cells"
    )
    kw = dict(
        forces=forces,
        crime_sets=sets,
        models=models,
        n_origins=args.origins,
        config=BacktestConfig(),
    )
    t = time.perf_counter()
    serial = distributed_backtest(store, **kw)
    t_serial = time.perf_counter() - t
    print(
        f"[backtest] serial: {t_serial:.1f} s ({len(serial.results)} scored forecasts)", flush=True
    )
    from dask.distributed import LocalCluster

    t = time.perf_counter()
    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:  # fmt: skip
        t_start = time.perf_counter() - t
        t = time.perf_counter()
        dask = distributed_backtest(store, **kw, scheduler=cluster.scheduler_address)
        t_dask = time.perf_counter() - t
    same = _identical(serial, dask)
    print(
        f"[backtest] Dask, {args.workers} workers: {t_dask:.1f} s (+ {t_start:.1f} s to start the "
        f"cluster); speed-up {t_serial / t_dask:.2f}x ({t_serial / (t_dask + t_start):.2f}x with "
        f"the start); identical numbers: {'yes' if same else 'NO'}"
    )
    s = serial.summary()
    pai = (
        s[(s.metric == "pai@5%") & (s.crime_set == sets[0])]
        .groupby("model", sort=False)["mean"]
        .mean()
    )
    print(
        f"[backtest] PAI@5% {sets[0]}, mean over forces and origins: "
        + ", ".join(f"{m} {v:.2f}" for m, v in pai.items())
    )
    if not same:
        raise SystemExit("serial and Dask back-tests differ")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "police-uk")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/crimemap-national"))
    ap.add_argument("--rows", type=int, default=18_000_000)
    ap.add_argument("--forces", type=int, default=43)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--skip-backtest", action="store_true")
    ap.add_argument("--pg-url", default=os.environ.get("CRIMEMAP_TEST_PG_URL", ""))
    ap.add_argument("--bt-forces", default="6")
    ap.add_argument("--bt-models", default="mean,ewm")
    ap.add_argument("--bt-crime-sets", default="all-crime,burglary")
    ap.add_argument("--origins", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child", choices=["duckdb", "postgres"])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--target", default="")
    args = ap.parse_args()
    if args.child:
        child_ingest(args.child, args.data, args.target)
        return
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; SYNTHETIC data")
    args.cache.mkdir(parents=True, exist_ok=True)
    data = synth(args)
    forces = json.loads((data / "synth.json").read_text())["forces"]

    db = args.cache / "national.duckdb"
    for p in (db, db.with_suffix(".duckdb.wal")):
        p.unlink(missing_ok=True)
    duck = run_ingest("duckdb", data, str(db))

    pg_schema = ""
    started = False
    if not args.skip_pg:
        if not args.pg_url:
            args.pg_url, started = _pg_cluster("start"), True
        pg_schema = f"national_{uuid.uuid4().hex[:8]}"
    try:
        if pg_schema:
            pg = run_ingest("postgres", data, f"{args.pg_url}#{pg_schema}")
            print(
                f"[ingest] PostgreSQL / DuckDB: time {pg['seconds'] / duck['seconds']:.2f}x, "
                f"peak RSS {pg['peak_rss_mb'] / duck['peak_rss_mb']:.2f}x"
            )
        grid_counts(str(db), "duckdb")
        if pg_schema:
            grid_counts(args.pg_url, "postgres", pg_schema)
    finally:
        if pg_schema:
            _drop_schema(args.pg_url, pg_schema)
        if started:
            _pg_cluster("stop")
    if not args.skip_backtest:
        run_backtests(str(db), args, forces)


if __name__ == "__main__":
    main()
