"""The operational forecast: one back-test origin placed after the data.

``crimemap forecast`` must produce its surface exactly as the back-test
scored the same model, or the back-test would not vouch for it. This module
therefore reuses the back-test's preparation (:func:`prepare`): the origin is
the start of the period after the last one with data, the model is fitted on
every incident of the crime set before it, and the study area is every cell
holding any incident (all categories) before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from crimemap.errors import InputError
from crimemap.evaluate._models import check_surface, model_params
from crimemap.evaluate.prepared import BacktestConfig, next_period, prepare
from crimemap.evaluate.spec import REFERENCE_MODELS, ModelSpec
from crimemap.forecast.base import make_model
from crimemap.forecast.surface import RiskSurface
from crimemap.table import IncidentTable

__all__ = ["Horizon", "parse_horizon", "forecast_next"]


@dataclass(frozen=True)
class Horizon:
    """``steps`` periods of ``freq`` ahead: the window is the ``steps``-th period."""

    steps: int
    freq: str


def parse_horizon(text: str) -> Horizon:
    """Parse ``"1m"``, ``"2w"``, ``"1d"`` (months, ISO weeks, days).

    ``"3m"`` means the third month after the data (the same meaning as the
    ``horizon`` column of a back-test export), not a three-month window.
    """
    m = re.fullmatch(r"\s*(\d+)\s*([mwdMWD])\s*", text)
    if not m or int(m.group(1)) < 1:
        raise InputError(f"horizon must look like 1m, 2w or 1d, got {text!r}")
    return Horizon(int(m.group(1)), m.group(2).upper())


def forecast_next(
    incidents: IncidentTable,
    *,
    crime_set: str,
    model: ModelSpec | str,
    horizon: Horizon | str = "1m",
    cell_size: float = 250.0,
    start: str | None = None,
) -> RiskSurface:
    """Fit on all the data and forecast the ``horizon``-th period after it.

    Parameters
    ----------
    incidents : IncidentTable
        Every incident of the force (all categories, for the study area).
    crime_set : str
        Crime set or category slug to forecast.
    model : ModelSpec or str
        A registered model (``"name"`` or ``"name:k=v"``).
    horizon : Horizon or str
        E.g. ``"1m"``: the month after the last month with data.
    cell_size : float
        Grid cell side in metres.
    start : str, optional
        Ignore incidents before this time.
    """
    spec = model if isinstance(model, ModelSpec) else ModelSpec.parse(model)
    if spec.name in REFERENCE_MODELS:
        raise InputError(f"{spec.name!r} is a back-test reference, not a forecast model")
    h = horizon if isinstance(horizon, Horizon) else parse_horizon(horizon)
    config = BacktestConfig(cell_size=cell_size, freq=h.freq, start=start)
    prep = prepare(incidents, [crime_set], config)
    origin = next_period(prep.periods[-1], prep.freq)
    units = prep.units  # every cell holds an incident before the origin
    events = prep.training_events(crime_set, origin)
    est = make_model(spec.name, model_params(spec, prep.freq))
    est.fit(events, units=units, until=origin, context=prep.training_context(origin))
    win_start = next_period(origin, prep.freq, h.steps - 1)
    surface: RiskSurface = est.predict(start=win_start, end=next_period(win_start, prep.freq))
    check_surface(surface, units)
    if not np.array_equal(surface.units.ids, units.ids):
        raise InputError("model returned units in another order")
    return surface
