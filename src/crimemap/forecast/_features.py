"""Spatio-temporal features for the learned forecasters (lgbm, glm).

For an origin ``o`` (a bin index of the training cube), every feature of a unit
is computed from bins ``< o`` only, and the training target is the count in
bin ``o``: the model learns the mapping "history up to the origin -> next
bin" honestly, with no leakage. Families (used to group SHAP contributions
into explanations):

``recent``      last bins, short means, EWM, short trend
``long_run``    long means, same bin a year before
``neighbours``  1-cell and 3-cell ring means (Chebyshev rings on the grid)
``season``      month of year of the target, the area's seasonal and trend ratios
``category_mix`` shares of the main categories in the unit's recent history
``context``     the unit's and its rings' mean count of incidents of *every*
                category (the model's ``context`` incidents): a low-noise
                measure of how much crime of any kind a place has, from which
                sparse crime sets (burglary, robbery) borrow strength
``area``        area covariates (IMD deprivation, population, partner layers)

The category mix and the context family are computed from the context
incidents when the model is given them (every category), otherwise from the
forecast crime set's own incidents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from crimemap.forecast._common import kernel_matrix
from crimemap.spatial.units import Units

__all__ = ["FeatureBuilder", "MIX_CATEGORIES", "WINDOWS", "YEAR"]

#: Window lengths (bins) of the short, medium and long means, per time bin.
WINDOWS = {"M": (3, 6, 12), "W": (4, 13, 52), "D": (7, 28, 91)}
#: Bins per year (for the "same bin last year" feature).
YEAR = {"M": 12, "W": 52, "D": 364}
#: Categories whose recent share in a unit is a feature (the rest is implicit).
MIX_CATEGORIES = (
    "violent-crime",
    "shoplifting",
    "burglary",
    "vehicle-crime",
    "criminal-damage-arson",
    "other-theft",
    "public-order",
)


def _ring(units: Units, r: int) -> sparse.csr_matrix:
    """Mean over the cells of the Chebyshev ring of radius ``r`` (self excluded)."""
    size = float(units.cell_size or 250.0)
    K = kernel_matrix(
        units, r * size, lambda d: np.ones_like(d), metric="chebyshev", include_self=False
    )
    # Divide by the full ring size: cells absent from the units had no crime.
    return (K / float((2 * r + 1) ** 2 - 1)).tocsr()


@dataclass(frozen=True, eq=False)
class FeatureBuilder:
    """Feature matrices from a count cube (and a category cube) at given origins.

    Attributes
    ----------
    counts : numpy.ndarray
        ``(n, T)`` counts (or harm) per unit and bin.
    mix : numpy.ndarray
        ``(n, T, c)`` counts per unit, bin and category of :data:`MIX_CATEGORIES`
        plus one "total" slice.
    context_features : bool
        Add the ``context`` family (means of the "total" slice of ``mix``).
    month : numpy.ndarray
        ``(T + extra,)`` month of year (1-12) of each bin, covering forecast bins too.
    covariates : numpy.ndarray
        ``(n, k)`` area covariates (may have zero columns).
    covariate_names : tuple of str
    freq : str
    units : Units
    """

    counts: np.ndarray
    mix: np.ndarray
    covariates: np.ndarray
    covariate_names: tuple[str, ...]
    freq: str
    units: Units
    context_features: bool = True

    def __post_init__(self) -> None:
        c = self.counts
        n, T = c.shape
        cs = np.concatenate([np.zeros((n, 1)), np.cumsum(c, axis=1)], axis=1)
        object.__setattr__(self, "_cs", cs)
        tot = np.concatenate([[0.0], np.cumsum(c.sum(axis=0))])
        object.__setattr__(self, "_tot", tot)
        mixcs = np.concatenate(
            [np.zeros((n, 1, self.mix.shape[2])), np.cumsum(self.mix, axis=1)], axis=1
        )
        object.__setattr__(self, "_mixcs", mixcs)
        # EWM (half-life 3 bins) state before each origin: E[:, o] uses bins < o.
        decay = 0.5 ** (1.0 / 3.0)
        e = np.zeros((n, T + 1))
        z = np.zeros(T + 1)
        for t in range(T):
            e[:, t + 1] = decay * e[:, t] + c[:, t]
            z[t + 1] = decay * z[t] + 1.0
        object.__setattr__(self, "_ewm", e / np.maximum(z, 1e-12))
        object.__setattr__(self, "_r1", _ring(self.units, 1))
        object.__setattr__(self, "_r3", _ring(self.units, 3))

    def names_families(self) -> tuple[list[str], list[str]]:
        """Feature names and their families, in column order."""
        s, m, lw = WINDOWS[self.freq]
        names: list[str] = []
        fams: list[str] = []

        def add(fam: str, *ns: str) -> None:
            names.extend(ns)
            fams.extend([fam] * len(ns))

        add("recent", "lag1", "lag2", "lag3", f"mean{s}", "ewm3", "trend")
        add("long_run", f"mean{m}", f"mean{lw}", "mean_all", "lag_year", "zero_run")
        add("neighbours", f"r1_mean{s}", f"r1_mean{lw}", f"r3_mean{s}", f"r3_mean{lw}", "r1_lag1")
        add("season", "month", "area_season", "area_trend")
        add("category_mix", *[f"share_{c}" for c in MIX_CATEGORIES])
        if self.context_features:
            add("context", f"ctx_mean{s}", "ctx_mean_all", "ctx_r1_mean_all", "ctx_r3_mean_all")
        add("area", *self.covariate_names)
        return names, fams

    def _mean(self, o: int, k: int) -> np.ndarray:
        cs = self._cs  # type: ignore[attr-defined]
        a = max(o - k, 0)
        return (cs[:, o] - cs[:, a]) / max(o - a, 1)

    def matrix(self, o: int, target_offset: int, month: int) -> np.ndarray:
        """Features at origin ``o`` (bins < o) for a target ``target_offset`` bins ahead.

        ``month`` is the month of year of the target bin. The offset only moves
        the "same bin last year" feature; the model is trained one step ahead.
        """
        c = self.counts
        n = c.shape[0]
        s, m, lw = WINDOWS[self.freq]
        year = YEAR[self.freq]
        nan = np.full(n, np.nan)

        def lag(k: int) -> np.ndarray:
            return c[:, o - k] if o - k >= 0 else nan

        ms, mm, ml = self._mean(o, s), self._mean(o, m), self._mean(o, lw)
        mall = self._mean(o, o)
        ly = o + target_offset - year
        lag_year = c[:, ly] if 0 <= ly < o else nan
        # Bins since the unit's last incident (capped): separates dormant cells.
        cs = self._cs  # type: ignore[attr-defined]
        last_any = np.full(n, float(min(o, 2 * lw)))
        for k in range(1, min(o, 2 * lw) + 1):
            hit = (cs[:, o] - cs[:, o - k] > 0) & (last_any == float(min(o, 2 * lw)))
            last_any[hit] = k - 1
        r1, r3 = self._r1, self._r3  # type: ignore[attr-defined]
        tot = self._tot  # type: ignore[attr-defined]

        def tmean(k: int) -> float:
            a = max(o - k, 0)
            return float(tot[o] - tot[a]) / max(o - a, 1)

        t_lw = tmean(lw)
        if 0 <= ly < o and t_lw > 0:
            area_season = float(tot[ly + 1] - tot[ly]) / tmean_at(tot, ly, lw)
        else:
            area_season = np.nan
        area_trend = tmean(s) / t_lw if t_lw > 0 else np.nan
        mixcs = self._mixcs  # type: ignore[attr-defined]
        a = max(o - lw, 0)
        mx = mixcs[:, o, :] - mixcs[:, a, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = mx[:, :-1] / mx[:, -1:]
        extra: list[np.ndarray] = []
        if self.context_features:
            # Every category's mean per bin: short window and all history before o.
            ctx_s = (mixcs[:, o, -1] - mixcs[:, max(o - s, 0), -1]) / max(min(o, s), 1)
            ctx_all = mixcs[:, o, -1] / max(o, 1)
            extra = [ctx_s, ctx_all, r1 @ ctx_all, r3 @ ctx_all]
        cols = [
            lag(1),
            lag(2),
            lag(3),
            ms,
            self._ewm[:, o],  # type: ignore[attr-defined]
            ms - ml,
            mm,
            ml,
            mall,
            lag_year,
            last_any,
            r1 @ ms,
            r1 @ ml,
            r3 @ ms,
            r3 @ ml,
            r1 @ np.nan_to_num(lag(1)),
            np.full(n, float(month)),
            np.full(n, area_season),
            np.full(n, area_trend),
        ]
        X = np.column_stack(cols + [shares, *extra, self.covariates])
        return X


def tmean_at(tot: np.ndarray, ly: int, k: int) -> float:
    """Mean area total over the ``k`` bins ending at bin ``ly`` (inclusive), centred."""
    a = max(ly + 1 - k, 0)
    v = float(tot[ly + 1] - tot[a]) / max(ly + 1 - a, 1)
    return v if v > 0 else np.nan
