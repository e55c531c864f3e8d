"""prepare(): the cube, study area and prefixes a back-test slices (hand-derived)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from crimemap.errors import InputError, InsufficientDataError
from crimemap.evaluate.prepared import (
    BacktestConfig,
    data_meta,
    default_origins,
    next_period,
    prepare,
)

from ._synth import ROWS, table


def test_cube_first_seen_and_unlocated_by_hand():
    prep = prepare(table(), ["burglary", "violence"])
    # Cells sorted (i, j): A=(0,0), C=(0,1), B=(1,0), D=(2,0).
    np.testing.assert_array_equal(prep.units.ij, [[0, 0], [0, 1], [1, 0], [2, 0]])
    # Burglary per cell and month Jan..May (see ROWS): A 1,2,0,1,0; C May; B April; D March.
    np.testing.assert_array_equal(
        prep.cubes["burglary"],
        [[1, 2, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0]],
    )
    np.testing.assert_array_equal(
        prep.cubes["violence"],
        [[0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 1, 0]],
    )
    # The unlocated April burglary is counted apart.
    np.testing.assert_array_equal(prep.unlocated["burglary"], [0, 0, 0, 1, 0])
    # First month any incident (ASB included) is seen in each cell: A Jan, C Feb, B Jan, D Mar.
    np.testing.assert_array_equal(prep.first_seen, [0, 1, 0, 2])
    assert prep.complete.all()
    assert not prep.cubes["burglary"].flags.writeable  # shared read-only with every origin


def test_training_prefixes_end_strictly_before_the_origin():
    prep = prepare(table(), ["burglary"])
    o = np.datetime64("2020-04-01", "s")
    ev = prep.training_events("burglary", o)
    assert len(ev) == 4 and set(ev.arrow["category"].to_pylist()) == {"burglary"}
    assert ev.starts().max() < o
    ctx = prep.training_context(o)
    assert len(ctx) == sum(1 for _, m, _ in ROWS if m < "2020-04") == 7
    assert prep.period_index("2020-04") == 3
    with pytest.raises(InputError, match="outside the data"):
        prep.period_index("2021-01")


def test_unsorted_input_is_sorted_once_and_gives_the_same_cube():
    rows = list(reversed(ROWS))
    a, b = prepare(table(), ["burglary"]), prepare(table(rows), ["burglary"])
    np.testing.assert_array_equal(a.cubes["burglary"], b.cubes["burglary"])
    s = b.incidents.starts()
    assert (s[1:] >= s[:-1]).all()


def test_next_period_and_weekly_periods():
    m = np.datetime64("2020-11-01", "s")
    assert next_period(m, "M", 2) == np.datetime64("2021-01-01", "s")
    d = np.datetime64("2020-01-06", "s")
    assert next_period(d, "W") == np.datetime64("2020-01-13", "s")
    assert next_period(d, "D", 3) == np.datetime64("2020-01-09", "s")


def test_default_origins_need_complete_targets_at_every_horizon():
    prep = prepare(table(), ["burglary"])
    assert [str(o)[:7] for o in default_origins(prep, 12)] == [
        "2020-02",
        "2020-03",
        "2020-04",
        "2020-05",
    ]
    # Horizon 2 needs the month after too: May is the last target.
    assert [str(o)[:7] for o in default_origins(prep, 12, horizons=(1, 2))] == [
        "2020-02",
        "2020-03",
        "2020-04",
    ]
    assert [str(o)[:7] for o in default_origins(prep, 2)] == ["2020-04", "2020-05"]


def test_refusals():
    with pytest.raises(InputError, match="finer than the data's time precision"):
        prepare(table(), ["burglary"], BacktestConfig(freq="W"))
    with pytest.raises(InsufficientDataError):
        prepare(table([("burglary", "2020-01", None)]), ["burglary"])
    with pytest.raises(InputError, match="frequency"):
        BacktestConfig(freq="Q")


def test_meta_and_pickle_round_trip():
    prep = prepare(table(), ["burglary"], force="test")
    meta = data_meta(prep, default_origins(prep, 2))
    assert meta["force"] == "test" and meta["n_incidents"] == len(ROWS)
    assert meta["n_cells_ever"] == 4 and meta["missing_periods"] == []
    back = pickle.loads(pickle.dumps(prep))
    np.testing.assert_array_equal(back.cubes["burglary"], prep.cubes["burglary"])
    assert back.incidents.arrow.equals(prep.incidents.arrow)
