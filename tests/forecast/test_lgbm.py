"""The learned model finds a planted persistent hotspot; explanations add up."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, cube_events

from crimemap.forecast import LightGBMForecaster
from crimemap.forecast._learned import family_shapley
from crimemap.spatial.covariates import UnitCovariates

N_MONTHS = 30
UNTIL = (np.datetime64("2020-01", "M") + N_MONTHS).astype("datetime64[s]")
END = (np.datetime64("2020-01", "M") + N_MONTHS + 1).astype("datetime64[s]")


@pytest.fixture(scope="module")
def planted():
    """15 x 15 cells at 0.15/month; a persistent hotspot at 3/month that happened to be
    quiet in the last month, and a one-off spike of 6 in another cell last month."""
    rng = np.random.default_rng(7)
    units = block_units(15, 15)
    ij = np.asarray(units.ij)
    rate = np.full(len(units), 0.15)
    hot = int(np.flatnonzero((ij[:, 0] == 4) & (ij[:, 1] == 10))[0])
    spike = int(np.flatnonzero((ij[:, 0] == 11) & (ij[:, 1] == 3))[0])
    rate[hot] = 3.0
    counts = rng.poisson(rate[:, None] * np.ones((1, N_MONTHS)))
    counts[hot, -1] = 0
    counts[spike, -1] = 6
    return cube_events(counts, ij, "2020-01", seed=3), units, hot, spike


def test_finds_persistent_hotspot(planted):
    ev, units, hot, spike = planted
    m = LightGBMForecaster(n_estimators=80, min_child_samples=20).fit(ev, units=units, until=UNTIL)
    s = m.predict(start=UNTIL, end=END)
    assert int(np.argmax(s.mean)) == hot
    assert s.mean[hot] > s.mean[spike]
    assert 1.5 < s.mean[hot] < 4.5
    # Ordinary cells stay near their rate.
    others = np.setdiff1d(np.arange(len(units)), [hot, spike])
    assert np.median(s.mean[others]) < 0.5
    assert s.hi90 is not None and s.hi90[hot] >= 3


def test_components_are_exact_and_grouped(planted):
    ev, units, hot, _ = planted
    cov = UnitCovariates(
        ids=np.array(units.ids, copy=True),
        names=("imd_rank_pct",),
        values=np.linspace(0, 1, len(units))[:, None],
        source="test",
    )
    m = LightGBMForecaster(n_estimators=60, min_child_samples=20, explain=True, covariates=cov)
    s = m.fit(ev, units=units, until=UNTIL).predict(start=UNTIL, end=END)
    assert {
        "baseline",
        "recent",
        "long_run",
        "neighbours",
        "season",
        "category_mix",
        "context",
        "area",
    } == set(s.components)
    np.testing.assert_allclose(sum(s.components.values()), s.mean, rtol=1e-6, atol=1e-9)
    # The hotspot is explained by its history, not by the baseline.
    history = s.components["recent"][hot] + s.components["long_run"][hot]
    assert history > 0.5 * (s.mean[hot] - s.components["baseline"][hot])
    assert s.params["covariates"] == "test"


def test_family_shapley_matches_slow_reference():
    rng = np.random.default_rng(0)
    phi = rng.normal(scale=0.5, size=(5, 3))
    bias = rng.normal(size=5)
    fast = family_shapley(phi, bias)
    # Slow reference: average marginal contributions over all orderings.
    from itertools import permutations

    ref = np.zeros_like(fast)
    perms = list(permutations(range(3)))
    for p in perms:
        cur = bias.copy()
        for f in p:
            ref[:, f] += np.exp(cur + phi[:, f]) - np.exp(cur)
            cur = cur + phi[:, f]
    ref /= len(perms)
    np.testing.assert_allclose(fast, ref, rtol=1e-10)
    np.testing.assert_allclose(fast.sum(axis=1), np.exp(bias + phi.sum(axis=1)) - np.exp(bias))


def test_deterministic(planted):
    ev, units, _, _ = planted
    a = LightGBMForecaster(n_estimators=30, min_child_samples=20, seed=5).fit(
        ev, units=units, until=UNTIL
    )
    b = LightGBMForecaster(n_estimators=30, min_child_samples=20, seed=5).fit(
        ev, units=units, until=UNTIL
    )
    np.testing.assert_array_equal(
        a.predict(start=UNTIL, end=END).mean, b.predict(start=UNTIL, end=END).mean
    )


def test_glm_finds_persistent_hotspot(planted):
    from crimemap.forecast import PoissonGLMForecaster

    ev, units, hot, spike = planted
    s = PoissonGLMForecaster().fit(ev, units=units, until=UNTIL).predict(start=UNTIL, end=END)
    assert int(np.argmax(s.mean)) == hot
    assert s.mean[hot] > s.mean[spike]
    np.testing.assert_allclose(sum(s.components.values()), s.mean, rtol=1e-6, atol=1e-9)


def test_glm_design_fit_transform_equals_two_pass_reference():
    from crimemap.forecast.glm import _Design

    rng = np.random.default_rng(3)
    X = rng.poisson(2.0, size=(200, 5)).astype(float)
    X[rng.random(200) < 0.1, 2] = np.nan
    X[:, 4] = rng.integers(1, 13, size=200)
    names = ["a", "b", "c", "d", "month"]
    fams = ["recent", "recent", "long_run", "area", "season"]
    train = np.arange(200) < 150
    d, Z = _Design.fit_transform(X, train, names, fams)
    # Two passes: fitted on the training rows alone, then every row transformed.
    ref, _ = _Design.fit_transform(X[train], np.ones(int(train.sum()), bool), names, fams)
    np.testing.assert_array_equal(Z, ref.transform(X))
    assert d.families == ref.families
    np.testing.assert_array_equal(d.transform(X[:7]), ref.transform(X[:7]))
