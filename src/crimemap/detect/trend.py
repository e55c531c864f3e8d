"""Mann-Kendall trend test, vectorised over many series.

Method
------
For a series ``x_1..x_T`` the Mann-Kendall statistic is
``S = sum_{k<l} sign(x_l - x_k)``. Under the null of no monotonic trend (and
independent values) ``E[S] = 0`` and, with ties in groups of size ``t``,
``Var S = (T(T-1)(2T+5) - sum t(t-1)(2t+5)) / 18``. The continuity-corrected
``z = (S - sign(S)) / sqrt(Var S)`` is referred to the standard normal
(two-sided p-value). This is the trend test used by ESRI's Emerging Hot Spot
Analysis on each location's Gi* z-score series.

References
----------
Mann, H. B. (1945). Nonparametric tests against trend. *Econometrica* 13.
Kendall, M. G. (1975). *Rank Correlation Methods*, 4th ed. Griffin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from crimemap.errors import InputError, InsufficientDataError

__all__ = ["MannKendall", "mann_kendall"]


@dataclass(frozen=True, eq=False)
class MannKendall:
    """Mann-Kendall results, one per series (row).

    Attributes
    ----------
    s : numpy.ndarray
        The S statistic.
    var : numpy.ndarray
        Its tie-corrected variance.
    z : numpy.ndarray
        Continuity-corrected z-score (positive = upward trend).
    p : numpy.ndarray
        Two-sided p-value.
    """

    s: np.ndarray
    var: np.ndarray
    z: np.ndarray
    p: np.ndarray


def _tie_term(x: np.ndarray) -> np.ndarray:
    n, t = x.shape
    s = np.sort(x, axis=1)
    new = np.ones((n, t), bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    gid = np.cumsum(new.ravel()) - 1
    sizes = np.bincount(gid).astype(float)
    row_of_group = np.repeat(np.arange(n), new.sum(axis=1))
    return np.bincount(row_of_group, weights=sizes * (sizes - 1) * (2 * sizes + 5), minlength=n)


def mann_kendall(x: np.ndarray) -> MannKendall:
    """Mann-Kendall test for each row of ``x`` (``(n, T)`` or ``(T,)``).

    Raises
    ------
    crimemap.errors.InsufficientDataError
        If the series have fewer than 4 values.
    """
    a = np.asarray(x, float)
    one = a.ndim == 1
    a = a[None, :] if one else a
    if a.ndim != 2:
        raise InputError("mann_kendall expects a 1-D or 2-D array")
    t = a.shape[1]
    if t < 4:
        raise InsufficientDataError(f"Mann-Kendall needs at least 4 time steps, got {t}")
    s = np.zeros(a.shape[0])
    # Loop over time lags (T - 1 of them), vectorised over series.
    for d in range(1, t):
        s += np.sign(a[:, d:] - a[:, :-d]).sum(axis=1)
    var = (t * (t - 1) * (2 * t + 5) - _tie_term(a)) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    p = 2 * stats.norm.sf(np.abs(z))
    if one:
        return MannKendall(s=s[:1], var=var[:1], z=z[:1], p=p[:1])
    return MannKendall(s=s, var=var, z=z, p=p)
