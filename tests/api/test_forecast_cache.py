"""The map's current forecast: computed like the back-test, cached per data version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crimemap.api import _forecast
from crimemap.api._queries import data_version
from crimemap.evaluate.operational import forecast_next
from crimemap.store.embedded import DuckDBStore


def test_cache_round_trip_and_reuse(
    ny_store: DuckDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = data_version(ny_store)
    fc = _forecast.load_or_compute(
        ny_store, tmp_path, model="ewm", size=1000.0, crime_set_name="burglary", version=v
    )
    # Same surface as the operational forecast of the same model (what the back-test scores).
    surf = forecast_next(
        ny_store.incidents(forces=["north-yorkshire"]),
        crime_set="burglary",
        model="ewm",
        horizon="1m",
        cell_size=1000.0,
    )
    np.testing.assert_allclose(fc.mean, surf.mean)
    assert (fc.start, fc.end) == ("2025-01", "2025-02")

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("recomputed instead of loading the cache")

    monkeypatch.setattr(_forecast, "compute", boom)
    again = _forecast.load_or_compute(
        ny_store, tmp_path, model="ewm", size=1000.0, crime_set_name="burglary", version=v
    )
    np.testing.assert_array_equal(again.ij, fc.ij)
    np.testing.assert_array_equal(again.mean, fc.mean)
    assert again.components.keys() == fc.components.keys()
    assert list(again.force) == list(fc.force)
    # A new data version is a new cache entry.
    with pytest.raises(AssertionError, match="recomputed"):
        _forecast.load_or_compute(
            ny_store,
            tmp_path,
            model="ewm",
            size=1000.0,
            crime_set_name="burglary",
            version=(v[0] + 1, v[1] + 1),
        )


@pytest.mark.slow
def test_learned_model_explains_its_forecast(ny_store: DuckDBStore) -> None:
    fc = _forecast.compute(ny_store, model="lgbm", size=1000.0, crime_set_name="all-crime")
    assert fc.components, "lgbm is asked for its drivers"
    total = sum(fc.components.values())
    np.testing.assert_allclose(total, fc.mean, rtol=1e-6, atol=1e-6)
