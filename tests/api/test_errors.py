"""Domain errors map to HTTP status codes in one table; 500s never leak exception text."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crimemap import errors as E
from crimemap.api import STATUS, create_app, status_for
from crimemap.api.errors import UploadTooLarge
from crimemap.store.embedded import DuckDBStore

YORK = "-1.2,53.9,-1.0,54.0"


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (E.IngestError([]), 422),
        (E.UnmappedLabelsError("f", "c", {"x": 1}), 422),
        (E.InputError("x"), 422),
        (E.ConfigError("x"), 422),
        (E.NotFoundError("x"), 404),
        (E.AuthenticationError("x"), 401),
        (E.AccessDenied("x"), 403),
        (E.RateLimited("x"), 429),
        (E.InsufficientDataError("x"), 409),
        (UploadTooLarge("x"), 413),
        (E.StoreError("x"), 500),
        (E.CrimemapError("x"), 500),
        (RuntimeError("x"), 500),
    ],
)
def test_status_table(exc: BaseException, code: int) -> None:
    assert status_for(exc) == code


def test_table_has_no_shadowed_entries() -> None:
    # A subclass listed after its base would never be reached.
    for k, (cls, _) in enumerate(STATUS):
        for base, _ in STATUS[:k]:
            assert not issubclass(cls, base), f"{cls.__name__} is shadowed by {base.__name__}"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/api/layers/incidents?bbox=1,2,3", 422),
        ("/api/layers/incidents?bbox=10,60,0,50", 422),
        ("/api/layers/incidents", 422),
        ("/api/layers/nonsense?bbox=" + YORK, 422),
        ("/api/layers/incidents?bbox=" + YORK + "&categories=jaywalking", 404),
        ("/api/layers/incidents?bbox=" + YORK + "&start=2024-13", 422),
        ("/api/layers/incidents?bbox=" + YORK + "&start=2024-05&end=2024-01", 422),
        ("/api/layers/incidents?bbox=" + YORK + "&measure=fear", 422),
        ("/api/layers/incidents?bbox=" + YORK + "&cell_m=300", 422),
        ("/api/cells/g300:1:2", 422),
        ("/api/cells/nonsense", 422),
        ("/api/series", 422),
        ("/api/series?cell=g500:1:1&bbox=" + YORK, 422),
    ],
)
def test_bad_queries(client: TestClient, url: str, code: int) -> None:
    r = client.get(url)
    assert r.status_code == code, r.text
    assert r.json()["detail"]


def test_insufficient_data_is_409(client: TestClient) -> None:
    # One month is too short for the emerging hot spot analysis (ESRI needs 10 periods).
    r = client.get(
        "/api/layers/emerging", params={"bbox": YORK, "start": "2024-05", "end": "2024-05"}
    )
    assert r.status_code == 409
    assert r.json()["error"] == "InsufficientDataError"


def test_unexpected_errors_are_generic_500(
    ny_store: DuckDBStore, tmp_path: Path, settings_for, monkeypatch: pytest.MonkeyPatch, auth
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_on_start=False), store=ny_store)
    state = app.state.crimemap

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("secret path /etc/shadow")

    monkeypatch.setattr(state.index, "series", boom)
    with TestClient(app, raise_server_exceptions=False, headers=auth(ny_store)) as c:
        r = c.get("/api/series", params={"cell": "g500:1:1"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal", "detail": "internal server error"}
    assert "shadow" not in r.text


def test_forecast_missing_is_404(ny_store: DuckDBStore, tmp_path: Path, settings_for, auth) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(tmp_path, forecast_on_start=False), store=ny_store)
    with TestClient(app, headers=auth(ny_store)) as c:
        r = c.get("/api/layers/forecast", params={"bbox": YORK})
        assert r.status_code == 404
        assert c.get("/api/meta").json()["forecast"] is None
