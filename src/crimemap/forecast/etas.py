"""Self-exciting point process (ETAS / Hawkes) on the grid, fitted by EM.

Method
------
Following Mohler et al. (2011, 2015), the intensity of crime in cell ``n`` and
time bin ``t`` is a background rate plus the triggering of past crimes:

    lambda[n, t] = mu[n] + theta * sum_{m, l >= 1} s(n - m; sigma) p_l(omega) C[m, t - l]

* ``mu[n]``: background rate per cell and bin (kernel-smoothed, see below);
* ``theta``: branching ratio (expected offspring per crime);
* ``p_l``: the exponential decay in time discretised to bins,
  ``p_l = (1 - q) q^(l-1)``, ``q = exp(-omega)``;
* ``s``: a Gaussian in space of scale ``sigma`` integrated over the target
  cell, truncated at ``max_distance`` (see :mod:`._etas_kernel`).

The parameters are estimated by expectation-maximisation on the binned counts
(Veen & Schoenberg 2008; Mohler et al. 2011): the E-step splits every count
between background and each (lag, offset) of possible parents in proportion
to their share of ``lambda``; the M-step (an exact ECM step) maximises the
expected complete log-likelihood, compensator included: ``theta`` in closed
form (triggered events over the parents' expected offspring inside the
window, so edge effects and the right-censoring of recent parents are
accounted for), then the lag decay ``q`` and ``sigma`` jointly by L-BFGS-B
with an analytic gradient, and ``mu`` as the expected background events of
each cell (spread with a Gaussian of ``background_bandwidth`` metres, which
keeps the total: the "smoothed" background of Mohler 2011). It stops when the
relative changes of ``theta``, ``q`` and the log-likelihood and the largest
change of the kernel's cell masses are below ``tol``, or after ``max_iter``
iterations. The masses, not ``sigma`` itself: once the kernel sits inside
the parent's own cell the likelihood is flat in ``sigma``.

**Time resolution.** Sources with exact dates (e.g. St. Louis, minute times)
are fitted in daily bins (``resolution="auto"``), the closest to the
continuous-time model that the count-cube machinery gives. On month-only data
(police.uk) the model still runs, on monthly bins, but near-repeats within a
month cannot be separated from the background: ``RiskSurface.params`` then
carries ``coarse_time=True`` and ``time_resolution="month"``.

**Forecast.** The expected count in future bins follows the mean-field
recursion ``E[t] = mu + theta * sum_l p_l (S E)[t - l]`` from the observed
history, so offspring of offspring are included. Components:
``background`` (the recursion started with no history: the background and
its own cascades) and ``near_repeat`` (the rest: what recent crime adds).

References
----------
Mohler, G. O., Short, M. B., Brantingham, P. J., Schoenberg, F. P. & Tita,
G. E. (2011). Self-exciting point process modeling of crime. *JASA* 106(493),
100-108.
Mohler, G. O. et al. (2015). Randomized controlled field trials of predictive
policing. *JASA* 110(512), 1399-1411.
Veen, A. & Schoenberg, F. P. (2008). Estimation of space-time branching
process models in seismology using an EM-type algorithm. *JASA* 103, 614-624.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import optimize, signal
from threadpoolctl import threadpool_limits

from crimemap.errors import InputError
from crimemap.forecast._common import (
    as_time,
    bin_coord,
    check_freq,
    kernel_matrix,
    mean_weight,
    training_cube,
    training_events,
    window_periods,
)
from crimemap.forecast._etas_kernel import (
    OffsetClasses,
    class_mass,
    class_mass_grad,
    offset_classes,
)
from crimemap.forecast.base import BaseForecaster, register_model
from crimemap.forecast.surface import CountBand, RiskSurface
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["ETASForecaster"]

_DAYS_PER_BIN = {"D": 1.0, "W": 7.0, "M": 30.4375}


@register_model("etas")
class ETASForecaster(BaseForecaster):
    """Grid ETAS (Hawkes) model: smoothed background plus exponential/Gaussian triggering.

    Parameters
    ----------
    resolution : {"auto", "D", "W", "M"}
        Time bin of the fit; ``"auto"`` = daily when every incident has an
        exact date, else monthly.
    window : int
        Days of history used (default 365).
    max_distance : float
        Triggering range in metres (default 750).
    background_bandwidth : float
        Gaussian smoothing of the background in metres (default 250; 0 = none).
    max_iter : int
        EM iteration cap (default 200).
    tol : float
        Convergence tolerance on relative changes (default 1e-5).
    weights, freq
        As for every model (``freq`` is the forecast bin; the fit uses ``resolution``).
    """

    def __init__(
        self,
        *,
        resolution: str = "auto",
        window: int = 365,
        max_distance: float = 750.0,
        background_bandwidth: float = 250.0,
        max_iter: int = 200,
        tol: float = 1e-5,
        weights: Mapping[str, float] | None = None,
        freq: str = "M",
    ) -> None:
        self.resolution = resolution
        self.window = window
        self.max_distance = max_distance
        self.background_bandwidth = background_bandwidth
        self.max_iter = max_iter
        self.tol = tol
        self.weights = weights
        self.freq = freq

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> ETASForecaster:
        """Estimate ``mu``, ``theta``, ``omega`` and ``sigma`` by EM on the history before ``until``."""
        check_freq(self.freq)
        until = as_time(until)
        ev = training_events(events, until)
        res = self.resolution
        if res == "auto":
            res = "D" if ev.has_exact_times() else "M"
        if res not in _DAYS_PER_BIN:
            raise InputError("etas: resolution must be 'auto', 'D', 'W' or 'M'")
        if units.kind != "grid" or not units.cell_size:
            raise InputError("etas works on grid units")
        lookback = max(2, int(round(float(self.window) / _DAYS_PER_BIN[res])))
        cube = training_cube(ev, units, until, res, self.weights, lookback=lookback)
        C = np.asarray(cube.counts, float)
        a = float(units.cell_size)
        r_cells = max(1, int(round(float(self.max_distance) / a)))
        oc = offset_classes(units, r_cells)
        # One BLAS thread: the EM's matrices are small, and a threaded BLAS (also
        # inside L-BFGS-B) mostly spins, badly so when other processes share the cores.
        with threadpool_limits(1):
            fitted = _em(C, oc, a, units, self)
        self.units_ = units
        self.until_ = until
        self.resolution_ = res
        self.mu_ = fitted["mu"]
        self.theta_ = fitted["theta"]
        self.q_ = fitted["q"]
        self.sigma_ = fitted["sigma"]
        self.n_iter_ = fitted["n_iter"]
        self.converged_ = fitted["converged"]
        self.loglik_ = fitted["loglik"]
        self.kernel_ = fitted["S"]
        self.state_ = fitted["state"]
        self.scale_ = mean_weight(ev, self.weights)
        return self

    @property
    def omega_(self) -> float:
        """Decay rate per bin of the fit resolution, ``-log q``."""
        return float(-np.log(max(self.q_, 1e-12)))

    def _run(self, y0: np.ndarray, steps: int) -> np.ndarray:
        """Mean-field intensities for ``steps`` bins from filter state ``y0``: ``(n, steps)``."""
        S, q, th = self.kernel_, self.q_, self.theta_
        y = y0.copy()
        out = np.empty((len(self.mu_), steps))
        for t in range(steps):
            lam = self.mu_ + th * y
            out[:, t] = lam
            y = q * y + (1.0 - q) * (S @ lam)
        return out

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        """Expected count per unit in ``[start, end)`` (background + near-repeat)."""
        start, end = self._predict_window(start, end)
        res = self.resolution_
        starts, frac = window_periods(start, end, res)
        u0 = bin_coord(self.until_, res)
        idx = np.array([max(int(round(bin_coord(b, res) - u0)), 0) for b in starts])
        steps = int(idx.max()) + 1
        full = self._run(self.state_, steps)
        bg = self._run(np.zeros_like(self.state_), steps)
        mean = full[:, idx] @ frac
        back = bg[:, idx] @ frac
        near = np.maximum(mean - back, 0.0)
        mean = back + near
        days = _DAYS_PER_BIN[res]
        return RiskSurface(
            model=self.name,
            units=self.units_,
            start=start,
            end=end,
            mean=mean,
            band=CountBand(scale=self.scale_),
            components=MappingProxyType({"background": back, "near_repeat": near}),
            params=MappingProxyType(
                {
                    **self.get_params(),
                    "until": str(self.until_),
                    "time_resolution": {"D": "day", "W": "week", "M": "month"}[res],
                    "coarse_time": res == "M",
                    "note": (
                        "month-only data: fitted on monthly bins; near-repeats within a "
                        "month are not identifiable and fall into the background"
                        if res == "M"
                        else "fitted on daily bins"
                    ),
                    "theta": self.theta_,
                    "omega_per_bin": self.omega_,
                    "mean_lag_days": days / max(1.0 - self.q_, 1e-12),
                    "sigma_m": self.sigma_,
                    "n_iter": self.n_iter_,
                    "converged": self.converged_,
                }
            ),
        )


# Below this many bins the lag filters run as one (n, T) x (T, T) product: a
# per-row recursive filter costs ~10x more on short rows (monthly data, T = 12);
# on long rows (daily data, T = 365) the recursion is cheaper than a T x T matrix.
_MATRIX_FILTER_MAX_T = 64


def _lag_filter(
    x: np.ndarray, q: float, *, adjoint: bool = False, lag_weighted: bool = False
) -> np.ndarray:
    """Apply the geometric lag kernel along time (axis 1) of ``x`` (``(n, T)``).

    ``y[t] = sum_{l>=1} h_l x[t - l]`` with ``h_l = (1 - q) q^(l-1)`` (``lag_weighted``:
    ``h_l = (1 - q) l q^(l-1)``, whose total is the mean lag); ``adjoint`` runs it
    backwards in time, ``y[t] = sum_l h_l x[t + l]`` (the transpose of the causal
    convolution).
    """
    T = x.shape[1]
    if T <= _MATRIX_FILTER_MAX_T:
        lag = np.arange(T)[:, None] - np.arange(T)[None, :]
        pos = lag >= 1
        h = np.where(pos, (1.0 - q) * q ** np.where(pos, lag - 1, 0), 0.0)
        if lag_weighted:
            h = h * lag
        return np.ascontiguousarray(x @ (h if adjoint else h.T))
    b = [0.0, 1.0 - q]
    a = [1.0, -2 * q, q * q] if lag_weighted else [1.0, -q]
    if adjoint:
        return np.ascontiguousarray(signal.lfilter(b, a, x[:, ::-1], axis=1)[:, ::-1])
    return np.asarray(signal.lfilter(b, a, x, axis=1))


def _em(
    C: np.ndarray, oc: OffsetClasses, a: float, units: Units, p: ETASForecaster
) -> dict[str, Any]:
    """EM on the binned counts; see the module docstring."""
    n, T = C.shape
    K = len(oc.classes)
    # Neighbours' counts per offset class, stacked (K, n, T). The contractions below
    # use einsum, not BLAS: these are small, and a threaded BLAS spinning on a busy
    # machine made each dot product 100x slower.
    X = np.stack([np.asarray(A @ C, dtype=float) for A in oc.adjacency])
    colmass = np.stack([np.asarray(A.sum(axis=0)).ravel() for A in oc.adjacency])  # (K, n)
    remaining = np.arange(T)[::-1].astype(float)  # bins left after each parent bin
    # Parents' expected offspring inside the window, sum_k s_k sum_n colmass[k, n]
    # sum_t C[n, t] (1 - q^remaining[t]), only needs the (K, T) totals: computed once.
    massC = colmass @ C
    N = float(C.sum())
    if N <= 0:
        raise InputError("etas: no incidents in the fitting window")
    bw = float(p.background_bandwidth)
    if bw > 0:
        G = kernel_matrix(units, 3 * bw, lambda d: np.exp(-0.5 * (d / bw) ** 2))
        G = G.multiply(1.0 / np.asarray(G.sum(axis=0)).ravel()[None, :]).tocsr()
    else:
        G = None
    mu = np.maximum(C.mean(axis=1) * 0.5, 1e-6)
    theta, q, sigma = 0.2, 0.5 if T < 60 else 0.8, a
    ll_old = -np.inf
    converged = False
    it = 0
    for it in range(1, int(p.max_iter) + 1):  # noqa: B007
        s = class_mass(oc.classes, oc.mult, sigma / a)
        Z = np.einsum("k,knt->nt", s, X)
        trig = _lag_filter(Z, q)
        lam = mu[:, None] + theta * trig
        R = np.where(C > 0, C / np.maximum(lam, 1e-300), 0.0)
        B = mu * R.sum(axis=1)
        n_trig = max(N - float(B.sum()), 1e-12)
        # sum(R * h*X) == sum(X * h'*R) with h' the time-reversed filter (the adjoint of a
        # causal convolution): one filtering of R serves all K offset classes.
        Rf = _lag_filter(R, q, adjoint=True)
        W = theta * s * np.einsum("knt,nt->k", X, Rf)
        Rl = _lag_filter(R, q, adjoint=True, lag_weighted=True)
        lag_w = theta * float(np.einsum("nt,nt->", Z, Rl))
        parents = float(s @ (massC @ (1.0 - q**remaining)))
        ll = float((C * np.log(np.maximum(lam, 1e-300))).sum() - mu.sum() * T - theta * parents)
        # M-step (exact ECM): theta profiled out, (q, sigma) maximise the expected
        # complete log-likelihood including the compensator (edge and censoring).
        r_cells = float(np.max(oc.classes))
        Wk = W / np.maximum(W.sum(), 1e-300) * n_trig

        def neg(
            v: np.ndarray, Wk: np.ndarray = Wk, n_trig: float = n_trig, lag_w: float = lag_w
        ) -> tuple[float, np.ndarray]:
            # The objective and its analytic gradient (finite differences were a
            # third of the fit): d/dq and d/dsigma of each term below.
            qq, sg = float(v[0]), float(v[1])
            sk, dsk = class_mass_grad(oc.classes, oc.mult, sg)
            sk = np.maximum(sk, 1e-300)
            qr = qq**remaining
            M1 = massC @ (1.0 - qr)
            par = max(float(sk @ M1), 1e-300)
            c = max(lag_w, n_trig) - n_trig
            f = float(Wk @ np.log(sk)) + n_trig * np.log(1.0 - qq)
            f += c * np.log(qq) - n_trig * np.log(par)
            dpar_q = -float(sk @ (massC @ (remaining * qq ** np.maximum(remaining - 1.0, 0.0))))
            df_q = -n_trig / (1.0 - qq) + c / qq - n_trig * dpar_q / par
            df_s = float(Wk @ (dsk / sk)) - n_trig * float(dsk @ M1) / par
            return -f, -np.array([df_q, df_s])

        opt = optimize.minimize(
            neg,
            x0=np.array([q, sigma / a]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(1e-4, 0.999), (0.05, max(r_cells, 0.1))],
            # Tight: at L-BFGS-B's default tolerances the M-step's own noise in q
            # (~1e-4 a step) exceeds the EM's tolerance, and EM never stops.
            options={"ftol": 1e-13, "gtol": 1e-9},
        )
        q_new, sigma_new = float(opt.x[0]), float(opt.x[1]) * a
        s_new = class_mass(oc.classes, oc.mult, sigma_new / a)
        par_new = float(s_new @ (massC @ (1.0 - q_new**remaining)))
        theta_new = min(n_trig / max(par_new, 1e-12), 0.99)
        bg = B if G is None else np.asarray(G @ B)
        mu_new = np.maximum(bg / T, 1e-9)
        # sigma enters only through the cell masses it gives: once the kernel sits in
        # the parent's own cell (common on monthly data) the likelihood is flat in
        # sigma, which then drifts towards its bound without changing the fit. So
        # convergence is judged on the masses, not on sigma itself.
        change = max(
            abs(theta_new - theta) / max(theta, 1e-6),
            abs(q_new - q) / max(q, 1e-6),
            float(np.abs(s_new - s).max()),
            abs(ll - ll_old) / max(abs(ll), 1.0),
        )
        theta, q, sigma, mu = theta_new, q_new, sigma_new, mu_new
        ll_old = ll
        if change < float(p.tol):
            converged = True
            break
    s = class_mass(oc.classes, oc.mult, sigma / a)
    S = sum(s[k] * oc.adjacency[k] for k in range(K)).tocsr()
    SC = np.asarray(S @ C)
    trig = _lag_filter(SC, q)
    # Filter state for the first bin after the window: y_T = q y_{T-1} + (1-q) (S C)_{T-1}.
    state = q * trig[:, -1] + (1.0 - q) * SC[:, -1]
    return {
        "mu": mu,
        "theta": float(theta),
        "q": float(q),
        "sigma": float(sigma),
        "n_iter": it,
        "converged": converged,
        "loglik": ll_old,
        "S": S,
        "state": state,
    }
