"""The forecaster contract, checked for every registered model."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from forecast_synth import events_from_cells

from crimemap.errors import InputError
from crimemap.forecast import RiskSurface, models
from crimemap.table import IncidentTable

UNTIL = np.datetime64("2022-07-01", "s")
END = np.datetime64("2022-08-01", "s")

# Keep the expensive members small so the whole contract suite stays fast.
FAST = {
    "lgbm": {"n_estimators": 40},
    "glm": {},
    "ensemble": {"members": ("ewm", "mean", "kde"), "n_origins": 3},
    "etas": {"max_iter": 30},
}


def _make(name: str):
    return models()[name](**FAST.get(name, {}))


@pytest.fixture(params=sorted(models()))
def name(request):
    return request.param


def test_init_is_keyword_only_with_defaults(name):
    cls = models()[name]
    sig = inspect.signature(cls.__init__)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    assert params, "every model has hyperparameters"
    for p in params:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, p.name
        assert p.default is not inspect.Parameter.empty, p.name
    names = {p.name for p in params}
    assert {"weights", "freq"} <= names
    m = cls()
    assert m.get_params() == {p.name: p.default for p in params}
    for meth in ("fit", "predict"):
        kinds = [p.kind for p in inspect.signature(getattr(cls, meth)).parameters.values()]
        assert inspect.Parameter.KEYWORD_ONLY in kinds
    assert list(inspect.signature(cls.fit).parameters) == [
        "self",
        "events",
        "units",
        "until",
        "context",
    ]
    assert list(inspect.signature(cls.predict).parameters) == ["self", "start", "end"]


def test_fit_predict_contract(name, synthetic_city):
    ev, units = synthetic_city
    m = _make(name)
    params_before = set(vars(m))
    assert m.fit(ev, units=units, until=UNTIL) is m
    learned = set(vars(m)) - params_before
    assert learned
    assert all(k.endswith("_") for k in learned), learned
    s = m.predict(start=UNTIL, end=END)
    assert isinstance(s, RiskSurface)
    assert s.model == name
    assert s.mean.shape == (len(units),)
    assert np.all(np.isfinite(s.mean)) and np.all(s.mean >= 0)
    assert s.mean.sum() > 0
    if s.has_interval:
        assert s.lo90 is not None and s.hi90 is not None
        # Quantiles of a discrete count: lo <= hi, lo below the mean, hi >= 0.
        assert np.all(s.lo90 <= s.hi90) and np.all(s.lo90 <= s.mean + 1e-9)
        assert np.all(s.hi90 >= 0)
    if s.components:
        np.testing.assert_allclose(sum(s.components.values()), s.mean, rtol=1e-6, atol=1e-9)
    # Three months forecast roughly three times one month.
    s3 = m.predict(start=UNTIL, end=np.datetime64("2022-10-01", "s"))
    assert 2.0 < s3.mean.sum() / s.mean.sum() < 4.0


def test_refuses_window_before_until(name, synthetic_city):
    ev, units = synthetic_city
    m = _make(name).fit(ev, units=units, until=UNTIL)
    with pytest.raises(InputError):
        m.predict(start=np.datetime64("2022-06-01", "s"), end=END)
    with pytest.raises(InputError):
        m.predict(start=UNTIL, end=UNTIL)


def test_future_events_are_ignored(name, synthetic_city):
    ev, units = synthetic_city
    a = (
        _make(name)
        .fit(ev.filter(end=UNTIL), units=units, until=UNTIL)
        .predict(start=UNTIL, end=END)
    )
    b = _make(name).fit(ev, units=units, until=UNTIL).predict(start=UNTIL, end=END)
    # Plant a huge burst right after the origin: it must change nothing.
    burst = events_from_cells([(3, 3)] * 50, ["2022-07"] * 50)
    c = (
        _make(name)
        .fit(IncidentTable.concat([ev, burst]), units=units, until=UNTIL)
        .predict(start=UNTIL, end=END)
    )
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-9)
    np.testing.assert_allclose(a.mean, c.mean, rtol=1e-9)


def test_outside_units_ignored(name, synthetic_city):
    ev, units = synthetic_city
    far = events_from_cells([(500, 500)] * 5, ["2022-05"] * 5)
    a = _make(name).fit(ev, units=units, until=UNTIL).predict(start=UNTIL, end=END)
    b = (
        _make(name)
        .fit(IncidentTable.concat([ev, far]), units=units, until=UNTIL)
        .predict(start=UNTIL, end=END)
    )
    assert b.mean.shape == (len(units),)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)


def test_harm_weights_scale(name, synthetic_city):
    ev, units = synthetic_city
    w = {"burglary": 1.0, "violent-crime": 1.0, "shoplifting": 1.0, "vehicle-crime": 1.0}
    vol = _make(name).fit(ev, units=units, until=UNTIL).predict(start=UNTIL, end=END)
    m = models()[name](**{**FAST.get(name, {}), "weights": {k: 3.0 * v for k, v in w.items()}})
    harm = m.fit(ev, units=units, until=UNTIL).predict(start=UNTIL, end=END)
    # Uniform weights of 3 triple the forecast (up to the learned models' fitting noise).
    assert harm.mean.sum() == pytest.approx(3 * vol.mean.sum(), rel=0.1)


def test_fitted_models_pickle(name, synthetic_city):
    # The back-test harness runs models in spawned worker processes.
    import pickle

    ev, units = synthetic_city
    m = _make(name).fit(ev, units=units, until=UNTIL)
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_allclose(
        again.predict(start=UNTIL, end=END).mean, m.predict(start=UNTIL, end=END).mean
    )
