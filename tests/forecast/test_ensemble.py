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


@pytest.mark.parametrize("member", ["lgbm", "glm"])
def test_member_predictions_never_see_their_bin(member):
    # Each inner bin's prediction (from a learned member's holdout) must not change
    # when the crimes of that bin and later ones change: thin them and compare.
    rng = np.random.default_rng(3)
    units = block_units(8, 8)
    rate = rng.gamma(1.5, 1.0, len(units))
    counts = rng.poisson(rate[:, None] * np.ones((1, 30)))
    until = np.datetime64("2022-07-01", "s")
    ens = EnsembleForecaster(members=(member,), n_origins=4)
    ev = cube_events(counts, np.asarray(units.ij), "2020-01")
    bins = [np.datetime64(f"2022-{m:02d}-01", "s") for m in (3, 4, 5, 6)]
    _, full = ens._backtest_member(member, ev, units, bins, until)
    for b, pred in zip(bins, full, strict=True):
        j = int((b.astype("datetime64[M]") - np.datetime64("2020-01", "M")).astype(int))
        thinned = counts.copy()
        thinned[:, j:] = rng.binomial(thinned[:, j:], 0.5)
        thinned[0, j:] += 1  # no bin may become empty (an empty bin is a gap)
        ev2 = cube_events(thinned, np.asarray(units.ij), "2020-01")
        _, again = ens._backtest_member(member, ev2, units, bins, until)
        np.testing.assert_allclose(again[bins.index(b)], pred, rtol=1e-12, atol=1e-12)
        # Later bins did see the changed data (the test has teeth).
        if b != bins[-1]:
            assert not np.allclose(again[-1], full[-1])


def test_holdout_predictions_reused_equal_a_direct_fit():
    # The learned member's holdout for the last bin is what the same model fitted
    # at ``until`` predicts for it from its own training rows.
    from crimemap.forecast import make_model

    rng = np.random.default_rng(4)
    units = block_units(8, 8)
    counts = rng.poisson(rng.gamma(1.5, 1.0, len(units))[:, None] * np.ones((1, 30)))
    ev = cube_events(counts, np.asarray(units.ij), "2020-01")
    until = np.datetime64("2022-07-01", "s")
    m = make_model("glm", {}).fit(ev, units=units, until=until)
    assert sorted(m.holdout_mean_) == [
        np.datetime64("2022-05-01", "s"),
        np.datetime64("2022-06-01", "s"),
    ]
    ens = EnsembleForecaster(members=("glm",), n_origins=2)
    _, preds = ens._backtest_member("glm", ev, units, sorted(m.holdout_mean_), until)
    for p, b in zip(preds, sorted(m.holdout_mean_), strict=True):
        np.testing.assert_array_equal(p, m.holdout_mean_[b])
