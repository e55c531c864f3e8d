"""ETAS: parameter recovery on simulated data, time resolution flags, near-repeat decay."""

from __future__ import annotations

import numpy as np
import pytest
from forecast_synth import block_units, events_from_cells

from crimemap.errors import InputError
from crimemap.forecast import ETASForecaster
from crimemap.forecast._simulate import simulate_grid_etas
from crimemap.table import IncidentTable

D0 = np.datetime64("2020-01-01", "D")


def _daily_events(counts: np.ndarray, ij: np.ndarray, seed: int = 0) -> IncidentTable:
    cell, t = np.nonzero(counts)
    rep = counts[cell, t]
    cell, t = np.repeat(cell, rep), np.repeat(t, rep)
    rng = np.random.default_rng(seed)
    xy = (ij[cell] + rng.uniform(0.05, 0.95, (len(cell), 2))) * 250.0
    return IncidentTable.from_columns(
        category=["burglary"] * len(cell),
        t_start=(D0 + t).astype("datetime64[s]"),
        t_precision=["day"] * len(cell),
        x=xy[:, 0],
        y=xy[:, 1],
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_recovers_simulated_parameters(seed):
    truth = {"theta": 0.4, "q": 0.8, "sigma_cells": 1.2}
    counts, bg = simulate_grid_etas((20, 20), 400, mu=0.02, radius_cells=3, seed=seed, **truth)
    units = block_units(20, 20)
    ev = _daily_events(counts, np.asarray(units.ij))
    until = (D0 + 400).astype("datetime64[s]")
    # A very wide background smoother: the simulated background is uniform.
    m = ETASForecaster(window=400, background_bandwidth=1e5, max_iter=300, tol=1e-6)
    m.fit(ev, units=units, until=until)
    assert m.resolution_ == "D"
    assert m.theta_ == pytest.approx(truth["theta"], abs=0.08)
    # The MLE itself scatters: seed 2's converged estimate is q = 0.74 (mean lag 3.8 d).
    assert m.q_ == pytest.approx(truth["q"], abs=0.07)
    assert m.sigma_ / 250.0 == pytest.approx(truth["sigma_cells"], rel=0.15)
    assert m.mu_.mean() == pytest.approx(0.02, rel=0.15)
    s = m.predict(start=until, end=until + np.timedelta64(7, "D"))
    assert s.params["time_resolution"] == "day" and s.params["coarse_time"] is False
    assert s.params["mean_lag_days"] == pytest.approx(1 / (1 - truth["q"]), rel=0.25)


def test_monthly_data_runs_and_says_so(synthetic_city):
    ev, units = synthetic_city
    until = np.datetime64("2022-07-01", "s")
    m = ETASForecaster(max_iter=50).fit(ev, units=units, until=until)
    s = m.predict(start=until, end=np.datetime64("2022-08-01", "s"))
    assert m.resolution_ == "M"
    assert s.params["coarse_time"] is True
    assert "month" in s.params["note"]
    np.testing.assert_allclose(s.components["background"] + s.components["near_repeat"], s.mean)


def test_burst_raises_then_decays():
    # Daily data: a quiet background and, just before the origin, a burst in one cell.
    rng = np.random.default_rng(3)
    units = block_units(10, 10)
    n_days = 200
    cells, days = [], []
    for d in range(n_days):
        k = rng.poisson(0.5)
        cells += [tuple(c) for c in rng.integers(0, 10, (k, 2))]
        days += [str(D0 + d)] * k
    # Repeat victimisation around cell (5, 5) through the period, to identify triggering.
    for d in range(5, n_days, 20):
        for lag in (0, 1, 2, 4):
            cells += [(5, 5), (5, 6)]
            days += [str(D0 + min(d + lag, n_days - 1))] * 2
    ev = IncidentTable.from_columns(
        category=["burglary"] * len(cells),
        t_start=np.array([np.datetime64(x, "s") for x in days]),
        t_precision=["day"] * len(cells),
        x=[(c[0] + 0.5) * 250 for c in cells],
        y=[(c[1] + 0.5) * 250 for c in cells],
    )
    until = (D0 + n_days).astype("datetime64[s]")
    m = ETASForecaster(background_bandwidth=1000.0, max_iter=100).fit(ev, units=units, until=until)
    assert m.theta_ > 0.05
    ix = int(np.flatnonzero((units.ij[:, 0] == 5) & (units.ij[:, 1] == 5))[0])
    soon = m.predict(start=until, end=until + np.timedelta64(1, "D"))
    later = m.predict(start=until + np.timedelta64(60, "D"), end=until + np.timedelta64(61, "D"))
    assert soon.components["near_repeat"][ix] > later.components["near_repeat"][ix]


def test_refuses_non_grid_units(synthetic_city):
    ev, units = synthetic_city
    other = type(units)(kind="lsoa", ids=units.ids.copy(), centroids=units.centroids.copy())
    with pytest.raises(InputError):
        ETASForecaster().fit(ev, units=other, until=np.datetime64("2022-07-01"))
    with pytest.raises(InputError):
        ETASForecaster(resolution="h").fit(ev, units=units, until=np.datetime64("2022-07-01"))


def test_month_events_cannot_be_forced_daily():
    ev = events_from_cells([(0, 0)] * 3, ["2021-01"] * 3)
    with pytest.raises(InputError):
        ETASForecaster(resolution="D").fit(
            ev, units=block_units(2, 2), until=np.datetime64("2021-03-01")
        )


@pytest.mark.parametrize("T", [12, 200])
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("lag_weighted", [False, True])
def test_lag_filter_matches_explicit_sum(T, adjoint, lag_weighted):
    """Both code paths (matrix for short series, recursion for long) equal the defining sum."""
    from crimemap.forecast.etas import _lag_filter

    rng = np.random.default_rng(3)
    x = rng.poisson(1.0, size=(5, T)).astype(float)
    q = 0.63
    ref = np.zeros_like(x)
    for t in range(T):
        for lag in range(1, T):
            h = (1 - q) * q ** (lag - 1) * (lag if lag_weighted else 1)
            src = t + lag if adjoint else t - lag
            if 0 <= src < T:
                ref[:, t] += h * x[:, src]
    np.testing.assert_allclose(
        _lag_filter(x, q, adjoint=adjoint, lag_weighted=lag_weighted), ref, atol=1e-9
    )


@pytest.mark.parametrize("sigma", [0.07, 0.4, 1.3, 3.0])
def test_class_mass_gradient_matches_finite_differences(sigma):
    from forecast_synth import block_units

    from crimemap.forecast._etas_kernel import class_mass, class_mass_grad, offset_classes

    oc = offset_classes(block_units(9, 9), 3)
    mass, grad = class_mass_grad(oc.classes, oc.mult, sigma)
    np.testing.assert_allclose(mass, class_mass(oc.classes, oc.mult, sigma), rtol=1e-12)
    h = 1e-6 * sigma
    fd = (
        class_mass(oc.classes, oc.mult, sigma + h) - class_mass(oc.classes, oc.mult, sigma - h)
    ) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    # Masses of all offsets sum to one, so their derivatives sum to zero.
    assert abs(float((grad * oc.mult).sum())) < 1e-10
