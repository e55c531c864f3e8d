"""Ensemble of registered forecasters, weighted by their back-test inside the training window.

Method
------
For each of the last ``n_origins`` bins before ``until``, every member is
fitted on the data before that bin and predicts it (rolling origins inside
the training window, so nothing after ``until`` is ever seen). The weights
are then either

* ``"stacking"`` (default): non-negative weights ``w`` maximising the Poisson
  log-likelihood of ``sum_m w_m mu_m`` on those held-out bins (Breiman 1996;
  Yao et al. 2018 stack predictive distributions; the sum of weights is free,
  so the stack also recalibrates the level), or
* ``"loglik"``: pseudo-Bayesian-model-averaging weights
  ``w_m ∝ exp(LL_m)`` from each member's held-out Poisson log-likelihood,
  rescaled to sum to 1 (Yao et al. 2018).

The members are then refitted at ``until`` and combined. The 90 % band is
negative-binomial, its dispersion estimated on the held-out stacked
predictions. Components are the members' components times their weights,
summed by name (a member without components contributes one named after it).

References
----------
Breiman, L. (1996). Stacked regressions. *Machine Learning* 24, 49-64.
Yao, Y., Vehtari, A., Simpson, D. & Gelman, A. (2018). Using stacking to
average Bayesian predictive distributions. *Bayesian Analysis* 13(3), 917-1007.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import optimize, special

from crimemap.errors import InputError, InsufficientDataError
from crimemap.forecast._common import (
    as_time,
    check_freq,
    mean_weight,
    shift_bins,
    training_cube,
    training_events,
)
from crimemap.forecast._learned import nb_dispersion
from crimemap.forecast.base import BaseForecaster, make_model, register_model
from crimemap.forecast.memo import FitMemo
from crimemap.forecast.surface import CountBand, RiskSurface
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["EnsembleForecaster", "stack_weights"]


def stack_weights(preds: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative ``w`` maximising ``sum(y log(P w) - P w)`` (``preds`` is ``(rows, m)``)."""
    P = np.maximum(np.asarray(preds, float), 1e-9)
    y = np.asarray(y, float)
    m = P.shape[1]
    scale = max(float(y.sum()), 1.0)

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        mu = np.maximum(P @ w, 1e-12)
        val = -(float(y @ np.log(mu)) - float(mu.sum())) / scale
        grad = -(P.T @ (y / mu) - P.sum(axis=0)) / scale
        return val, grad

    w0 = np.full(m, 1.0 / m)
    res = optimize.minimize(f, w0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * m)
    return np.asarray(res.x, float)


@register_model("ensemble")
class EnsembleForecaster(BaseForecaster):
    """Weighted combination of registered models, weights from an in-window back-test.

    Parameters
    ----------
    members : tuple of str
        Registered model names (default ewm, mean, kde, prospective, lgbm).
    member_params : mapping, optional
        Model name -> hyperparameters (``weights`` and ``freq`` are always the ensemble's).
    n_origins : int
        Back-test origins inside the training window (default 2: the learned
        members' own held-out bins, so ``lgbm`` is fitted once; 4 origins gave
        the same accuracy on the development force, docs/models.md).
    method : {"stacking", "loglik"}
        How weights are set (see module docstring).
    memo : FitMemo, optional
        Shared fits (like scikit-learn's ``Pipeline(memory=...)``): members are
        fitted through it, so a fit already made by the caller with the same
        model, hyperparameters, data and ``until`` is reused instead of redone.
        It changes no result, only the cost (the back-test passes one per
        force, crime set and origin).
    weights, freq
        As for every model; passed to every member.
    """

    def __init__(
        self,
        *,
        members: tuple[str, ...] = ("ewm", "mean", "kde", "prospective", "lgbm"),
        member_params: Mapping[str, Mapping[str, Any]] | None = None,
        n_origins: int = 2,
        method: str = "stacking",
        memo: FitMemo | None = None,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.members = members
        self.member_params = member_params
        self.n_origins = n_origins
        self.method = method
        self.memo = memo
        self.weights = weights
        self.freq = freq

    def _fit_member(
        self,
        name: str,
        ev: IncidentTable,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None,
    ) -> Any:
        """A member fitted at ``until`` (through ``memo`` when one is given)."""
        if name == "ensemble":
            raise InputError("ensemble: an ensemble cannot contain itself")
        params = dict((self.member_params or {}).get(name, {}))
        params.update(weights=self.weights, freq=self.freq)
        if self.memo is not None:
            return self.memo.fit(name, params, ev, units=units, until=until, context=context)
        return make_model(name, params).fit(ev, units=units, until=until, context=context)

    def _backtest_member(
        self,
        name: str,
        ev: IncidentTable,
        units: Units,
        bins: list[np.datetime64],
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> tuple[Any, list[np.ndarray]]:
        """The member fitted at ``until`` and its out-of-sample predictions of ``bins``.

        Members that hold out their last bins when fitting (the learned models'
        ``holdout_mean_``) already predicted those bins with a model that never
        saw them: those predictions are used, and the member is refitted only
        for bins its holdouts do not reach (at the end of the latest such bin,
        so one refit covers several). Other members are refitted at each bin.
        Either way a bin is predicted only from data before it (members cut
        ``ev`` and ``context`` at their own ``until``).
        """
        final = self._fit_member(name, ev, units, until, context)
        got: dict[np.datetime64, np.ndarray] = {}

        def take(model: Any) -> bool:
            held = getattr(model, "holdout_mean_", None) or {}
            for b in bins:
                if b not in got and b in held:
                    got[b] = np.asarray(held[b], float)
            return bool(held)

        if take(final):
            for b in sorted(bins, reverse=True):
                if b in got:
                    continue
                end = min(shift_bins(b, 1, self.freq), until)
                refit = self._fit_member(name, ev, units, end, context)
                if not take(refit) or b not in got:
                    break  # too little history for a holdout here: refit per bin below
        for b in bins:
            if b not in got:
                e = min(shift_bins(b, 1, self.freq), until)
                m = self._fit_member(name, ev, units, b, context)
                got[b] = m.predict(start=b, end=e).mean
        return final, [got[b] for b in bins]

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> EnsembleForecaster:
        """Back-test the members on the last ``n_origins`` bins, set weights, refit at ``until``."""
        check_freq(self.freq)
        if self.method not in ("stacking", "loglik"):
            raise InputError("ensemble: method must be 'stacking' or 'loglik'")
        if not self.members:
            raise InputError("ensemble: no members")
        until = as_time(until)
        ev = training_events(events, until)
        cube = training_cube(ev, units, until, self.freq, self.weights)
        T = cube.counts.shape[1]
        k = min(int(self.n_origins), T - 3)
        if k < 1:
            raise InsufficientDataError("ensemble: too little history for an in-window back-test")
        bins = [as_time(cube.periods[j]) for j in range(T - k, T)]
        finals: dict[str, Any] = {}
        preds: dict[str, list[np.ndarray]] = {}
        for n in self.members:
            try:
                finals[n], preds[n] = self._backtest_member(n, ev, units, bins, until, context)
            except InsufficientDataError:
                # A member that needs more history than the window has is left out.
                preds[n] = [np.full(len(units), np.nan)]
        ys = [cube.counts[:, j] for j in range(T - k, T)]
        usable = [n for n in self.members if not np.isnan(np.concatenate(preds[n])).any()]
        if not usable:
            raise InsufficientDataError("ensemble: no member could be back-tested")
        P = np.column_stack([np.concatenate(preds[n]) for n in usable])
        y = np.concatenate(ys)
        if self.method == "stacking":
            w = stack_weights(P, y)
        else:
            mu = np.maximum(P, 1e-9)
            ll = (y[:, None] * np.log(mu) - mu - special.gammaln(y + 1)[:, None]).sum(axis=0)
            w = np.exp(ll - ll.max())
            w = w / w.sum()
        scale = mean_weight(ev, self.weights)
        self.dispersion_ = nb_dispersion(y / scale, (P @ w) / scale)
        self.member_weights_ = {n: 0.0 for n in self.members}
        self.member_weights_.update(zip(usable, (float(x) for x in w), strict=True))
        self.models_ = {n: finals[n] for n in usable if self.member_weights_[n] > 0}
        self.scale_ = scale
        self.units_ = units
        self.until_ = until
        return self

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        """Weighted sum of the members' forecasts, with an NB band and merged components."""
        start, end = self._predict_window(start, end)
        n = len(self.units_)
        mean = np.zeros(n)
        comps: dict[str, np.ndarray] = {}
        for name, model in self.models_.items():
            w = self.member_weights_[name]
            if w <= 0:
                continue
            s = model.predict(start=start, end=end)
            mean += w * s.mean
            parts = dict(s.components) if s.components else {name: s.mean}
            for key, v in parts.items():
                comps[key] = comps.get(key, np.zeros(n)) + w * np.asarray(v)
        mean = np.maximum(mean, 0.0)
        return RiskSurface(
            model=self.name,
            units=self.units_,
            start=start,
            end=end,
            mean=mean,
            band=CountBand(dispersion=self.dispersion_, scale=self.scale_),
            components=MappingProxyType(comps),
            params=MappingProxyType(
                {
                    **{k: v for k, v in self.get_params().items() if k != "memo"},
                    "until": str(self.until_),
                    "member_weights": dict(self.member_weights_),
                    "dispersion": self.dispersion_,
                }
            ),
        )
