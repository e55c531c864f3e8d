"""The operational forecast reuses the back-test protocol after the data."""

from __future__ import annotations

import numpy as np
import pytest

from crimemap.errors import InputError
from crimemap.evaluate import Horizon, forecast_next, parse_horizon

from ._synth import Recorder, table


def test_parse_horizon():
    assert parse_horizon("1m") == Horizon(1, "M")
    assert parse_horizon(" 2W ") == Horizon(2, "W")
    for bad in ("m", "0m", "1y", "one month"):
        with pytest.raises(InputError):
            parse_horizon(bad)


def test_forecast_after_the_data_uses_every_incident_and_cell():
    Recorder.seen.clear()
    s = forecast_next(table(), crime_set="burglary", model="_test_recorder", horizon="1m")
    assert str(s.start)[:7] == "2020-06" and str(s.end)[:7] == "2020-07"
    # Every cell with any incident (A, C, B, D); burglary counts A 4, C 1, B 1, D 1.
    np.testing.assert_array_equal(s.units.ij, [[0, 0], [0, 1], [1, 0], [2, 0]])
    np.testing.assert_allclose(s.mean, [4, 1, 1, 1])
    assert Recorder.seen[-1]["until"] == np.datetime64("2020-06-01T00:00:00")
    later = forecast_next(table(), crime_set="burglary", model="_test_recorder", horizon="3m")
    assert str(later.start)[:7] == "2020-08"


def test_references_are_not_forecasts():
    with pytest.raises(InputError):
        forecast_next(table(), crime_set="burglary", model="oracle")
