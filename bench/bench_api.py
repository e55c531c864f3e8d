"""Load benchmark of the web API (a script, not a test).

Starts ``crimemap serve``'s app under uvicorn in a subprocess on 127.0.0.1,
on a store holding the bundled demo sample plus every Northumbria street file
in the shared data (the largest force), then:

1. **viewport load**: ``--clients`` concurrent clients (asyncio + httpx) request
   viewport layers (random pans and zooms over both areas, random layer,
   crime set and time window) for ``--duration`` seconds, each pausing
   ``--think`` seconds between requests; latency percentiles and errors;
2. **live latency**: while the clients keep loading the server, ``--posts``
   single-incident JSON batches are POSTed and the time until each one's
   ``change`` event reaches a connected SSE client is measured.

Goals (issue #5): p50 < 20 ms, p99 < 100 ms, zero errors; median POST->SSE < 1 s.
A reference figure from the same run is printed beside them: the latency of
the same requests made one at a time (no concurrency).

Usage::

    .venv/bin/python bench/bench_api.py [--store out/bench_api.duckdb] [--clients 50]
        [--duration 30] [--think 1.0] [--posts 20] [--model ewm]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRIMEMAP_SHARED_DATA", REPO.parent / "shared" / "data"))

#: (lon, lat) centres of the two areas and a few busy towns in them.
CENTRES = [
    (-1.61, 54.97),  # Newcastle
    (-1.38, 54.91),  # Sunderland
    (-1.60, 54.96),  # Gateshead
    (-1.45, 55.02),  # North Shields
    (-1.69, 55.17),  # Morpeth
    (-1.08, 53.96),  # York
    (-1.54, 53.99),  # Harrogate
    (-0.40, 54.28),  # Scarborough
]
#: Layer requested (``incidents:h3`` / ``incidents:lsoa``: the incidents layer on H3
#: hexagons or LSOAs, issue #5's other units).
LAYERS = (
    ["incidents"] * 4
    + ["incidents:h3", "incidents:lsoa"]
    + ["hotspots"] * 2
    + ["forecast"] * 2
    + ["emerging"]
)
CRIME_SETS = ["all-crime", "all-crime", "violence", "burglary", "asb"]
WINDOWS = [1, 3, 12]


def build_store(path: Path) -> None:
    """Demo sample + every Northumbria street file, ingested once (reused if present)."""
    if path.exists():
        return
    from crimemap.data import sample_police_uk
    from crimemap.ingest import ingest
    from crimemap.store import open_store

    files = sorted((SHARED / "police-uk").glob("*/*-northumbria-street.csv.gz"))
    if not files:
        sys.exit(f"no Northumbria files under {SHARED / 'police-uk'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open_store(path) as st:
        r1 = ingest(st, [sample_police_uk()])
        r2 = ingest(st, files, threads=2)
    print(
        f"store: {r1.rows_inserted + r2.rows_inserted:,} incidents "
        f"({len(files)} Northumbria files + demo sample) in {time.perf_counter() - t:.1f} s"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER = """
import os, sys, time, uvicorn
from pathlib import Path
from crimemap.api import create_app
from crimemap.settings import Settings
from crimemap.safeguards import add_user
# The benchmark measures the service, not the per-client rate limit.
s = Settings(store=sys.argv[1], out_dir=Path(sys.argv[2]), forecast_model=sys.argv[3], port=int(sys.argv[4]),
             lsoa_geojson_dir=Path(sys.argv[5]), rate_limit_per_s=1e6, rate_burst=10**6)
app = create_app(s)
# An admin token for the load clients (restricted layers, uploads, the stream).
tok = add_user(app.state.crimemap.store, f"bench{time.time_ns()}", "admin", actor="bench")[1]
(Path(sys.argv[2]) / "bench_token").write_text(tok)
if os.environ.get("BENCH_SLOW_MS"):
    limit = float(os.environ["BENCH_SLOW_MS"]) / 1000

    @app.middleware("http")
    async def slow(request, call_next):
        t = time.perf_counter()
        r = await call_next(request)
        dt = time.perf_counter() - t
        if dt > limit:
            print(f"slow {time.time() % 1000:.2f} {dt * 1000:.0f} ms {request.url.path}?{request.url.query}", file=sys.stderr)
        return r
uvicorn.run(app, host="127.0.0.1", port=s.port, log_level="warning")
"""


#: Authorization header of the benchmark's admin user (set once the server is up).
AUTH: dict[str, str] = {}


def lsoa_folder(tmp: Path) -> Path:
    """LSOA boundaries of both forces' districts (shared data), for the LSOA layer."""
    from crimemap.spatial.lsoa import FORCE_LADS

    src = SHARED / "uk-geojson" / "json" / "statistical" / "eng" / "lsoa_by_lad"
    d = tmp / "lsoa"
    d.mkdir()
    for force in ("north-yorkshire", "northumbria"):
        for lad in FORCE_LADS[force]:
            (d / f"{lad}.json").symlink_to(src / f"{lad}.json")
    return d


def start_server(
    store: Path, out_dir: Path, model: str, port: int, lsoa: Path
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(store), str(out_dir), model, str(port), str(lsoa)],
        cwd=REPO,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("server exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                AUTH["Authorization"] = "Bearer " + (out_dir / "bench_token").read_text().strip()
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.terminate()
    sys.exit("server did not start within 600 s")


def viewport(rng: random.Random, months: list[str]) -> tuple[str, dict[str, str]]:
    """A random map view: 1280x800 px at a zoom of 9-15 around a busy place."""
    lon, lat = rng.choice(CENTRES)
    zoom = rng.choice([9, 10, 11, 12, 12, 13, 13, 14, 15])
    lon += rng.uniform(-0.1, 0.1)
    lat += rng.uniform(-0.05, 0.05)
    deg_per_px = 360.0 / (256 * 2**zoom)
    half_w = 640 * deg_per_px
    half_h = 400 * deg_per_px * np.cos(np.radians(lat))
    end = rng.randrange(len(months))
    w = rng.choice(WINDOWS)
    layer = rng.choice(LAYERS)
    params = {
        "bbox": f"{lon - half_w:.5f},{lat - half_h:.5f},{lon + half_w:.5f},{lat + half_h:.5f}",
        "zoom": str(zoom),
        "categories": rng.choice(CRIME_SETS),
        "start": months[max(0, end - w + 1)],
        "end": months[end],
    }
    if layer == "emerging":  # as the map asks: every month up to the selected one
        del params["start"]
    if ":" in layer:
        params["unit"] = layer.split(":")[1]
    return layer, params


async def client_loop(
    k: int,
    c: httpx.AsyncClient,
    months: list[str],
    stop: float,
    think: float,
    max_requests: int,
    lat: list[float],
    errors: list[str],
    by_layer: dict[str, list[float]] | None = None,
    server: list[float] | None = None,
) -> None:
    rng = random.Random(k)
    # Independent users do not all click at the same instant: stagger the starts.
    await asyncio.sleep(rng.uniform(0, max(think, 0.05) * 2))
    for _ in range(max_requests):
        if time.monotonic() >= stop:
            break
        layer, params = viewport(rng, months)
        t = time.perf_counter()
        try:
            r = await c.get(f"/api/layers/{layer.split(':')[0]}", params=params)
            await r.aread()
            # 409: too little data for a statistic in that window (a domain answer).
            ok = r.status_code in (200, 409)
            if not ok:
                errors.append(f"{r.status_code} {layer} {params}")
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__} {layer}")
            ok = False
        if ok:
            lat.append(time.perf_counter() - t)
            timing = r.headers.get("server-timing", "")
            if server is not None and "dur=" in timing:
                server.append(float(timing.split("dur=")[1]) / 1000.0)
            if by_layer is not None:
                by_layer.setdefault(layer, []).append(lat[-1])
        if think:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def sequential_reference(base: str, months: list[str], n: int) -> list[float]:
    """The same kind of requests one at a time: the service time without queueing."""
    rng = random.Random(10_000)
    out = []
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=AUTH) as c:
        for _ in range(n):
            layer, params = viewport(rng, months)
            t = time.perf_counter()
            r = await c.get(f"/api/layers/{layer.split(':')[0]}", params=params)
            await r.aread()
            out.append(time.perf_counter() - t)
    return out


#: Forecast refit events seen by :func:`live_latency`: (arrival, refit seconds); LAST_POST
#: holds the time of the last POST.
REFITS: list[tuple[float, float]] = []
LAST_POST = [0.0]


async def live_latency(base: str, posts: int) -> list[float]:
    """POST one incident at a time; time until its change event reaches an SSE client.

    The debounced forecast refit that follows the uploads is announced on the same
    stream (``layers: ["forecast"]``); its arrival is recorded in :data:`REFITS`.
    """
    got: dict[int, float] = {}
    sent: dict[int, float] = {}
    hello = asyncio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=base, timeout=None, headers=AUTH) as c,
            c.stream("GET", "/api/stream") as r,
        ):
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "hello":
                        hello.set()
                elif line.startswith("data: ") and event == "change":
                    data = json.loads(line[6:])
                    if "batch_id" in data:
                        got[int(data["batch_id"])] = time.perf_counter()
                    elif "forecast" in data.get("layers", []):
                        REFITS.append((time.perf_counter(), data["forecast"]["seconds"]))

    task = asyncio.create_task(listen())
    await asyncio.wait_for(hello.wait(), 30)
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=AUTH) as c:
        for k in range(posts):
            lon, lat = rng.choice(CENTRES)
            body = {
                "incidents": [
                    {
                        "month": "2023-02",
                        "force": "northumbria",
                        "longitude": lon + rng.uniform(-0.02, 0.02),
                        "latitude": lat + rng.uniform(-0.01, 0.01),
                        "category": "burglary",
                        "crime_id": f"bench-{time.time_ns()}-{k}",
                    }
                ]
            }
            t = time.perf_counter()
            r = await c.post("/api/incidents", json=body)
            if r.status_code != 201:
                print("POST failed:", r.status_code, r.text[:200])
                continue
            sent[int(r.json()["batch_id"])] = t
            LAST_POST[0] = time.perf_counter()
            await asyncio.sleep(0.5)
    # Every batch's event, then the forecast refit that follows the last upload.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not set(sent) <= set(got) or not REFITS or REFITS[-1][0] < LAST_POST[0]
    ):
        await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return [got[b] - t for b, t in sent.items() if b in got]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q)) if xs else float("nan")


async def run(args: argparse.Namespace, base: str) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates every figure below)"
    )
    meta = httpx.get(base + "/api/meta", timeout=30, headers=AUTH).json()
    months = meta["months"]
    print(
        f"server: {meta['incidents']:,} incidents, forces {meta['forces']}, forecast {meta['forecast']}"
    )

    ref = await sequential_reference(base, months, 200)
    print(
        f"reference, one request at a time (n={len(ref)}): p50 {pct(ref, 50):.1f} ms, p99 {pct(ref, 99):.1f} ms"
    )

    lat: list[float] = []
    errors: list[str] = []
    by_layer: dict[str, list[float]] = {}
    server: list[float] = []
    # Clients are created before the clock starts (creating an httpx client costs
    # tens of ms of the load generator's CPU, which would show up as latency).
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    pool = httpx.AsyncClient(base_url=base, timeout=30, limits=limits, headers=AUTH)
    stop = time.monotonic() + args.duration
    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            client_loop(
                k, pool, months, stop, args.think, args.max_requests, lat, errors, by_layer, server
            )
            for k in range(args.clients)
        )
    )
    wall = time.perf_counter() - t0
    print(
        f"viewport load: {args.clients} clients, {args.duration:.0f} s, think {args.think:g} s: "
        f"{len(lat):,} requests ({len(lat) / wall:.0f}/s), errors {len(errors)}"
    )
    p50, p99 = pct(lat, 50), pct(lat, 99)
    print(
        f"  latency p50 {p50:.1f} ms (goal < 20; x{p50 / pct(ref, 50):.2f} of the one-at-a-time reference)"
    )
    print(
        f"  latency p90 {pct(lat, 90):.1f} ms, p99 {p99:.1f} ms (goal < 100), max {pct(lat, 100):.1f} ms"
    )
    print(
        f"  server-side time (Server-Timing, excludes the client's own queueing): "
        f"p50 {pct(server, 50):.1f} ms, p90 {pct(server, 90):.1f} ms, p99 {pct(server, 99):.1f} ms"
    )
    for name, xs in sorted(by_layer.items()):
        print(f"    {name:10s} n={len(xs):5d} p50 {pct(xs, 50):7.1f} ms  p99 {pct(xs, 99):7.1f} ms")
    for e in errors[:5]:
        print("  error:", e)

    # Live latency while the clients keep loading the server.
    lat2: list[float] = []
    errors2: list[str] = []
    stop = time.monotonic() + args.posts * 0.6 + 5
    load = asyncio.gather(
        *(
            client_loop(k + 1000, pool, months, stop, args.think, args.max_requests, lat2, errors2)
            for k in range(args.clients)
        )
    )
    live = await live_latency(base, args.posts)
    await load
    await pool.aclose()
    if live:
        print(
            f"POST -> SSE event under load: median {statistics.median(live) * 1000:.0f} ms "
            f"(goal < 1000), max {max(live) * 1000:.0f} ms, {len(live)}/{args.posts} events received"
        )
    else:
        print("POST -> SSE: no events received")
    print(
        f"  viewport latency meanwhile (cache invalidated by each write): p50 {pct(lat2, 50):.1f} ms, "
        f"p99 {pct(lat2, 99):.1f} ms, errors {len(errors2)}"
    )
    during = [r for r in REFITS if r[0] < LAST_POST[0]]
    after = [r for r in REFITS if r[0] >= LAST_POST[0]]
    print(
        f"forecast refits announced on the stream: {len(during)} while posting (debounce "
        f"caps the wait), then {len(after)} after the last POST"
        + (
            f", {after[0][0] - LAST_POST[0]:.1f} s after it (refit itself {after[0][1]:.1f} s)"
            if after
            else ""
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=REPO / "out" / "bench_api.duckdb")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument(
        "--think", type=float, default=1.0, help="mean pause between a client's requests (s)"
    )
    ap.add_argument("--max-requests", type=int, default=100_000, help="cap per client")
    ap.add_argument("--posts", type=int, default=20)
    ap.add_argument("--model", default="ewm", help="forecast model computed at server start-up")
    args = ap.parse_args()
    build_store(args.store)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp) / "store.duckdb"
        work.write_bytes(args.store.read_bytes())  # POSTs must not change the reusable store
        t = time.perf_counter()
        proc = start_server(work, REPO / "out", args.model, port, lsoa_folder(Path(tmp)))
        print(f"server ready in {time.perf_counter() - t:.1f} s (pid {proc.pid}, 127.0.0.1:{port})")
        try:
            asyncio.run(run(args, f"http://127.0.0.1:{port}"))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
