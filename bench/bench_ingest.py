"""Ingest benchmark (issue #2).

Ingests every police.uk street file in ../shared/data/police-uk into a fresh
DuckDB store and, in the same run, times the reference: a plain pandas
``read_csv`` of each file + ``concat``. Each variant runs in its own child
process so that peak memory (max RSS) is measured separately; each is run
``--repeat`` times and the best time is reported.

Goal: 1.3 M rows in under 10 s on 2 cores, at least 3x faster than the pandas
reference, peak memory under 2 GB.

Besides wall time each variant reports the CPU seconds (user + system, all
threads) spent in the timed region: on a machine shared with other work the
wall times swing with the load, CPU seconds much less. The ratio of CPU
seconds says how much work each variant does; the ratio of wall times is the
goal.

``--context`` adds a third variant for context only: the pandas reference
plus writing its frame into a DuckDB file (no validation), i.e. the parse and
the compressed write that any store-writing ingest pays. The goal is still
judged against the plain pandas reference.

Usage: python bench/bench_ingest.py [--data DIR] [--repeat N] [--context]
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _files(data: Path) -> list[Path]:
    return sorted(data.glob("*/*-street.csv.gz"))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _apply_runtime() -> None:
    """The process tuning the ``crimemap`` CLI applies before every command."""
    from crimemap.cli._common import apply_runtime, settings

    apply_runtime(settings())


def run_ours(data: Path) -> dict[str, float]:
    # pyarrow imports pandas on its first numpy conversion (about 0.2 s). The
    # reference imports pandas before its clock starts, so this side does too:
    # both variants time the work, not the library imports.
    import pandas  # noqa: F401

    from crimemap.ingest import ingest
    from crimemap.store import DuckDBStore

    _apply_runtime()  # as the CLI runs it
    files = _files(data)
    with tempfile.TemporaryDirectory() as tmp:
        st = DuckDBStore(Path(tmp) / "bench.duckdb")
        t0, c0 = time.perf_counter(), _cpu()
        rep = ingest(st, files)
        st.close()
        dt, dc = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": dt, "cpu": dc, "rows": rep.rows_read, "stored": rep.rows_inserted}


def run_pandas(data: Path) -> dict[str, float]:
    import pandas as pd

    files = _files(data)
    t0, c0 = time.perf_counter(), _cpu()
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    dt, dc = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": dt, "cpu": dc, "rows": len(df), "stored": 0}


def run_pandas_store(data: Path) -> dict[str, float]:
    """Context only (not the goal's reference): pandas parse + the same DuckDB write.

    No validation, projection, ids or de-duplication: only parsing and a
    compressed, durable DuckDB table, the two costs every store-writing
    ingest pays.
    """
    import duckdb
    import pandas as pd

    files = _files(data)
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), _cpu()
        df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        con = duckdb.connect(str(Path(tmp) / "ref.duckdb"))
        con.execute("SET preserve_insertion_order = false")
        con.execute("CREATE TABLE street AS SELECT * FROM df")
        con.close()
        dt, dc = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": dt, "cpu": dc, "rows": len(df), "stored": len(df)}


def run_parse_floor(data: Path) -> dict[str, float]:
    """Context only: crimemap's decompress + CSV parse stage and nothing else.

    The fastest readers at hand (isal's gzip, Arrow's CSV parser reading the
    street reader's nine columns, eight of them dictionary-encoded) on the
    same two threads as the ingest: no validation, projection, ids or store.
    Any ingest that parses the files pays at least this, so its ratio to the
    pandas reference bounds what a full ingest could reach on this machine.
    """
    from concurrent.futures import ThreadPoolExecutor

    import pandas  # noqa: F401  (imported before the clock, as in run_ours)

    from crimemap.ingest._csv import parse_csv
    from crimemap.ingest._io import expand_paths
    from crimemap.ingest.policeuk import _STREET_DICT, _STREET_USED, STREET_COLUMNS

    _apply_runtime()
    files = _files(data)

    def parse(src) -> int:  # type: ignore[no-untyped-def]
        n = parse_csv(
            src, required=STREET_COLUMNS, columns=_STREET_USED, dictionary=_STREET_DICT
        ).table.num_rows
        src.release()
        return n

    t0, c0 = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = sum(pool.map(parse, expand_paths(files)))
    dt, dc = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": dt, "cpu": dc, "rows": rows, "stored": 0}


_RUNS = {
    "crimemap": run_ours,
    "pandas": run_pandas,
    "pandas+duckdb": run_pandas_store,
    "parse-only": run_parse_floor,
}


def child(which: str, data: Path) -> None:
    out = _RUNS[which](data)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "police-uk")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", choices=list(_RUNS))
    ap.add_argument(
        "--context",
        action="store_true",
        help="also time pandas parse + the same DuckDB write (context, not the goal)",
    )
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data)
        return
    n_files = len(_files(args.data))
    print(f"police.uk street files: {n_files} in {args.data}")
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    res: dict[str, dict[str, float]] = {}
    extra = ["pandas+duckdb", "parse-only"] if args.context else []
    for which in ("pandas", "crimemap", *extra):
        runs = []
        for _ in range(args.repeat):
            p = subprocess.run(
                [sys.executable, __file__, "--child", which, "--data", str(args.data)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda r: r["seconds"])
        best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
        res[which] = best
        print(
            f"{which:>13}: {best['rows']:,.0f} rows in {best['seconds']:.2f} s "
            f"({best['rows'] / best['seconds']:,.0f} rows/s), CPU {best['cpu']:.2f} s, "
            f"peak RSS {best['peak_rss_mb']:,.0f} MB"
            f"  [runs: {', '.join(format(r['seconds'], '.2f') for r in runs)}]"
        )
    ratio = res["pandas"]["seconds"] / res["crimemap"]["seconds"]
    print(f"speed-up vs pandas read_csv+concat: {ratio:.2f}x (goal >= 3x)")
    cpu_ratio = res["pandas"]["cpu"] / res["crimemap"]["cpu"]
    print(f"CPU seconds, pandas / crimemap: {cpu_ratio:.2f}x")
    if "pandas+duckdb" in res:
        ctx = res["pandas+duckdb"]["seconds"] / res["crimemap"]["seconds"]
        print(f"context: pandas read_csv+concat+DuckDB write / crimemap: {ctx:.2f}x (not a goal)")
    if "parse-only" in res:
        floor = res["pandas"]["seconds"] / res["parse-only"]["seconds"]
        print(
            f"context: pandas / crimemap's decompress+parse stage alone: {floor:.2f}x "
            "(the most any ingest that parses these files reaches here)"
        )
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"goal < 10 s: {'met' if res['crimemap']['seconds'] < 10 else 'MISSED'}; "
        f"goal peak < 2 GB: {'met' if res['crimemap']['peak_rss_mb'] < 2048 else 'MISSED'}; "
        f"goal >= 3x: {'met' if ratio >= 3 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
