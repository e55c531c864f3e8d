"""Load benchmark of two API workers on one PostgreSQL store (a script, not a test).

Builds (once) a PostgreSQL schema holding the bundled demo sample plus every
Northumbria street file in the shared data, starts two ``crimemap serve``
processes on two ports of 127.0.0.1 (two workers behind a round-robin
proxy: half the clients talk to each), then:

1. **viewport load**: ``--clients`` concurrent clients request viewport
   layers for ``--duration`` seconds (the same requests as
   ``bench/bench_api.py``); latency percentiles and errors;
2. **live latency across workers**: ``--posts`` single-incident batches are
   POSTed to worker B while an SSE client listens on worker A (relayed by
   LISTEN/NOTIFY), under the same load; time from the POST to the event.

Goals (issue #9): p50 < 20 ms, p99 < 100 ms, zero errors at 50 clients on 2
workers; POST on one worker -> SSE on the other < 1 s. The reference printed
beside them comes from the same run: the same requests one at a time.

Usage::

    scripts/pg_cluster.sh start && eval "$(scripts/pg_cluster.sh env)"
    .venv/bin/python bench/bench_api_pg.py [--pg-url URL] [--schema bench_api]
        [--clients 50] [--duration 30] [--think 1.0] [--posts 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api as ba  # noqa: E402  (the viewport mix and the client loop)

CLI = [sys.executable, "-c", "from crimemap.cli.app import main; main()"]


def build_store(url: str, schema: str) -> str:
    """Fill the schema once (reused if it holds incidents); returns an admin token."""
    from crimemap.data import sample_police_uk
    from crimemap.ingest import ingest
    from crimemap.safeguards import add_user
    from crimemap.store.postgres import PostgresStore

    with PostgresStore(url, schema=schema) as st:
        if st.status().incidents == 0:
            files = sorted((ba.SHARED / "police-uk").glob("*/*-northumbria-street.csv.gz"))
            if not files:
                sys.exit(f"no Northumbria files under {ba.SHARED / 'police-uk'}")
            t = time.perf_counter()
            r1 = ingest(st, [sample_police_uk()])
            r2 = ingest(st, files, threads=2)
            print(
                f"store: {r1.rows_inserted + r2.rows_inserted:,} incidents into PostgreSQL "
                f"schema {schema} in {time.perf_counter() - t:.1f} s"
            )
        return add_user(st, f"bench{time.time_ns()}", "admin", actor="bench")[1]


def start_worker(
    url: str, out_dir: Path, model: str, lsoa: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    port = ba.free_port()
    env = {**os.environ, "CRIMEMAP_RATE_LIMIT_PER_S": "1000000", "CRIMEMAP_RATE_BURST": "1000000"}
    # The request mix includes LSOA viewports: the workers need the boundaries.
    env["CRIMEMAP_LSOA_GEOJSON_DIR"] = str(lsoa)
    env.setdefault("CRIMEMAP_SESSION_KEY", "bench-session-key-" + "x" * 32)
    cmd = [*CLI, "serve", "--store", url, "--port", str(port), "--out-dir", str(out_dir)]
    proc = subprocess.Popen([*cmd, "--model", model, "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("a worker exited during start-up")
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                return base, proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.terminate()
    sys.exit("a worker did not start within 900 s")


async def cross_worker_latency(listen_on: str, post_to: str, posts: int) -> list[float]:
    """POST to one worker; time until the change event reaches an SSE client of the other."""
    got: dict[int, float] = {}
    sent: dict[int, float] = {}
    hello = asyncio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=listen_on, timeout=None, headers=ba.AUTH) as c,
            c.stream("GET", "/api/stream", params={"limit": posts}) as r,
        ):
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "hello":
                        hello.set()
                elif line.startswith("data: ") and event == "change":
                    got[int(json.loads(line[6:])["batch_id"])] = time.perf_counter()

    task = asyncio.create_task(listen())
    await asyncio.wait_for(hello.wait(), 30)
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=post_to, timeout=60, headers=ba.AUTH) as c:
        for k in range(posts):
            lon, lat = rng.choice(ba.CENTRES[:5])
            body = {
                "incidents": [
                    {
                        "month": "2023-02",
                        "force": "northumbria",
                        "longitude": lon + rng.uniform(-0.02, 0.02),
                        "latitude": lat + rng.uniform(-0.01, 0.01),
                        "category": "burglary",
                        "crime_id": f"bench-pg-{time.time_ns()}-{k}",
                    }
                ]
            }
            t = time.perf_counter()
            r = await c.post("/api/incidents", json=body)
            if r.status_code != 201:
                print("POST failed:", r.status_code, r.text[:200])
                continue
            sent[int(r.json()["batch_id"])] = t
            await asyncio.sleep(0.5)
    try:
        await asyncio.wait_for(task, 30)
    except TimeoutError:
        task.cancel()
    return [got[b] - t for b, t in sent.items() if b in got]


async def run(args: argparse.Namespace, bases: list[str]) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates every figure below)"
    )
    meta = httpx.get(bases[0] + "/api/meta", timeout=30, headers=ba.AUTH).json()
    months = meta["months"]
    print(f"server: 2 workers on PostgreSQL, {meta['incidents']:,} incidents, {meta['forces']}")
    ref = await ba.sequential_reference(bases[0], months, 200)
    print(
        f"reference, one request at a time (n={len(ref)}): "
        f"p50 {ba.pct(ref, 50):.1f} ms, p99 {ba.pct(ref, 99):.1f} ms"
    )
    lat: list[float] = []
    errors: list[str] = []
    half = max(args.clients // 2, 1)
    limits = httpx.Limits(max_connections=half, max_keepalive_connections=half)
    pools = [
        httpx.AsyncClient(base_url=b, timeout=30, limits=limits, headers=ba.AUTH) for b in bases
    ]
    stop = time.monotonic() + args.duration
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            ba.client_loop(k, pools[k % 2], months, stop, args.think, 10**9, lat, errors)
            for k in range(args.clients)
        )
    )
    wall = time.perf_counter() - t0
    p50, p99 = ba.pct(lat, 50), ba.pct(lat, 99)
    print(
        f"viewport load on 2 workers: {args.clients} clients, {args.duration:.0f} s, think "
        f"{args.think:g} s: {len(lat):,} requests ({len(lat) / wall:.0f}/s), errors {len(errors)}"
    )
    print(
        f"  latency p50 {p50:.1f} ms (goal < 20; x{p50 / ba.pct(ref, 50):.2f} of the reference), "
        f"p99 {p99:.1f} ms (goal < 100)"
    )
    for e in errors[:5]:
        print("  error:", e)
    lat2: list[float] = []
    errors2: list[str] = []
    stop = time.monotonic() + args.posts * 0.6 + 5
    load = asyncio.gather(
        *(
            ba.client_loop(k + 1000, pools[k % 2], months, stop, args.think, 10**9, lat2, errors2)
            for k in range(args.clients)
        )
    )
    live = await cross_worker_latency(bases[0], bases[1], args.posts)
    await load
    for p in pools:
        await p.aclose()
    if live:
        print(
            f"POST on worker B -> SSE event on worker A, under load: median "
            f"{statistics.median(live) * 1000:.0f} ms (goal < 1000), max {max(live) * 1000:.0f} ms, "
            f"{len(live)}/{args.posts} events received"
        )
    else:
        print("POST -> SSE across workers: no events received")
    print(
        f"  viewport latency meanwhile: p50 {ba.pct(lat2, 50):.1f} ms, "
        f"p99 {ba.pct(lat2, 99):.1f} ms, errors {len(errors2)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-url", default=os.environ.get("CRIMEMAP_TEST_PG_URL", ""))
    ap.add_argument("--schema", default="bench_api")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--think", type=float, default=1.0)
    ap.add_argument("--posts", type=int, default=20)
    ap.add_argument("--model", default="ewm")
    args = ap.parse_args()
    if not args.pg_url:
        sys.exit("give --pg-url or set CRIMEMAP_TEST_PG_URL (scripts/pg_cluster.sh start)")
    token = build_store(args.pg_url, args.schema)
    ba.AUTH["Authorization"] = f"Bearer {token}"
    sep = "&" if "?" in args.pg_url else "?"
    url = f"{args.pg_url}{sep}options=-csearch_path%3D{args.schema}%2Cpublic"
    procs = []
    with tempfile.TemporaryDirectory(prefix="crimemap-bench-pg-") as out:
        try:
            bases = []
            lsoa = ba.lsoa_folder(Path(out))
            for _ in range(2):
                base, proc = start_worker(url, Path(out), args.model, lsoa)
                bases.append(base)
                procs.append(proc)
            asyncio.run(run(args, bases))
        finally:
            for p in procs:
                p.terminate()
                p.wait(30)


if __name__ == "__main__":
    main()
