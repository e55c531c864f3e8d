"""Prospective hotspotting: near-repeat-weighted space-time decay of recent crime.

Method
------
Bowers, Johnson & Pease (2004) score each place by the recent incidents
around it, each weighted by how close it is in space and time, because risk
of victimisation is communicable: after a burglary, homes nearby face a
raised risk for a few weeks. An incident ``i`` at distance ``d_i`` (in cell
widths) and age ``a_i`` (in weeks; on month-only data, in months) contributes

    w_i = 1 / (1 + d_i) * 1 / (1 + a_i)    if d_i <= distance bandwidth and a_i < time bandwidth

On a grid this is a sparse spatial kernel applied to the last few periods of
the count cube, each period weighted by its age. The raw score has no count
scale, so it is rescaled so that the study area's total equals the mean total
per period over the same recent window (the method ranks places; the rescaling
makes it usable as an expected count). Ages are measured from the end of each
bin to the origin, so the last bin has age 0.

References
----------
Bowers, K. J., Johnson, S. D. & Pease, K. (2004). Prospective hot-spotting:
the future of crime mapping? *British Journal of Criminology* 44(5), 641-658.
Johnson, S. D., Birks, D. J., McLaughlin, L., Bowers, K. J. & Pease, K.
(2007). *Prospective crime mapping in operational context*. Home Office
Online Report 19/07.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from crimemap.errors import InputError
from crimemap.forecast._common import (
    as_time,
    band_scale,
    kernel_matrix,
    training_cube,
    window_bins,
)
from crimemap.forecast.base import BaseForecaster, register_model
from crimemap.forecast.surface import CountBand, RiskSurface
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["ProspectiveHotspot"]

# Length of one bin in the method's time unit: weeks for weekly/daily bins,
# months on month-only data (the finest unit that data allows).
_BIN_IN_TIME_UNITS = {"M": 1.0, "W": 1.0, "D": 1.0 / 7.0}


@register_model("prospective")
class ProspectiveHotspot(BaseForecaster):
    """Bowers-Johnson-Pease prospective hotspotting on a grid.

    Parameters
    ----------
    distance_bandwidth : float
        Spatial bandwidth in metres (default 500); incidents further away do
        not count.
    time_bandwidth : float
        Temporal bandwidth in the time unit (weeks; months on month-only
        data), default 2.
    background : float
        Share of the forecast given to the 12-period mean (0 = pure
        prospective score, the original method; default 0). A small share
        keeps places with no recent incident above zero.
    weights, freq
        As for every model.
    """

    def __init__(
        self,
        *,
        distance_bandwidth: float = 500.0,
        time_bandwidth: float = 2.0,
        background: float = 0.0,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.distance_bandwidth = distance_bandwidth
        self.time_bandwidth = time_bandwidth
        self.background = background
        self.weights = weights
        self.freq = freq

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> ProspectiveHotspot:
        """Score every unit from the incidents of the last ``time_bandwidth`` before ``until``."""
        if not (self.distance_bandwidth > 0 and self.time_bandwidth > 0):
            raise InputError("prospective: bandwidths must be positive")
        if not 0.0 <= self.background <= 1.0:
            raise InputError("prospective: background must be in [0, 1]")
        until = as_time(until)
        cube = training_cube(events, units, until, self.freq, self.weights)
        step = _BIN_IN_TIME_UNITS[self.freq]
        n_back = max(1, int(np.ceil(self.time_bandwidth / step - 1e-9)))
        recent = cube.counts[:, -n_back:]
        age = np.arange(recent.shape[1])[::-1] * step
        tw = 1.0 / (1.0 + age)
        cell = float(units.cell_size or 1.0)
        K = kernel_matrix(units, self.distance_bandwidth, lambda d: 1.0 / (1.0 + d / cell))
        score = np.asarray(K @ (recent @ tw), float)
        total = recent.sum() / recent.shape[1]
        near = score / score.sum() * total if score.sum() > 0 else np.zeros(len(units))
        long_run = cube.counts[:, -12:].mean(axis=1)
        b = float(self.background)
        self.units_ = units
        self.until_ = until
        self.near_repeat_ = (1.0 - b) * near
        self.background_ = b * long_run
        self.scale_ = band_scale(events, until, self.weights)
        return self

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        """Expected count per unit in ``[start, end)``: the per-bin score times the bins."""
        start, end = self._predict_window(start, end)
        _, h = window_bins(self.until_, start, end, self.freq)
        near = self.near_repeat_ * h
        bg = self.background_ * h
        mean = near + bg
        return RiskSurface(
            model=self.name,
            units=self.units_,
            start=start,
            end=end,
            mean=mean,
            band=CountBand(scale=self.scale_),
            components=MappingProxyType({"near_repeat": near, "background": bg}),
            params=MappingProxyType(
                {
                    **self.get_params(),
                    "until": str(self.until_),
                    "time_unit": "month" if self.freq == "M" else "week",
                }
            ),
        )
