"""Several API workers on one PostgreSQL store: live updates cross processes (LISTEN/NOTIFY).

Two ``crimemap serve`` processes (two ports, one database schema) stand for
two workers behind a reverse proxy: a stream client on worker A must get the
change event of a batch POSTed to worker B, and A's layers must show the new
counts. ``crimemap serve --workers 2`` itself is checked to start on
PostgreSQL and to refuse the embedded DuckDB store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests._backends import schema_url
from tests._live import free_port

from crimemap.ingest import ingest
from crimemap.safeguards import add_user
from crimemap.store.postgres import PostgresStore

UK = "-8.5,49.8,2.0,60.0"
CLI = [sys.executable, "-c", "from crimemap.cli.app import main; main()"]


@contextmanager
def serving(url: str, tmp: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``crimemap serve`` process on a free port; yields its base URL once it answers."""
    port = free_port()
    cmd = [*CLI, "serve", "--store", url]
    cmd += ["--port", str(port), "--no-forecast", "--out-dir", str(tmp), "--log-level", "warning"]
    env = {**os.environ, "CRIMEMAP_RATE_LIMIT_PER_S": "10000", "CRIMEMAP_RATE_BURST": "10000"}
    proc = subprocess.Popen([*cmd, *extra], env=env, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "crimemap serve exited"
            assert time.monotonic() < deadline, "crimemap serve did not start"
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def pg_served(police_uk: Path, pg_url: str, pg_schema: str) -> tuple[str, dict[str, str]]:
    """A schema with two months of North Yorkshire and an admin; its URL and auth headers."""
    with PostgresStore(pg_url, schema=pg_schema) as st:
        months = ("2024-01", "2024-02")
        ingest(st, [police_uk / m / f"{m}-north-yorkshire-street.csv.gz" for m in months])
        _, token = add_user(st, "admin-mw", "admin")
    return schema_url(pg_url, pg_schema), {"Authorization": f"Bearer {token}"}


def _cell_value(base: str, headers: dict[str, str], cell: str) -> float:
    fc = httpx.get(
        base + "/api/layers/incidents",
        params={"bbox": UK, "cell_m": 250, "categories": "robbery"},
        headers=headers,
        timeout=30,
    ).json()
    return sum(f["properties"]["value"] for f in fc["features"] if f["properties"]["id"] == cell)


@pytest.mark.slow
def test_post_to_one_worker_reaches_the_stream_of_another(
    pg_served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, admin = pg_served
    with serving(url, tmp_path) as (a, _), serving(url, tmp_path) as (b, _):
        lines: list[str] = []
        got_hello, got_change = threading.Event(), threading.Event()
        arrived: list[float] = []

        def listen() -> None:
            with httpx.stream(
                "GET", a + "/api/stream", params={"limit": 1}, headers=admin, timeout=30
            ) as r:
                for line in r.iter_lines():
                    lines.append(line)
                    if line.startswith("event: hello"):
                        got_hello.set()
                    if line.startswith("data: ") and any(
                        x.startswith("event: change") for x in lines
                    ):
                        arrived.append(time.perf_counter())
                        got_change.set()

        th = threading.Thread(target=listen, daemon=True)
        th.start()
        assert got_hello.wait(30)
        body = {
            "incidents": [
                {
                    "crime_id": f"mw{k}",
                    "month": "2024-02",
                    "force": "north-yorkshire",
                    "longitude": -1.0819,
                    "latitude": 53.9623,
                    "category": "robbery",
                }
                for k in range(3)
            ]
        }
        t0 = time.perf_counter()
        r = httpx.post(b + "/api/incidents", json=body, headers=admin, timeout=30)
        posted = time.perf_counter()
        assert r.status_code == 201, r.text
        assert got_change.wait(5), f"no change event on the other worker: {lines}"
        latency = arrived[0] - posted
        print(
            f"\nPOST to worker B -> SSE event on worker A: {latency * 1000:.0f} ms after the "
            f"response ({(arrived[0] - t0) * 1000:.0f} ms after the request)"
        )
        th.join(10)
        cell = r.json()["cells"][0]
        event = json.loads(next(x for x in lines if x.startswith("data: ") and "batch_id" in x)[6:])
        assert event["rows_inserted"] == 3 and event["batch_id"] == r.json()["batch_id"]
        # Worker A rebuilt the cells from its own index: the same ones as B's answer.
        assert event["cells"] == r.json()["cells"]
        assert event["forces"] == ["north-yorkshire"] and event["months"] == ["2024-02"]
        # Both workers now count the new incidents (A from the relayed file ids).
        assert _cell_value(a, admin, cell) == _cell_value(b, admin, cell) >= 3
        ma = httpx.get(a + "/api/meta", headers=admin, timeout=30).json()
        mb = httpx.get(b + "/api/meta", headers=admin, timeout=30).json()
        assert ma.get("version") == mb.get("version")


@pytest.mark.slow
def test_serve_with_two_workers_on_postgres(
    pg_served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, admin = pg_served
    with serving(url, tmp_path, "--workers", "2") as (base, _):
        for _ in range(6):  # whichever worker answers, the data and the token are the same
            r = httpx.get(base + "/api/layers/incidents", params={"bbox": UK}, headers=admin)
            assert r.status_code == 200 and r.json()["features"]


def test_serve_refuses_several_workers_on_duckdb(tmp_path: Path) -> None:
    db = tmp_path / "one.duckdb"
    cmd = [*CLI, "serve", "--store", str(db)]
    out = subprocess.run(
        [*cmd, "--workers", "2", "--no-forecast"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    assert "needs a PostgreSQL store" in out.stdout + out.stderr
