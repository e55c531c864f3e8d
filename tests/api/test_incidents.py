"""POST /api/incidents: the ingest pipeline's validation, atomic writes, incremental layers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crimemap.api import create_app
from crimemap.store.embedded import DuckDBStore

YORK_MINSTER = (-1.0819, 53.9623)
UK = "-8.5,49.8,2.0,60.0"


def _count(store: DuckDBStore) -> int:
    return int(store.query("SELECT count(*) AS n FROM incidents").to_pylist()[0]["n"])


def _item(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "month": "2024-02",
        "force": "north-yorkshire",
        "longitude": YORK_MINSTER[0],
        "latitude": YORK_MINSTER[1],
        "category": "burglary",
        "location": "On or near Minster Yard",
    }
    base.update(kw)
    return base


def _cell_value(client: TestClient, cell: str, **params: object) -> float:
    fc = client.get("/api/layers/incidents", params={"bbox": UK, "cell_m": 250, **params}).json()
    return sum(f["properties"]["value"] for f in fc["features"] if f["properties"]["id"] == cell)


def test_json_batch_is_stored_and_layers_update(
    write_client: TestClient, write_store: DuckDBStore
) -> None:
    before = _count(write_store)
    first = write_client.post("/api/incidents", json={"incidents": [_item(crime_id="x1")]})
    assert first.status_code == 201, first.text
    cell = first.json()["cells"][0]
    v0 = _cell_value(write_client, cell, categories="burglary")
    body = {"incidents": [_item(crime_id="x2"), _item(crime_id="x3", category="Burglary")]}
    r = write_client.post("/api/incidents", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["rows_inserted"] == 2 and out["batch_id"] > 0
    assert out["cells"] == [cell] and out["months"] == ["2024-02"]
    assert _count(write_store) == before + 3
    # The cached layer was replaced: the cell holds the new incidents.
    assert _cell_value(write_client, cell, categories="burglary") == v0 + 2
    row = write_store.query(
        "SELECT force, category, t_precision, loc_precision FROM incidents WHERE incident_id = 'x3'"
    ).to_pylist()
    assert row == [
        {
            "force": "north-yorkshire",
            "category": "burglary",
            "t_precision": "month",
            "loc_precision": "snap",
        }
    ]
    # The same crime id again updates instead of adding a row.
    again = write_client.post(
        "/api/incidents", json={"incidents": [_item(crime_id="x2", outcome="Under investigation")]}
    )
    assert again.status_code == 201
    assert again.json()["rows_inserted"] == 0 and again.json()["rows_updated"] == 1
    assert _count(write_store) == before + 3


@pytest.mark.parametrize(
    ("item", "column", "reason"),
    [
        (_item(month="2024-13"), "month", "unparseable_month"),
        (_item(longitude=-80.0, latitude=10.0), "longitude", "outside_uk"),
        (_item(category="Jaywalking"), "category", "unmapped_label"),
    ],
)
def test_bad_rows_are_refused_with_detail(
    write_client: TestClient, write_store: DuckDBStore, item: dict, column: str, reason: str
) -> None:
    before = _count(write_store)
    r = write_client.post("/api/incidents", json={"incidents": [_item(), item]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] in ("IngestError", "UnmappedLabelsError")
    issue = body["issues"][0]
    assert issue["file"] == "request.json"
    assert issue["column"] == column and issue["reason"] == reason
    if reason != "unmapped_label":
        assert issue["row"] == 2  # the second item of the batch
    assert _count(write_store) == before  # nothing of the batch was written


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"incidents": []}', b'{"incidents": [{"month": "2024-01"}]}', b"[1, 2]"],
)
def test_malformed_json_is_422(
    write_client: TestClient, write_store: DuckDBStore, payload: bytes
) -> None:
    before = _count(write_store)
    r = write_client.post(
        "/api/incidents", content=payload, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["detail"]
    assert _count(write_store) == before


def test_csv_upload_of_a_real_month(
    write_client: TestClient, write_store: DuckDBStore, police_uk: Path
) -> None:
    src = police_uk / "2024-03" / "2024-03-north-yorkshire-street.csv.gz"
    before = _count(write_store)
    files = {"file": (src.name, src.read_bytes(), "application/gzip")}
    r = write_client.post("/api/incidents", files=files)
    assert r.status_code == 201, r.text
    n_rows = len(gzip.decompress(src.read_bytes()).decode().strip().splitlines()) - 1
    assert r.json()["rows_read"] == n_rows
    assert _count(write_store) - before == r.json()["rows_inserted"] > 0.99 * n_rows
    assert "2024-03" in write_client.get("/api/meta").json()["months"]
    # The same file again changes nothing.
    again = write_client.post("/api/incidents", files=files)
    assert again.status_code == 201 and again.json()["skipped"] == [src.name]
    assert _count(write_store) - before == r.json()["rows_inserted"]


def test_bad_csv_names_file_row_and_column(
    write_client: TestClient, write_store: DuckDBStore, police_uk: Path
) -> None:
    src = police_uk / "2024-04" / "2024-04-north-yorkshire-street.csv.gz"
    lines = gzip.decompress(src.read_bytes()).decode().splitlines()
    fields = lines[5].split(",")
    fields[1] = "April"  # Month
    lines[5] = ",".join(fields)
    data = ("\n".join(lines) + "\n").encode()
    before = _count(write_store)
    r = write_client.post(
        "/api/incidents",
        content=data,
        params={"filename": "2024-04-north-yorkshire-street.csv"},
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    issue = r.json()["issues"][0]
    assert issue == {
        "file": "2024-04-north-yorkshire-street.csv",
        "row": 6,
        "column": "Month",
        "value": "April",
        "reason": "unparseable_month",
        "detail": issue["detail"],
    }
    assert _count(write_store) == before
    # Quarantine stores the good rows and reports the bad one.
    q = write_client.post(
        "/api/incidents",
        content=data,
        params={"filename": "2024-04-north-yorkshire-street.csv", "policy": "quarantine"},
        headers={"Content-Type": "text/csv"},
    )
    assert q.status_code == 201 and q.json()["rows_rejected"] == 1
    assert q.json()["rows_read"] == len(lines) - 1
    # Every good row lands (a crime id already stored updates its outcome instead).
    assert _count(write_store) - before == q.json()["rows_inserted"]
    assert q.json()["rows_inserted"] + q.json()["rows_updated"] >= len(lines) - 2 - 5


def test_garbage_upload_is_422(write_client: TestClient, write_store: DuckDBStore) -> None:
    before = _count(write_store)
    r = write_client.post(
        "/api/incidents", files={"file": ("notes.csv", b"hello,world\n1,2\n", "text/csv")}
    )
    assert r.status_code == 422
    assert r.json()["issues"][0]["file"] == "notes.csv"
    assert r.json()["issues"][0]["reason"] == "unknown_format"
    assert _count(write_store) == before


def test_oversized_upload_is_413(
    write_store: DuckDBStore, tmp_path: Path, settings_for, police_uk: Path, auth
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        settings_for(tmp_path, max_upload_bytes=2000, forecast_on_start=False), store=write_store
    )
    before = _count(write_store)
    src = police_uk / "2024-05" / "2024-05-north-yorkshire-street.csv.gz"
    with TestClient(app, headers=auth(write_store)) as c:
        r = c.post(
            "/api/incidents", files={"file": (src.name, src.read_bytes(), "application/gzip")}
        )
        assert r.status_code == 413
        assert r.json()["error"] == "UploadTooLarge"
        big = {"incidents": [_item(crime_id=f"b{k}") for k in range(100)]}
        assert c.post("/api/incidents", json=big).status_code == 413

        # A body without Content-Length (chunked) is counted as it streams.
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 500

        r = c.post("/api/incidents", content=chunks(), headers={"Content-Type": "text/csv"})
        assert r.status_code == 413
    assert _count(write_store) == before
