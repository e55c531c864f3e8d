"""Ensemble weights come from the in-window back-test."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, cube_events

from crimemap.errors import InputError
from crimemap.forecast import EnsembleForecaster
from crimemap.forecast.ensemble import stack_weights


def test_stack_weights_recovers_mixture():
    rng = np.random.default_rng(0)
    P = rng.gamma(2.0, 1.0, size=(5000, 3))
    y = rng.poisson(P @ np.array([0.7, 0.0, 0.3]))
    w = stack_weights(P, y)
    np.testing.assert_allclose(w, [0.7, 0.0, 0.3], atol=0.05)


def test_prefers_the_member_that_forecasts_well():
    # Stable rates: the long mean is right and "last" is noise.
    rng = np.random.default_rng(1)
    units = block_units(10, 10)
    rate = rng.gamma(1.0, 1.0, len(units))
    counts = rng.poisson(rate[:, None] * np.ones((1, 24)))
    ev = cube_events(counts, np.asarray(units.ij), "2020-01")
    until = np.datetime64("2022-01-01", "s")
    m = EnsembleForecaster(members=("last", "mean"), member_params={"mean": {"k": 12}}, n_origins=4)
    s = m.fit(ev, units=units, until=until).predict(
        start=until, end=np.datetime64("2022-02-01", "s")
    )
    w = s.params["member_weights"]
    assert w["mean"] > 3 * w["last"]
    # Components: the members' components, weighted.
    np.testing.assert_allclose(sum(s.components.values()), s.mean, rtol=1e-9)
    loglik = EnsembleForecaster(members=("last", "mean"), method="loglik").fit(
        ev, units=units, until=until
    )
    assert loglik.member_weights_["mean"] > 0.99


def test_refuses_bad_config(synthetic_city):
    ev, units = synthetic_city
    until = np.datetime64("2022-07-01", "s")
    with pytest.raises(InputError):
        EnsembleForecaster(members=("ensemble",)).fit(ev, units=units, until=until)
    with pytest.raises(InputError):
        EnsembleForecaster(method="median").fit(ev, units=units, until=until)


def test_member_without_enough_history_is_left_out():
    # 9 months: lgbm needs min_history + 2 = 8 bins, so it cannot be back-tested at
    # the early origins and gets weight 0; the ensemble still forecasts.
    rng = np.random.default_rng(2)
    units = block_units(6, 6)
    counts = rng.poisson(1.0, size=(len(units), 9))
    ev = cube_events(counts, np.asarray(units.ij), "2021-01")
    until = np.datetime64("2021-10-01", "s")
    m = EnsembleForecaster(members=("mean", "lgbm"), n_origins=3).fit(ev, units=units, until=until)
    assert m.member_weights_["lgbm"] == 0.0 and m.member_weights_["mean"] > 0
    s = m.predict(start=until, end=np.datetime64("2021-11-01", "s"))
    assert s.mean.sum() > 0
