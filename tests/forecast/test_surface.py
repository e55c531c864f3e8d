"""RiskSurface: validation, immutability and the deferred negative-binomial band."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from forecast_synth import block_units

from crimemap.errors import InputError
from crimemap.forecast import CountBand, RiskSurface
from crimemap.forecast._band import count_band

START = np.datetime64("2022-07-01", "s")
END = np.datetime64("2022-08-01", "s")


def _surface(mean, **kw):
    units = block_units(3, 4)
    return RiskSurface(model="m", units=units, start=START, end=END, mean=mean, **kw)


def _mean():
    return np.array([0.0, 0.02, 0.3, 0.9, 1.5, 2.0, 3.3, 5.0, 8.0, 12.0, 20.0, 0.6])


@pytest.mark.parametrize("dispersion,scale", [(0.0, 1.0), (0.4, 1.0), (0.2, 2.5)])
def test_deferred_band_equals_count_band(dispersion, scale):
    mean = _mean() * scale
    s = _surface(mean, band=CountBand(dispersion, scale))
    assert s.has_interval
    # Nothing is computed before a band end is read.
    assert s.__dict__["lo90"] is None and s.__dict__["hi90"] is None
    lo, hi = count_band(mean, dispersion=dispersion, scale=scale)
    np.testing.assert_array_equal(s.lo90, lo)
    np.testing.assert_array_equal(s.hi90, hi)
    # Computed once and reused.
    assert s.lo90 is s.lo90 and s.hi90 is s.hi90


def test_band_ends_are_read_only_and_surface_frozen():
    s = _surface(_mean(), band=CountBand(0.1))
    with pytest.raises(ValueError):
        s.hi90[0] = 99.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lo90 = np.zeros(12)  # type: ignore[misc]
    with pytest.raises(ValueError):
        s.mean[0] = 1.0


def test_explicit_band_still_accepted_and_validated():
    lo, hi = np.zeros(12), np.full(12, 3.0)
    s = _surface(_mean(), lo90=lo, hi90=hi)
    assert s.has_interval and s.band is None
    np.testing.assert_array_equal(s.hi90, hi)
    with pytest.raises(InputError, match="wrong shape"):
        _surface(_mean(), lo90=lo[:5], hi90=hi)


def test_no_band_means_no_interval():
    s = _surface(_mean())
    assert not s.has_interval
    assert s.lo90 is None and s.hi90 is None


def test_band_and_arrays_together_refused():
    with pytest.raises(InputError, match="not both"):
        _surface(_mean(), lo90=np.zeros(12), hi90=np.ones(12), band=CountBand())


@pytest.mark.parametrize("read_first", [False, True])
def test_pickle_round_trip(read_first):
    s = _surface(_mean(), band=CountBand(0.3))
    if read_first:
        _ = s.lo90
    t = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(t.mean, s.mean)
    np.testing.assert_array_equal(t.lo90, s.lo90)
    np.testing.assert_array_equal(t.hi90, s.hi90)
    assert t.band == s.band
    assert not t.mean.flags.writeable and not t.lo90.flags.writeable


def test_negative_or_nan_mean_refused():
    m = _mean()
    m[3] = -0.1
    with pytest.raises(InputError, match="non-negative"):
        _surface(m)
    m[3] = np.nan
    with pytest.raises(InputError):
        _surface(m)
