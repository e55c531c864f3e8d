"""Poisson GLM (log link) on the learned model's features: a transparent second learned model.

Method
------
The same training rows as :mod:`crimemap.forecast.lgbm` (features of every
unit at several past origins from the bins before each origin, target the
next bin's count) feed a ridge-penalised Poisson regression (scikit-learn
``PoissonRegressor``, L-BFGS). Count-like features enter as
``sign(x) log(1 + |x|)``, the month of year as 12 indicators, missing values
as 0 plus a missing-indicator column; all columns are standardised on the
training rows. Windows of several bins are summed bin by bin.

Band: negative binomial, dispersion estimated on the last ``holdout`` origins
by a model fitted on the earlier ones (that model is the final one, as in
``lgbm``). Components: in log space the contribution of family ``F`` is
``sum_{j in F} beta_j (x_j - mean_j)``; they are turned into additive count
contributions with the same exact family-Shapley game as ``lgbm``.

References
----------
McCullagh, P. & Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.
Chapman & Hall.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap.forecast._common import (
    as_time,
    band_scale,
    bin_coord,
    check_freq,
    window_periods,
)
from crimemap.forecast._learned import (
    bin_month,
    family_shapley,
    held_out_by_bin,
    nb_dispersion,
    training_set,
)
from crimemap.forecast.base import BaseForecaster, register_model
from crimemap.forecast.surface import CountBand, RiskSurface
from crimemap.spatial.covariates import UnitCovariates
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["PoissonGLMForecaster"]

_DEFAULT_ORIGINS = {"M": 12, "W": 52, "D": 91}


class _Design:
    """Feature transform fitted on the training rows (kept with the model).

    Built by :meth:`fit_transform` only.
    """

    month_col: int
    nan_cols: np.ndarray
    families: list[str]
    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit_transform(
        cls, X: np.ndarray, train: np.ndarray, names: list[str], fams: list[str]
    ) -> tuple[_Design, np.ndarray]:
        """The transform fitted on ``X[train]`` and every row of ``X`` transformed.

        Same result as fitting on ``X[train]`` alone and then ``transform(X)``,
        with the log transform computed once instead of twice.
        """
        d = cls.__new__(cls)
        d.month_col = names.index("month")
        d.nan_cols = np.flatnonzero(np.isnan(X[train]).any(axis=0))
        Z, d.families = d._raw(X, fams)
        Zt = Z[train]
        d.mean = Zt.mean(axis=0)
        sd = Zt.std(axis=0)
        d.sd = np.where(sd > 1e-12, sd, 1.0)
        Z -= d.mean
        Z /= d.sd
        return d, Z

    def _raw(self, X: np.ndarray, fams: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
        keep = [j for j in range(X.shape[1]) if j != self.month_col]
        V = np.nan_to_num(X[:, keep])
        miss = np.isnan(X[:, self.nan_cols]).astype(float)
        V = np.sign(V) * np.log1p(np.abs(V))
        month = X[:, self.month_col].astype(int)
        onehot = (month[:, None] == np.arange(1, 13)[None, :]).astype(float)
        Z = np.hstack([V, miss, onehot])
        out_f: list[str] = []
        if fams is not None:
            out_f = [fams[j] for j in keep] + [fams[j] for j in self.nan_cols] + ["season"] * 12
        return Z, out_f

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z, _ = self._raw(X)
        return (Z - self.mean) / self.sd


@register_model("glm")
class PoissonGLMForecaster(BaseForecaster):
    """Ridge-penalised Poisson regression on the ``lgbm`` features.

    Parameters
    ----------
    alpha : float
        L2 penalty of ``PoissonRegressor`` (default 1e-3).
    n_origins : int, optional
        Training origins; default a year of bins.
    min_history : int
        Bins of history an origin needs (default 6).
    holdout : int
        Last origins held out for the band's dispersion (default 2).
    context_features : bool
        Add the ``context`` feature family: the mean count of incidents of
        every category in the unit and its rings (from ``fit``'s ``context``
        incidents when given, else from ``events``; default True).
    covariates : UnitCovariates, optional
        Per-unit area covariates.
    weights, freq
        As for every model.
    """

    def __init__(
        self,
        *,
        alpha: float = 1e-3,
        n_origins: int | None = None,
        min_history: int = 6,
        holdout: int = 2,
        covariates: UnitCovariates | None = None,
        context_features: bool = True,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.alpha = alpha
        self.n_origins = n_origins
        self.min_history = min_history
        self.holdout = holdout
        self.covariates = covariates
        self.context_features = context_features
        self.weights = weights
        self.freq = freq

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> PoissonGLMForecaster:
        """Fit on the training origins before ``until``; dispersion from the held-out tail."""
        from sklearn.linear_model import PoissonRegressor

        check_freq(self.freq)
        until = as_time(until)
        cov = (
            self.covariates.align(units)
            if self.covariates is not None
            else np.empty((len(units), 0))
        )
        names = tuple(self.covariates.names) if self.covariates is not None else ()
        ts = training_set(
            events,
            units,
            until,
            freq=self.freq,
            weights=self.weights,
            covariates=cov,
            covariate_names=names,
            n_origins=self.n_origins or _DEFAULT_ORIGINS[self.freq],
            min_history=self.min_history,
            context=context,
            context_features=self.context_features,
        )
        fnames, fams = ts.builder.names_families()
        scale = band_scale(events, until, self.weights)
        origins = np.unique(ts.origin)
        k = int(self.holdout)
        train = np.ones(len(ts.y), bool)
        if k > 0 and len(origins) > k + 1:
            train = ts.origin < origins[-k]
        # Standardised on the training rows only: the held-out rows must not shape the model.
        design, Z = _Design.fit_transform(ts.X, train, fnames, fams)
        reg = PoissonRegressor(alpha=float(self.alpha), solver="newton-cholesky", max_iter=100)
        reg.fit(Z[train], ts.y[train])
        alpha_nb = 0.0
        self.holdout_mean_: Mapping[np.datetime64, np.ndarray] = {}
        if not train.all():
            pred = reg.predict(Z[~train])
            alpha_nb = nb_dispersion(ts.y[~train] / scale, pred / scale)
            self.holdout_mean_ = held_out_by_bin(ts, ~train, pred)
        self.design_ = design
        self.coef_ = np.asarray(reg.coef_, float)
        self.intercept_ = float(reg.intercept_)
        self.builder_ = ts.builder
        self.n_bins_ = len(ts.periods)
        self.dispersion_ = alpha_nb
        self.scale_ = scale
        self.units_ = units
        self.until_ = until
        return self

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        """Expected count per unit in ``[start, end)``, NB band, family components."""
        start, end = self._predict_window(start, end)
        starts, frac = window_periods(start, end, self.freq)
        u0 = bin_coord(self.until_, self.freq)
        fams = np.array(self.design_.families)
        fam_names = list(dict.fromkeys(self.design_.families))
        n = len(self.units_)
        mean = np.zeros(n)
        comps = np.zeros((n, len(fam_names) + 1))
        for b, f, m in zip(starts, frac, bin_month(starts), strict=True):
            offset = max(int(round(bin_coord(b, self.freq) - u0)), 0)
            Z = self.design_.transform(self.builder_.matrix(self.n_bins_, offset, int(m)))
            eta = np.clip(self.intercept_ + Z @ self.coef_, -30.0, 30.0)
            mean += f * np.exp(eta)
            # Columns are centred, so the bias is the intercept.
            phi = np.column_stack([Z[:, fams == fn] @ self.coef_[fams == fn] for fn in fam_names])
            bias = np.full(n, self.intercept_)
            comps += f * np.column_stack([np.exp(bias), family_shapley(phi, bias)])
        components = {"baseline": comps[:, 0] + (mean - comps.sum(axis=1))}
        components.update({fn: comps[:, j + 1] for j, fn in enumerate(fam_names)})
        params: dict[str, Any] = {k: v for k, v in self.get_params().items() if k != "covariates"}
        params["covariates"] = None if self.covariates is None else self.covariates.source
        return RiskSurface(
            model=self.name,
            units=self.units_,
            start=start,
            end=end,
            mean=mean,
            band=CountBand(dispersion=self.dispersion_, scale=self.scale_),
            components=MappingProxyType(components),
            params=MappingProxyType(
                {**params, "until": str(self.until_), "dispersion": self.dispersion_}
            ),
        )
