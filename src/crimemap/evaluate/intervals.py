"""Intervals for a metric over back-test origins.

Each origin of a rolling back-test gives one value of each metric; the report
shows their mean and an interval for it. Two methods:

* ``"t"``: Student-t interval ``mean +/- t(1 - a/2, n - 1) s / sqrt(n)``,
  treating origins as independent draws (they are serially correlated, so the
  interval is optimistic; it is a guide to the spread, not a test);
* ``"bootstrap"``: percentile bootstrap of the mean over origins
  (Efron & Tibshirani 1993, ch. 13), resampling origins with a seeded
  ``numpy.random.Generator``.

Non-finite values (e.g. PEI of a period without crime) are left out and the
count ``n`` says how many origins were used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from crimemap.errors import InputError

__all__ = ["Interval", "origin_interval"]


@dataclass(frozen=True)
class Interval:
    """Mean of a metric over origins with a confidence interval.

    Attributes
    ----------
    mean : float
        Mean over the finite values (NaN when there are none).
    lo, hi : float
        Interval bounds (equal to ``mean`` with one value, NaN with none).
    n : int
        Number of finite values used.
    level : float
        Confidence level, e.g. 0.95.
    method : str
        ``"t"`` or ``"bootstrap"``.
    """

    mean: float
    lo: float
    hi: float
    n: int
    level: float
    method: str

    def format(self, digits: int = 3) -> str:
        """``"mean [lo, hi]"`` with ``digits`` significant figures."""
        if not np.isfinite(self.mean):
            return "-"
        f = f"{{:.{digits}g}}"
        if self.n < 2:
            return f.format(self.mean)
        return f"{f.format(self.mean)} [{f.format(self.lo)}, {f.format(self.hi)}]"


def origin_interval(
    values: np.ndarray | list[float],
    *,
    level: float = 0.95,
    method: str = "t",
    seed: int = 0,
    n_boot: int = 2000,
) -> Interval:
    """Mean over origins and its ``level`` interval.

    Parameters
    ----------
    values : array-like
        One value per origin.
    level : float
        Confidence level in ``(0, 1)``.
    method : {"t", "bootstrap"}
        Interval method (see module docstring).
    seed, n_boot : int
        Bootstrap seed and number of resamples.
    """
    if not 0 < level < 1:
        raise InputError("level must be in (0, 1)")
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, 0, level, method)
    m = float(v.mean())
    if n == 1 or np.ptp(v) == 0:
        return Interval(m, m, m, n, level, method)
    alpha = 1 - level
    if method == "t":
        half = float(stats.t.ppf(1 - alpha / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
        return Interval(m, m - half, m + half, n, level, method)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = v[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
        return Interval(m, float(lo), float(hi), n, level, method)
    raise InputError(f"unknown interval method {method!r}; use 't' or 'bootstrap'")
