"""Shared machinery of the learned forecasters: training rows, dispersion, explanations."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import optimize, special

from crimemap.errors import InsufficientDataError
from crimemap.forecast._common import training_cube
from crimemap.forecast._features import MIX_CATEGORIES, FeatureBuilder
from crimemap.forecast.memo import freeze, shared
from crimemap.spatial.cube import bin_starts
from crimemap.spatial.grid import cell_index
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = [
    "held_out_by_bin",
    "TrainingSet",
    "training_set",
    "nb_dispersion",
    "family_shapley",
    "bin_month",
]


def bin_month(periods: np.ndarray) -> np.ndarray:
    """Month of year (1-12) of each bin start."""
    m = np.asarray(periods, dtype="datetime64[s]").astype("datetime64[M]").astype(np.int64)
    return (m % 12 + 1).astype(float)


def _category_cube(
    source: IncidentTable, until: np.datetime64, units: Units, periods: np.ndarray, freq: str
) -> np.ndarray:
    """``(n, T, c + 1)`` volume counts of :data:`MIX_CATEGORIES` and of all incidents.

    Over the located incidents of ``source`` that start before ``until``. A row
    mask over cached per-row arrays, not a filtered copy: the context table
    holds every incident of the force, and gathering all its columns around
    a few unlocated rows cost more than the counting.
    """
    n, T = len(units), len(periods)
    c1 = len(MIX_CATEGORIES) + 1
    if len(source) == 0 or T == 0:
        return np.zeros((n, T, c1))
    keep = source.mask(end=until, located=True)
    pos = cell_index(units, source)[keep]
    b = bin_starts(source.starts()[keep], freq)
    # Bins were matched exactly: gaps dropped from ``periods`` must not absorb counts.
    tix = np.searchsorted(periods, b, side="left")
    exact = (tix < T) & (periods[np.minimum(tix, T - 1)] == b)
    cix = source.per_row("mix_category", lambda: _mix_index(source))[keep]
    ok = (pos >= 0) & exact
    # bincount on a flat index: the same sums as np.add.at, several times faster.
    base = (pos[ok] * T + tix[ok]) * c1
    flat = np.bincount(base + len(MIX_CATEGORIES), minlength=n * T * c1)
    cat = cix[ok]
    flat += np.bincount(base[cat >= 0] + cat[cat >= 0], minlength=n * T * c1)
    return flat.reshape(n, T, c1).astype(float)


def _mix_index(ev: IncidentTable) -> np.ndarray:
    """Index of each row's category in :data:`MIX_CATEGORIES` (``-1`` if not in it)."""
    idx = pc.index_in(ev.arrow["category"], value_set=pa.array(MIX_CATEGORIES, pa.string()))
    cix = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=float)
    return np.where(np.isnan(cix), -1, cix).astype(np.int64)


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Rows for the learned models.

    Attributes
    ----------
    builder : FeatureBuilder
        Builds features at any origin of the training cube.
    X, y : numpy.ndarray
        Stacked features and next-bin targets over the training origins.
    origin : numpy.ndarray
        Origin index of each row (to hold out the last origins).
    periods : numpy.ndarray
        Bin starts of the training cube.
    """

    builder: FeatureBuilder
    X: np.ndarray
    y: np.ndarray
    origin: np.ndarray
    periods: np.ndarray

    def __post_init__(self) -> None:
        # Shared between models under a FitMemo: nobody may change them.
        for a in (self.X, self.y, self.origin, self.periods):
            a.setflags(write=False)


def training_set(
    events: IncidentTable,
    units: Units,
    until: np.datetime64,
    *,
    freq: str,
    weights: Mapping[str, float] | None,
    covariates: np.ndarray,
    covariate_names: tuple[str, ...],
    n_origins: int,
    min_history: int,
    context: IncidentTable | None = None,
    context_features: bool = True,
) -> TrainingSet:
    """Features at each of the last ``n_origins`` origins before ``until``, targets next bin.

    ``context`` (incidents of every category) feeds the category mix and the
    ``context`` feature family; without it both come from ``events`` itself.
    Either way only incidents that start before ``until`` are used.
    """
    # The glm and lgbm rows of a back-test (and the ensemble's members) build
    # the same rows from the same data: under a FitMemo they are built once.
    return shared(
        lambda: (
            "training_set",
            events.digest(until),
            None if context is None else context.digest(until),
            id(units),
            str(until),
            freq,
            freeze(weights),
            covariates.shape,
            hashlib.blake2b(np.ascontiguousarray(covariates, float).tobytes()).hexdigest(),
            tuple(covariate_names),
            int(n_origins),
            int(min_history),
            bool(context_features),
        ),
        lambda: _build_training_set(
            events,
            units,
            until,
            freq=freq,
            weights=weights,
            covariates=covariates,
            covariate_names=covariate_names,
            n_origins=n_origins,
            min_history=min_history,
            context=context,
            context_features=context_features,
        ),
        keep=(units,),
    )


def _build_training_set(
    events: IncidentTable,
    units: Units,
    until: np.datetime64,
    *,
    freq: str,
    weights: Mapping[str, float] | None,
    covariates: np.ndarray,
    covariate_names: tuple[str, ...],
    n_origins: int,
    min_history: int,
    context: IncidentTable | None = None,
    context_features: bool = True,
) -> TrainingSet:
    cube = training_cube(events, units, until, freq, weights)
    counts = cube.counts
    T = counts.shape[1]
    first = max(int(min_history), T - int(n_origins), 1)
    if T - first < 2:
        raise InsufficientDataError(
            f"learned model needs at least {min_history + 2} bins of history, got {T}"
        )
    source = context if context is not None else events
    mix = _category_cube(source, until, units, cube.periods, freq)
    builder = FeatureBuilder(
        counts=counts,
        mix=mix,
        context_features=context_features,
        covariates=covariates,
        covariate_names=covariate_names,
        freq=freq,
        units=units,
    )
    months = bin_month(cube.periods)
    Xs, ys, os = [], [], []
    for o in range(first, T):
        Xs.append(builder.matrix(o, 0, int(months[o])))
        ys.append(counts[:, o])
        os.append(np.full(len(units), o))
    return TrainingSet(
        builder=builder,
        X=np.vstack(Xs),
        y=np.concatenate(ys),
        origin=np.concatenate(os),
        periods=np.asarray(cube.periods),
    )


def nb_dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """Maximum-likelihood negative-binomial dispersion ``alpha`` (Var = mu + alpha mu^2).

    Estimated on held-out predictions, so it measures forecast error, not fit.
    """
    y = np.asarray(y, float)
    mu = np.maximum(np.asarray(mu, float), 1e-9)

    def nll(log_a: float) -> float:
        r = np.exp(-log_a)
        ll = (
            special.gammaln(y + r)
            - special.gammaln(r)
            - special.gammaln(y + 1)
            + r * np.log(r / (r + mu))
            + y * np.log(mu / (r + mu))
        )
        return -float(ll.sum())

    res = optimize.minimize_scalar(nll, bounds=(-8.0, 3.0), method="bounded")
    a = float(np.exp(res.x))
    return 0.0 if a < 1e-3 else a


def family_shapley(phi: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Exact Shapley values of ``exp(bias + sum_F phi_F)`` with families as players.

    ``phi`` is ``(n, F)`` log-space contributions per family (tree SHAP summed
    within a family), ``bias`` the ``(n,)`` expected log value. The value of a
    coalition ``S`` is ``exp(bias + sum_{F in S} phi_F) - exp(bias)``; the
    returned ``(n, F)`` count contributions sum to ``exp(bias + sum phi) -
    exp(bias)`` (efficiency), so with ``exp(bias)`` as a baseline component
    they add up exactly to the forecast.
    """
    n, F = phi.shape
    masks = np.arange(1 << F)
    member = ((masks[:, None] >> np.arange(F)[None, :]) & 1).astype(float)  # (2^F, F)
    v = np.exp(bias[:, None] + phi @ member.T)  # (n, 2^F)
    size = member.sum(axis=1).astype(int)
    fact = np.array([float(special.factorial(k)) for k in range(F + 1)])
    out = np.zeros((n, F))
    for f in range(F):
        without = masks[member[:, f] == 0]
        w = fact[size[without]] * fact[F - size[without] - 1] / fact[F]
        out[:, f] = (v[:, without | (1 << f)] - v[:, without]) @ w
    return out


def held_out_by_bin(
    ts: TrainingSet, held: np.ndarray, pred: np.ndarray
) -> Mapping[np.datetime64, np.ndarray]:
    """Out-of-sample predictions of the held-out rows, one array per target bin.

    The rows of origin ``o`` predict bin ``ts.periods[o]`` for every unit (in
    unit order); the model that made them never saw those targets (a plain
    dict: fitted models must pickle). The
    ensemble stacks on these instead of refitting the member at each bin.
    """
    out: dict[np.datetime64, np.ndarray] = {}
    origins = ts.origin[held]
    for o in np.unique(origins):
        out[np.datetime64(ts.periods[o], "s")] = np.asarray(pred[origins == o], float)
    return out
