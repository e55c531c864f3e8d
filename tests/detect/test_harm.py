from __future__ import annotations

import numpy as np
import pytest

from crimemap.detect.harm import CSS_COMPONENTS, aggregate_weights, harm_weights
from crimemap.errors import InputError
from crimemap.spatial import Grid, count_cube
from crimemap.table import IncidentTable
from crimemap.taxonomy import CATEGORY_SLUGS


def test_every_category_has_a_weight() -> None:
    w = harm_weights()
    assert set(w) == set(CATEGORY_SLUGS)
    assert w["anti-social-behaviour"] == 0.0
    assert all(v > 0 for k, v in w.items() if k != "anti-social-behaviour")
    # Severity ordering that any sentencing-based index must respect.
    assert w["robbery"] > w["burglary"] > w["theft-from-the-person"] > w["shoplifting"]


def test_aggregate_is_volume_weighted_mean() -> None:
    got = aggregate_weights({"x": (("a", 10.0, 3.0), ("b", 30.0, 1.0))})
    assert got["x"] == pytest.approx((10 * 3 + 30 * 1) / 4)
    for cat, parts in CSS_COMPONENTS.items():
        assert sum(v for _, _, v in parts) == pytest.approx(1.0), cat


def test_aggregate_rejects_bad_input() -> None:
    with pytest.raises(InputError):
        aggregate_weights({"x": (("a", -1.0, 1.0),)})
    with pytest.raises(InputError):
        aggregate_weights({"x": (("a", 1.0, 0.0),)})


def test_harm_cube_sums_weights() -> None:
    inc = IncidentTable.from_columns(
        category=["robbery", "shoplifting", "anti-social-behaviour"],
        t_start=np.array(["2024-01-01"] * 3, dtype="datetime64[s]"),
        x=[10.0, 20.0, 30.0],
        y=[10.0, 20.0, 30.0],
    )
    units = Grid(250).units(np.array([[0, 0]]))
    cube = count_cube(inc, units, weights=harm_weights())
    w = harm_weights()
    assert cube.counts[0, 0] == pytest.approx(w["robbery"] + w["shoplifting"])
