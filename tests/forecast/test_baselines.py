"""Baselines against hand-computed values on tiny cases."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, events_from_cells

from crimemap.errors import InputError, InsufficientDataError
from crimemap.forecast import EWMCounts, LastPeriod, MeanPeriods, RetrospectiveKDE, models

UNTIL = np.datetime64("2021-04-01")


@pytest.fixture()
def tiny():
    """Two cells; cell A: 1, 0, 2 incidents in Jan-Mar 2021; cell B: 0, 0, 3."""
    cells = [(0, 0), (0, 0), (0, 0), (1, 0), (1, 0), (1, 0)]
    months = ["2021-01", "2021-03", "2021-03", "2021-03", "2021-03", "2021-03"]
    return events_from_cells(cells, months), block_units(2, 1)


def _fit(model, tiny, until=UNTIL):
    ev, units = tiny
    return model.fit(ev, units=units, until=until)


def test_registered():
    assert {"last", "mean", "ewm", "kde"} <= set(models())


def test_last_is_last_month(tiny):
    m = _fit(LastPeriod(), tiny)
    s = m.predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    np.testing.assert_allclose(s.mean, [2.0, 3.0])
    # A 3-month window is the total over the window.
    s3 = m.predict(start=UNTIL, end=np.datetime64("2021-07-01"))
    np.testing.assert_allclose(s3.mean, [6.0, 9.0])


def test_last_ignores_events_after_until(tiny):
    # Fitting until March: the last complete month is February (A: 0, B: 0).
    m = _fit(LastPeriod(), tiny, until=np.datetime64("2021-03-01"))
    np.testing.assert_allclose(m.rate_, [0.0, 0.0])


def test_mean_k(tiny):
    s = _fit(MeanPeriods(k=2), tiny).predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    np.testing.assert_allclose(s.mean, [(0 + 2) / 2, (0 + 3) / 2])
    # k larger than the history averages what exists (3 months).
    s = _fit(MeanPeriods(k=12), tiny).predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    np.testing.assert_allclose(s.mean, [3 / 3, 3 / 3])


def test_ewm_hand_computed(tiny):
    s = _fit(EWMCounts(half_life=1.0), tiny).predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    w = np.array([0.25, 0.5, 1.0])  # ages 2, 1, 0
    np.testing.assert_allclose(s.mean, [(w @ [1, 0, 2]) / w.sum(), (w @ [0, 0, 3]) / w.sum()])


def test_kde_gaussian_hand_computed(tiny):
    # Two adjacent cells 250 m apart, bandwidth 250 m: K(0) = 1, K(250) = exp(-1/2).
    s = _fit(RetrospectiveKDE(bandwidth=250.0, k=3), tiny).predict(
        start=UNTIL, end=np.datetime64("2021-05-01")
    )
    k = np.exp(-0.5)
    tot = np.array([3.0, 3.0])
    dens = np.array([tot[0] + k * tot[1], tot[1] + k * tot[0]])
    np.testing.assert_allclose(s.mean, dens / dens.sum() * 6 / 3)


def test_kde_quartic_support():
    # Quartic kernel with bandwidth 300 m: reaches the neighbour (250 m), not 500 m away.
    ev = events_from_cells([(0, 0)] * 4, ["2021-01"] * 4)
    units = block_units(3, 1)
    s = (
        RetrospectiveKDE(bandwidth=300.0, kernel="quartic", k=1)
        .fit(ev, units=units, until=np.datetime64("2021-02-01"))
        .predict(start=np.datetime64("2021-02-01"), end=np.datetime64("2021-03-01"))
    )
    kq = (1 - (250 / 300) ** 2) ** 2
    np.testing.assert_allclose(s.mean, np.array([1.0, kq, 0.0]) / (1 + kq) * 4)


def test_harm_weights(tiny):
    ev, units = tiny
    w = {"burglary": 2.5}
    vol = (
        LastPeriod()
        .fit(ev, units=units, until=UNTIL)
        .predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    )
    harm = (
        LastPeriod(weights=w)
        .fit(ev, units=units, until=UNTIL)
        .predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    )
    np.testing.assert_allclose(harm.mean, 2.5 * vol.mean)
    assert harm.hi90 is not None and vol.hi90 is not None
    np.testing.assert_allclose(harm.hi90, 2.5 * vol.hi90)


def test_translation_and_permutation_invariance(tiny):
    ev, units = tiny
    a = (
        EWMCounts()
        .fit(ev, units=units, until=UNTIL)
        .predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    )
    idx = np.random.default_rng(0).permutation(len(ev))
    perm = type(ev)(ev.arrow.take(idx))
    b = (
        EWMCounts()
        .fit(perm, units=units, until=UNTIL)
        .predict(start=UNTIL, end=np.datetime64("2021-05-01"))
    )
    np.testing.assert_allclose(a.mean, b.mean)


def test_errors(tiny):
    ev, units = tiny
    with pytest.raises(InsufficientDataError):
        LastPeriod().fit(ev, units=units, until=np.datetime64("2020-01-01"))
    with pytest.raises(InputError):
        LastPeriod(freq="W").fit(ev, units=units, until=UNTIL)  # month-only data
    with pytest.raises(InputError):
        EWMCounts(half_life=0).fit(ev, units=units, until=UNTIL)
    with pytest.raises(InputError):
        RetrospectiveKDE(kernel="box").fit(ev, units=units, until=UNTIL)
    m = LastPeriod().fit(ev, units=units, until=UNTIL)
    with pytest.raises(InputError):
        m.predict(start=np.datetime64("2021-03-01"), end=np.datetime64("2021-05-01"))
    with pytest.raises(InputError):
        LastPeriod().predict(start=UNTIL, end=np.datetime64("2021-05-01"))


def test_gap_in_record_is_skipped():
    # 50 incidents a month in Jan and Mar, none at all in Feb (a missing file):
    # "last" at March is January, not an empty February; the 2-month mean at April
    # averages January and March.
    cells = [(0, 0)] * 50 + [(1, 0)] * 50
    months = ["2021-01"] * 50 + ["2021-03"] * 50
    ev = events_from_cells(cells, months)
    units = block_units(2, 1)
    m = LastPeriod().fit(ev, units=units, until=np.datetime64("2021-03-01"))
    np.testing.assert_allclose(m.rate_, [50.0, 0.0])
    m = MeanPeriods(k=2).fit(ev, units=units, until=UNTIL)
    np.testing.assert_allclose(m.rate_, [25.0, 25.0])
