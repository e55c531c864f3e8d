"""Prepared back-test data handed to workers through memory-mapped Arrow files."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest

from crimemap.evaluate import default_origins, prepare
from crimemap.evaluate._spill import Spilled, spill, unspill


@pytest.fixture(scope="module")
def sample_incidents():
    from crimemap.data import sample_police_uk
    from crimemap.ingest import read_incidents

    return read_incidents(sorted(sample_police_uk().glob("**/*-street.csv*")))


def test_spilled_prepared_data_round_trips(sample_incidents):
    prep = prepare(sample_incidents, ["burglary", "all-crime"])
    with tempfile.TemporaryDirectory() as tmp:
        handle = spill(prep, Path(tmp))
        # One file per table: every incident, and each crime set's incidents.
        assert len(list(Path(tmp).glob("*.arrow"))) == 1 + len(prep.events)
        # What goes to a worker is small: no table is pickled.
        blob = pickle.dumps(handle)
        assert len(blob) < len(pickle.dumps(prep)) / 5
        back = unspill(pickle.loads(blob))
        assert isinstance(handle, Spilled)
        assert back.incidents.arrow.equals(prep.incidents.arrow)
        for cs in prep.events:
            assert back.events[cs].arrow.equals(prep.events[cs].arrow)
            np.testing.assert_array_equal(back.cubes[cs], prep.cubes[cs])
            np.testing.assert_array_equal(back.event_starts[cs], prep.event_starts[cs])
        np.testing.assert_array_equal(back.periods, prep.periods)
        assert back.units.ij is not None and prep.units.ij is not None
        np.testing.assert_array_equal(back.units.ij, prep.units.ij)
        o = default_origins(prep, 1)[0]
        assert back.training_events("burglary", o).arrow.equals(
            prep.training_events("burglary", o).arrow
        )
        del back
