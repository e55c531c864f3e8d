"""GET /api/stream on a real uvicorn server: a posted batch reaches a connected client."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx

from crimemap.api import create_app
from crimemap.store.embedded import DuckDBStore


def _events(lines: list[str]) -> list[tuple[str, dict]]:
    out, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name:
            out.append((name, json.loads(line[6:])))
    return out


def test_posted_batch_reaches_every_stream(
    write_store: DuckDBStore, tmp_path: Path, settings_for, live, auth
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_on_start=False), store=write_store)
    admin = auth(write_store)
    with live(app) as srv:
        got: list[list[str]] = [[], []]
        ready = threading.Barrier(3, timeout=20)

        def listen(k: int) -> None:
            with httpx.stream(
                "GET", srv.url + "/api/stream", params={"limit": 1}, headers=admin, timeout=20
            ) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                for line in r.iter_lines():
                    got[k].append(line)
                    if line.startswith("event: hello"):
                        ready.wait()

        threads = [threading.Thread(target=listen, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        ready.wait()
        deadline = time.monotonic() + 5
        while app.state.crimemap.broker.clients < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        body = {
            "incidents": [
                {
                    "crime_id": "s1",
                    "month": "2024-02",
                    "force": "north-yorkshire",
                    "longitude": -1.0819,
                    "latitude": 53.9623,
                    "category": "robbery",
                }
            ]
        }
        r = httpx.post(srv.url + "/api/incidents", json=body, headers=admin, timeout=20)
        assert r.status_code == 201
        for t in threads:
            t.join(timeout=20)
            assert not t.is_alive()
    for lines in got:
        ev = _events(lines)
        assert [e[0] for e in ev] == ["hello", "change"]
        change = ev[1][1]
        assert change["rows_inserted"] == 1
        assert change["cells"] == r.json()["cells"]
        assert change["layers"] == ["incidents", "hotspots", "emerging"]
        assert change["months"] == ["2024-02"] and change["forces"] == ["north-yorkshire"]


def test_refused_batch_sends_nothing(
    write_store: DuckDBStore, tmp_path: Path, settings_for, auth
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_on_start=False), store=write_store)
    sent: list[str] = []
    broker = app.state.crimemap.broker
    orig = broker.publish
    broker.publish = lambda event, data: sent.append(event) or orig(event, data)  # type: ignore[method-assign]
    from fastapi.testclient import TestClient

    with TestClient(app, headers=auth(write_store)) as c:
        bad = {
            "incidents": [{"month": "2024-99", "force": "north-yorkshire", "category": "robbery"}]
        }
        assert c.post("/api/incidents", json=bad).status_code == 422
    assert sent == []
