"""Ingest benchmark for the PostgreSQL + PostGIS store (issue #9).

Ingests every police.uk street file in ../shared/data/police-uk into a fresh
PostgreSQL schema and, in the same run, into a fresh DuckDB file (the
reference). Each variant runs in its own child process so that peak memory
(max RSS of the Python process; the server's memory is not included) is
measured separately; each is run ``--repeat`` times and the best time is
reported. The ingest is also split into the file reading/validation
(``read_batch``, identical for both) and the store write (``write_batch``).

A second pass ingests the same street files again as two batches (the first
half, then all of them) to time the upsert path, where the table is not
empty and rows go through a temporary table.

The server comes from ``--url`` or ``CRIMEMAP_TEST_PG_URL``; without either
the script starts a throw-away cluster with scripts/pg_cluster.sh and stops
it afterwards.

Usage: python bench/bench_ingest_pg.py [--data DIR] [--repeat N] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crimemap.store import Store

REPO = Path(__file__).resolve().parents[1]


def _files(data: Path) -> list[Path]:
    return sorted(data.glob("*/*-street.csv.gz"))


def _open(which: str, url: str, tmp: str) -> tuple[Store, str]:
    from crimemap.store import DuckDBStore
    from crimemap.store.postgres import PostgresStore

    if which == "duckdb":
        return DuckDBStore(Path(tmp) / "bench.duckdb"), ""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    return PostgresStore(url, schema=schema), schema


def _drop(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as c:
        c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def run(which: str, data: Path, url: str, mode: str) -> dict[str, float]:
    from crimemap.ingest import read_batch

    files = _files(data)
    batches = [files] if mode == "fresh" else [files[: len(files) // 2], files]
    with tempfile.TemporaryDirectory() as tmp:
        st, schema = _open(which, url, tmp)
        t_read = t_write = 0.0
        rows = stored = 0
        t0 = time.perf_counter()
        for paths in batches:
            a = time.perf_counter()
            b = read_batch(
                paths,
                skip_checksums=frozenset(st.checksums()),
                first_file_id=st.next_file_id(),
            )
            t_read += time.perf_counter() - a
            a = time.perf_counter()
            rep = st.write_batch(b)
            t_write += time.perf_counter() - a
            rows += rep.rows_read
            stored += rep.rows_inserted
        dt = time.perf_counter() - t0
        n = st.status().incidents
        st.close()
        if schema:
            _drop(url, schema)
    return {
        "seconds": dt,
        "read_s": t_read,
        "write_s": t_write,
        "rows": rows,
        "stored": stored,
        "incidents": n,
    }


def child(which: str, data: Path, url: str, mode: str) -> None:
    out = run(which, data, url, mode)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _cluster(cmd: str) -> str:
    p = subprocess.run(
        ["bash", str(REPO / "scripts" / "pg_cluster.sh"), cmd],
        capture_output=True,
        text=True,
        check=True,
    )
    return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "police-uk")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--url", default=os.environ.get("CRIMEMAP_TEST_PG_URL", ""))
    ap.add_argument("--child", choices=["duckdb", "postgres"])
    ap.add_argument("--mode", choices=["fresh", "upsert"], default="fresh")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.url, args.mode)
        return
    started = False
    if not args.url:
        args.url, started = _cluster("start"), True
    try:
        print(f"police.uk street files: {len(_files(args.data))} in {args.data}")
        for mode in ("fresh", "upsert"):
            res: dict[str, dict[str, float]] = {}
            for which in ("duckdb", "postgres"):
                runs = []
                for _ in range(args.repeat):
                    p = subprocess.run(
                        [sys.executable, __file__, "--child", which, "--data", str(args.data),
                         "--url", args.url, "--mode", mode],
                        capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
                best = min(runs, key=lambda r: r["seconds"])
                best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
                res[which] = best
                print(
                    f"[{mode}] {which:>8}: {best['rows']:,.0f} rows in {best['seconds']:.2f} s "
                    f"({best['rows'] / best['seconds']:,.0f} rows/s; read {best['read_s']:.2f} s, "
                    f"write {best['write_s']:.2f} s = {best['stored'] / best['write_s']:,.0f} "
                    f"rows/s stored), peak RSS {best['peak_rss_mb']:,.0f} MB, "
                    f"{best['incidents']:,.0f} incidents"
                    f"  [runs: {', '.join(format(r['seconds'], '.2f') for r in runs)}]"
                )
            assert res["duckdb"]["incidents"] == res["postgres"]["incidents"]
            d, p_ = res["duckdb"], res["postgres"]
            print(
                f"[{mode}] PostgreSQL / DuckDB time: total {p_['seconds'] / d['seconds']:.2f}x, "
                f"write {p_['write_s'] / d['write_s']:.2f}x; peak RSS "
                f"{p_['peak_rss_mb'] / d['peak_rss_mb']:.2f}x"
            )
    finally:
        if started:
            _cluster("stop")


if __name__ == "__main__":
    main()
