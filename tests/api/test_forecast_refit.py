"""After uploads the current forecast is refitted in the background and announced on the stream."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from crimemap.api import _forecast, create_app
from crimemap.api._queries import data_version
from crimemap.store.embedded import DuckDBStore

# A quiet residential 500 m cell of York and a point in it.
POINT = {"longitude": -1.0520, "latitude": 53.9480}


def _batch(prefix: str, n: int, category: str = "burglary") -> dict:
    return {
        "incidents": [
            {
                "crime_id": f"{prefix}{k}",
                "month": "2024-02",
                "force": "north-yorkshire",
                "category": category,
                **POINT,
            }
            for k in range(n)
        ]
    }


def _cell_mean(fc: _forecast.CurrentForecast, i: int, j: int) -> float:
    return float(fc.mean[fc.lookup(i, j)].sum())


@pytest.mark.slow
def test_upload_burst_refits_forecast_once_and_streams_it(
    write_store: DuckDBStore, tmp_path: Path, settings_for, live, auth
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_crime_set="all-crime"), store=write_store)
    state = app.state.crimemap
    admin = auth(write_store)
    with live(app) as srv:
        # Debounce a burst of uploads into one refit (generous: the machine may be busy).
        state.refitter.delay, state.refitter.max_wait = 3.0, 60.0
        before = state.forecast
        assert before is not None and before.start == "2024-03"
        events: list[tuple[str, dict]] = []
        hello = threading.Event()

        def listen() -> None:
            name = None
            with httpx.stream(
                "GET", srv.url + "/api/stream", params={"limit": 4}, headers=admin, timeout=60
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                        hello.set()
                    elif line.startswith("data: ") and name:
                        events.append((name, json.loads(line[6:])))
                        if name == "change" and "forecast" in events[-1][1]["layers"]:
                            return

        t = threading.Thread(target=listen)
        t.start()
        assert hello.wait(20)
        cells: set[str] = set()
        t0 = time.monotonic()
        for k in range(3):  # a burst: three uploads within the debounce delay
            r = httpx.post(
                srv.url + "/api/incidents", json=_batch(f"r{k}-", 10), headers=admin, timeout=30
            )
            assert r.status_code == 201, r.text
            cells |= set(r.json()["cells"])
        # The upload answered without waiting for the refit.
        assert state.refitter.refits == 0
        t.join(timeout=60)
        assert not t.is_alive()
        waited = time.monotonic() - t0
    kinds = [e[1]["layers"] for e in events if e[0] == "change"]
    assert kinds == [["incidents", "hotspots", "emerging"]] * 3 + [["forecast"]]
    ev = events[-1][1]
    assert ev["forces"] == ["north-yorkshire"] and ev["forecast"]["window"] == [
        "2024-03",
        "2024-04",
    ]
    assert ev["version"] == list(data_version(write_store))
    assert state.refitter.refits == 1 and waited < 60
    after = state.forecast
    assert after is not before
    # 30 new burglaries in one cell in the last month: its forecast goes up, and the
    # refit equals a fresh computation on the store as it is now.
    (cell,) = cells
    _, i, j = (int(float(v)) for v in cell[1:].split(":"))
    k = int(after.size // 250)
    i, j = i // k, j // k
    assert _cell_mean(after, i, j) > _cell_mean(before, i, j) + 1.0
    fresh = _forecast.compute(write_store, model="ewm", size=after.size, crime_set_name="all-crime")
    np.testing.assert_allclose(_cell_mean(after, i, j), _cell_mean(fresh, i, j))
    assert np.isclose(after.mean.sum(), fresh.mean.sum())
    # Saved under the new data version: a restart loads it instead of refitting.
    path = _forecast.cache_path(
        write_store,
        tmp_path / "out" / "forecasts",
        model="ewm",
        size=after.size,
        crime_set_name="all-crime",
        version=tuple(ev["version"]),
    )
    assert path.exists()


@pytest.mark.slow
def test_upload_outside_the_crime_set_does_not_refit(
    write_store: DuckDBStore, tmp_path: Path, settings_for, auth
) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    app = create_app(settings_for(tmp_path, forecast_crime_set="burglary"), store=write_store)
    with TestClient(app, headers=auth(write_store)) as c:
        state = app.state.crimemap
        state.refitter.delay = 0.05
        r = c.post("/api/incidents", json=_batch("x", 2, category="shoplifting"))
        assert r.status_code == 201
        assert state.refitter.wait_idle(30)
        assert state.refitter.refits == 0
        r = c.post("/api/incidents", json=_batch("y", 2, category="burglary"))
        assert r.status_code == 201
        assert state.refitter.wait_idle(60)
        assert state.refitter.refits == 1
