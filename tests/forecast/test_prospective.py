"""Prospective hotspotting against hand-computed scores."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, events_from_cells

from crimemap.errors import InputError
from crimemap.forecast import ProspectiveHotspot

UNTIL = np.datetime64("2021-04-01")
END = np.datetime64("2021-05-01")


def test_hand_computed_decay():
    # Cell 0 had one incident in March (age 0), cell 2 one in February (age 1 month);
    # one in January is outside the 2-month bandwidth.
    ev = events_from_cells([(0, 0), (2, 0), (1, 0)], ["2021-03", "2021-02", "2021-01"])
    units = block_units(4, 1)
    s = (
        ProspectiveHotspot(distance_bandwidth=500.0, time_bandwidth=2)
        .fit(ev, units=units, until=UNTIL)
        .predict(start=UNTIL, end=END)
    )
    dist_w = lambda d: 1 / (1 + d)  # noqa: E731  (d in cells)
    a = np.array([dist_w(abs(u - 0)) if abs(u - 0) <= 2 else 0 for u in range(4)])  # age 0
    b = np.array([dist_w(abs(u - 2)) if abs(u - 2) <= 2 else 0 for u in range(4)]) / 2  # age 1
    raw = a + b
    np.testing.assert_allclose(s.mean, raw / raw.sum() * (2 / 2))
    assert s.params["time_unit"] == "month"
    np.testing.assert_allclose(s.components["near_repeat"], s.mean)


def test_recent_beats_old():
    # Same number of incidents, but recent ones weigh more.
    ev = events_from_cells([(0, 0), (5, 0)], ["2021-03", "2021-02"])
    units = block_units(6, 1)
    s = (
        ProspectiveHotspot(distance_bandwidth=200.0)
        .fit(ev, units=units, until=UNTIL)
        .predict(start=UNTIL, end=END)
    )
    assert s.mean[0] == pytest.approx(2 * s.mean[5])


def test_background_mix_and_errors():
    ev = events_from_cells([(0, 0)] * 3 + [(3, 0)], ["2020-06"] * 3 + ["2021-03"])
    units = block_units(4, 1)
    s = (
        ProspectiveHotspot(background=0.5, distance_bandwidth=100.0)
        .fit(ev, units=units, until=UNTIL)
        .predict(start=UNTIL, end=END)
    )
    assert s.mean[0] > 0  # kept alive by the long-run background
    np.testing.assert_allclose(s.components["background"] + s.components["near_repeat"], s.mean)
    with pytest.raises(InputError):
        ProspectiveHotspot(background=2.0).fit(ev, units=units, until=UNTIL)
    with pytest.raises(InputError):
        ProspectiveHotspot(time_bandwidth=0).fit(ev, units=units, until=UNTIL)
