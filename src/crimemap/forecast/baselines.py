"""Simple baseline forecasters: last period, k-period mean, EWM and retrospective KDE.

Methods
-------
``last``
    The count of the last complete period, per unit (naive / persistence).
``mean``
    The mean count of the last ``k`` periods (k = 12 by default): the
    long-run hotspot map of Chainey, Tompson & Uhlig (2008).
``ewm``
    Exponentially weighted counts with a half-life in periods (default 3):
    weight ``0.5 ** (age / half_life)``, age 0 = last period.
``kde``
    Retrospective kernel density estimation (Chainey, Tompson & Uhlig 2008;
    Silverman 1986): the counts of the last ``k`` periods, smoothed with a
    Gaussian (truncated at 3 bandwidths) or quartic kernel of ``bandwidth``
    metres between unit centroids, rescaled so that the total equals the mean
    total per period.

Every baseline predicts ``rate * h`` for a window of ``h`` bins (a window of
several bins returns the total over the window) and a Poisson (harm: scaled
compound-Poisson) 90 % band.

References
----------
Chainey, S., Tompson, L. & Uhlig, S. (2008). The utility of hotspot mapping
for predicting spatial patterns of crime. *Security Journal* 21, 4-28.
Silverman, B. W. (1986). *Density Estimation for Statistics and Data
Analysis*. Chapman & Hall.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

__all__ = ["LastPeriod", "MeanPeriods", "EWMCounts", "RetrospectiveKDE"]


class _RateBaseline(BaseForecaster):
    """A model whose forecast is a per-bin rate per unit times the window length."""

    weights: Mapping[str, float] | None
    freq: str
    _component = "recent"

    def _rate(self, counts: np.ndarray, units: Units) -> np.ndarray:
        raise NotImplementedError

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> _RateBaseline:
        """Learn the per-bin rate from the incidents before ``until``."""
        until = as_time(until)
        cube = training_cube(events, units, until, self.freq, self.weights)
        self.units_ = units
        self.until_ = until
        self.n_periods_ = cube.counts.shape[1]
        self.rate_ = np.maximum(self._rate(cube.counts, units), 0.0)
        self.scale_ = band_scale(events, until, self.weights)
        return self

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        """Expected count (or harm) per unit in ``[start, end)``."""
        start, end = self._predict_window(start, end)
        _, h = window_bins(self.until_, start, end, self.freq)
        mean = self.rate_ * h
        return RiskSurface(
            model=self.name,
            units=self.units_,
            start=start,
            end=end,
            mean=mean,
            band=CountBand(scale=self.scale_),
            components=MappingProxyType({self._component: mean}),
            params=MappingProxyType(
                {**self.get_params(), "until": str(self.until_), "n_periods": self.n_periods_}
            ),
        )


@register_model("last")
class LastPeriod(_RateBaseline):
    """Last period's count per unit.

    Parameters
    ----------
    weights : mapping, optional
        Category -> weight (harm); ``None`` counts incidents.
    freq : {"M", "W", "D"}
        Time bin.
    """

    def __init__(self, *, weights: Mapping[str, float] | None = None, freq: str = "M") -> None:
        self.weights = weights
        self.freq = freq

    def _rate(self, counts: np.ndarray, units: Units) -> np.ndarray:
        return counts[:, -1].copy()


@register_model("mean")
class MeanPeriods(_RateBaseline):
    """Mean count of the last ``k`` periods per unit (fewer if fewer exist).

    Parameters
    ----------
    k : int
        Number of periods averaged (default 12).
    weights, freq
        As for every model.
    """

    _component = "long_run"

    def __init__(
        self, *, k: int = 12, weights: Mapping[str, float] | None = None, freq: str = "M"
    ) -> None:
        self.k = k
        self.weights = weights
        self.freq = freq

    def _rate(self, counts: np.ndarray, units: Units) -> np.ndarray:
        if int(self.k) < 1:
            raise InputError("mean: k must be at least 1")
        return counts[:, -int(self.k) :].mean(axis=1)


def ewm_rate(counts: np.ndarray, half_life: float) -> np.ndarray:
    """Exponentially weighted mean over the bins (last column = age 0)."""
    if not half_life > 0:
        raise InputError("ewm: half_life must be positive")
    age = np.arange(counts.shape[1])[::-1]
    w = 0.5 ** (age / float(half_life))
    return counts @ w / w.sum()


@register_model("ewm")
class EWMCounts(_RateBaseline):
    """Exponentially weighted mean count per unit.

    Parameters
    ----------
    half_life : float
        Half-life in periods (default 3).
    weights, freq
        As for every model.
    """

    def __init__(
        self,
        *,
        half_life: float = 3.0,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.half_life = half_life
        self.weights = weights
        self.freq = freq

    def _rate(self, counts: np.ndarray, units: Units) -> np.ndarray:
        return ewm_rate(counts, self.half_life)


def kernel_weight(
    kernel: str, bandwidth: float
) -> tuple[float, Callable[[np.ndarray], np.ndarray]]:
    """``(radius, weight(d))`` of a Gaussian (cut at 3 h) or quartic kernel."""
    h = float(bandwidth)
    if not h > 0:
        raise InputError("kde: bandwidth must be positive (metres)")
    if kernel == "gaussian":
        return 3.0 * h, lambda d: np.exp(-0.5 * (d / h) ** 2)
    if kernel == "quartic":
        return h, lambda d: np.clip(1.0 - (d / h) ** 2, 0.0, None) ** 2
    raise InputError(f"kde: kernel must be 'gaussian' or 'quartic', got {kernel!r}")


def smooth_counts(units: Units, totals: np.ndarray, kernel: str, bandwidth: float) -> np.ndarray:
    """Kernel-smooth unit totals at the unit centroids (unnormalised)."""
    radius, fn = kernel_weight(kernel, bandwidth)
    K = kernel_matrix(units, radius, fn)
    return np.asarray(K @ totals, float)


@register_model("kde")
class RetrospectiveKDE(_RateBaseline):
    """Kernel density of the last ``k`` periods at unit centroids, as expected counts.

    Parameters
    ----------
    bandwidth : float
        Kernel bandwidth in metres (default 400).
    kernel : {"gaussian", "quartic"}
        Kernel shape; the Gaussian is truncated at 3 bandwidths.
    k : int
        Periods pooled (default 12).
    weights, freq
        As for every model.
    """

    _component = "long_run"

    def __init__(
        self,
        *,
        bandwidth: float = 400.0,
        kernel: str = "gaussian",
        k: int = 12,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.k = k
        self.weights = weights
        self.freq = freq

    def _rate(self, counts: np.ndarray, units: Units) -> np.ndarray:
        recent = counts[:, -int(self.k) :]
        total = recent.sum(axis=1)
        dens = smooth_counts(units, total, self.kernel, self.bandwidth)
        s = dens.sum()
        if s <= 0:
            return np.zeros(len(units))
        # Rescale the density so the study area's total is the mean total per period.
        return dens / s * total.sum() / recent.shape[1]
