"""Gradient-boosted trees (LightGBM) with a Poisson objective over units and origins.

Method
------
One model is fitted across all units and several past origins: for each
origin ``o`` among the last ``n_origins`` bins before ``until``, the features
of every unit are computed from the bins before ``o`` and the target is the
count (or harm) in bin ``o`` (see :mod:`crimemap.forecast._features`: lagged
counts and short/long means of the unit, its 1-cell and 3-cell rings, trend,
the target's month of year, the area's seasonal and trend ratios, the unit's
recent category mix and area covariates such as IMD deprivation and
population). Pooling units lets sparse cells borrow strength from similar
cells and their neighbourhoods (shrinkage toward spatially smoothed rates is
learnt, not imposed). The objective is Poisson (log link); ``"tweedie"`` is
available for harm.

A window of several bins is forecast bin by bin with the features at
``until`` (the month of year moves; nothing else is extrapolated) and summed.

**Band.** A negative-binomial 90 % band whose dispersion ``alpha`` is the
maximum-likelihood estimate on a held-out tail of the training origins (a
model fitted on the earlier origins predicts the last ``holdout`` origins), so
it measures forecast error, not fit. By default that model is also the final
one (``refit=False``); its features at ``until`` still use every bin.

**Explanations.** LightGBM's ``pred_contrib=True`` returns exact tree SHAP
values (Lundberg et al. 2020) in log space: ``log mu = bias + sum_j phi_j``.
They are summed within feature families, and the families' contributions to
the *count* are the exact Shapley values of the game
``v(S) = exp(bias + sum_{F in S} phi_F) - exp(bias)`` (computed over all
``2^F`` coalitions, F <= 6). With ``baseline = exp(bias)`` the components add
up exactly to the forecast; a negative component means that family lowers the
forecast below the baseline.

References
----------
Ke, G. et al. (2017). LightGBM: a highly efficient gradient boosting decision
tree. *NeurIPS* 30.
Lundberg, S. M. et al. (2020). From local explanations to global
understanding with explainable AI for trees. *Nature Machine Intelligence* 2,
56-67.
Mohler, G. & Porter, M. D. (2018). Rotational grid, PAI-maximizing crime
forecasts. *Statistical Analysis and Data Mining* 11(5), 227-236 (learned
grid forecasts evaluated by PAI).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from crimemap.errors import InputError
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

__all__ = ["LightGBMForecaster"]

_DEFAULT_ORIGINS = {"M": 12, "W": 52, "D": 91}


@register_model("lgbm")
class LightGBMForecaster(BaseForecaster):
    """LightGBM Poisson forecaster on lagged, neighbourhood, seasonal and area features.

    Parameters
    ----------
    n_estimators : int
        Boosting rounds (default 100).
    learning_rate : float
        Shrinkage (default 0.12).
    subsample : float
        Row fraction per round (LightGBM bagging; default 1.0 = every row:
        re-sampling each round costs more time than it saves on these sizes).
    num_leaves : int
        Leaves per tree (default 15).
    max_depth : int
        Depth limit (default 6; small trees keep tree SHAP affordable).
    min_child_samples : int
        Minimum rows per leaf (default 200; large, because targets are sparse counts).
    n_origins : int, optional
        Training origins (last bins before ``until``); default a year of bins
        (12 months, 52 weeks or 91 days).
    min_history : int
        Bins of history an origin needs (default 6).
    holdout : int
        Last training origins held out to estimate the band's dispersion (default 2).
    refit : bool
        Refit on all origins after estimating the dispersion (default False: the
        model fitted without the held-out origins is used, which halves the
        cost; its features still use every bin before ``until``).
    objective : {"poisson", "tweedie"}
        Loss (log link).
    context_features : bool
        Add the ``context`` feature family: the mean count of incidents of
        every category in the unit and its rings (from ``fit``'s ``context``
        incidents when given, else from ``events``; default True).
    covariates : UnitCovariates, optional
        Frozen per-unit area covariates (see :func:`crimemap.spatial.covariates.unit_covariates`).
    explain : bool
        Compute SHAP family components in ``predict`` (default False: tree
        SHAP costs several times the fit on large forces; turn it on for maps
        and explanations, leave it off in back-tests).
    seed : int
        Random seed (bagging, feature sampling).
    num_threads : int
        LightGBM threads (default 1: OpenMP threads spin and degrade badly when the machine is shared).
    weights, freq
        As for every model.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.12,
        subsample: float = 1.0,
        num_leaves: int = 15,
        max_depth: int = 6,
        min_child_samples: int = 200,
        n_origins: int | None = None,
        min_history: int = 6,
        holdout: int = 2,
        refit: bool = False,
        objective: str = "poisson",
        covariates: UnitCovariates | None = None,
        context_features: bool = True,
        explain: bool = False,
        seed: int = 0,
        num_threads: int = 1,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.n_origins = n_origins
        self.min_history = min_history
        self.holdout = holdout
        self.refit = refit
        self.objective = objective
        self.covariates = covariates
        self.context_features = context_features
        self.explain = explain
        self.seed = seed
        self.num_threads = num_threads
        self.weights = weights
        self.freq = freq

    def _lgb_params(self) -> dict[str, Any]:
        if self.objective not in ("poisson", "tweedie"):
            raise InputError("lgbm: objective must be 'poisson' or 'tweedie'")
        return {
            "objective": self.objective,
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "max_depth": int(self.max_depth),
            "max_bin": 63,
            "min_data_in_leaf": int(self.min_child_samples),
            "feature_fraction": 0.9,
            "bagging_fraction": float(self.subsample),
            "bagging_freq": 1 if float(self.subsample) < 1.0 else 0,
            "lambda_l2": 1.0,
            "seed": int(self.seed),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": int(self.num_threads),
            "verbose": -1,
        }

    def _train(self, X: np.ndarray, y: np.ndarray) -> Any:
        import lightgbm as lgb

        # Bin boundaries from a 50,000-row sample (LightGBM's default is 200,000):
        # the quantiles of a few dozen bins do not need more, and binning every row
        # of a large force cost a fifth of the fit.
        ds = lgb.Dataset(
            X,
            label=y,
            free_raw_data=True,
            params={"verbose": -1, "max_bin": 63, "bin_construct_sample_cnt": 50_000},
        )
        return lgb.train(self._lgb_params(), ds, num_boost_round=int(self.n_estimators))

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> LightGBMForecaster:
        """Fit on training origins before ``until`` and estimate the band's dispersion."""
        check_freq(self.freq)
        until = as_time(until)
        cov = (
            self.covariates.align(units)
            if self.covariates is not None
            else np.empty((len(units), 0))
        )
        names = self.covariates.names if self.covariates is not None else ()
        ts = training_set(
            events,
            units,
            until,
            freq=self.freq,
            weights=self.weights,
            covariates=cov,
            covariate_names=tuple(names),
            n_origins=self.n_origins or _DEFAULT_ORIGINS[self.freq],
            min_history=self.min_history,
            context=context,
            context_features=self.context_features,
        )
        scale = band_scale(events, until, self.weights)
        origins = np.unique(ts.origin)
        alpha = 0.0
        k = int(self.holdout)
        self.holdout_mean_: Mapping[np.datetime64, np.ndarray] = {}
        if k > 0 and len(origins) > k + 1:
            held = ts.origin >= origins[-k]
            booster = self._train(ts.X[~held], ts.y[~held])
            pred = booster.predict(ts.X[held])
            alpha = nb_dispersion(ts.y[held] / scale, pred / scale)
            self.holdout_mean_ = held_out_by_bin(ts, held, pred)
            if self.refit:
                booster = self._train(ts.X, ts.y)
        else:
            booster = self._train(ts.X, ts.y)
        self.booster_ = booster
        names_, fams = ts.builder.names_families()
        self.feature_names_ = tuple(names_)
        self.families_ = tuple(fams)
        self.builder_ = ts.builder
        self.n_bins_ = len(ts.periods)
        self.dispersion_ = alpha
        self.scale_ = scale
        self.units_ = units
        self.until_ = until
        self.n_rows_ = len(ts.y)
        return self

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        """Expected count per unit in ``[start, end)`` with a NB band and SHAP family components."""
        start, end = self._predict_window(start, end)
        starts, frac = window_periods(start, end, self.freq)
        u0 = bin_coord(self.until_, self.freq)
        months = bin_month(starts)
        n = len(self.units_)
        mean = np.zeros(n)
        fam_names = [f for f in dict.fromkeys(self.families_)]
        comps = np.zeros((n, len(fam_names) + 1))
        for b, f, m in zip(starts, frac, months, strict=True):
            offset = max(int(round(bin_coord(b, self.freq) - u0)), 0)
            X = self.builder_.matrix(self.n_bins_, offset, int(m))
            mu = np.asarray(self.booster_.predict(X), float)
            mean += f * mu
            if self.explain:
                comps += f * self._explain(X, fam_names)
        components: dict[str, np.ndarray] = {}
        if self.explain:
            components["baseline"] = comps[:, 0]
            for j, name in enumerate(fam_names):
                components[name] = comps[:, j + 1]
            # Tiny float drift between exp(raw) and LightGBM's own transform.
            components["baseline"] = components["baseline"] + (mean - comps.sum(axis=1))
        return RiskSurface(
            model=self.name,
            units=self.units_,
            start=start,
            end=end,
            mean=mean,
            band=CountBand(dispersion=self.dispersion_, scale=self.scale_),
            components=MappingProxyType(components),
            params=MappingProxyType(
                {
                    **{k: v for k, v in self.get_params().items() if k != "covariates"},
                    "covariates": None if self.covariates is None else self.covariates.source,
                    "until": str(self.until_),
                    "dispersion": self.dispersion_,
                    "n_rows": self.n_rows_,
                    "features": self.feature_names_,
                }
            ),
        )

    def _explain(self, X: np.ndarray, fam_names: list[str]) -> np.ndarray:
        """``(n, 1 + F)``: baseline ``exp(bias)`` and Shapley count contributions per family."""
        contrib = np.asarray(self.booster_.predict(X, pred_contrib=True), float)
        bias = contrib[:, -1]
        fams = np.array(self.families_)
        phi = np.column_stack([contrib[:, :-1][:, fams == f].sum(axis=1) for f in fam_names])
        sh = family_shapley(phi, bias)
        return np.column_stack([np.exp(bias), sh])
