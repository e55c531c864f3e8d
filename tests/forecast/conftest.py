"""Fixtures for the forecaster tests."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, cube_events

from crimemap.table import IncidentTable


@pytest.fixture(scope="session")
def synthetic_city() -> tuple[IncidentTable, object]:
    """36 months on a 12 x 12 block: a smooth background, a persistent hotspot, noise.

    Used by the contract tests; small enough that every model fits in well under a second.
    """
    rng = np.random.default_rng(42)
    units = block_units(12, 12)
    ij = units.ij
    assert ij is not None
    d = np.hypot(ij[:, 0] - 6, ij[:, 1] - 6)
    base = 0.3 + 1.5 * np.exp(-(d**2) / 18.0)
    base[(ij[:, 0] == 2) & (ij[:, 1] == 9)] += 4.0
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(36) / 12)
    counts = rng.poisson(base[:, None] * season[None, :])
    ev = cube_events(
        counts,
        ij,
        "2020-01",
        seed=1,
        categories=("burglary", "violent-crime", "shoplifting", "vehicle-crime"),
    )
    return ev, units
