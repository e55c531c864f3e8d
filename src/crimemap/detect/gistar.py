"""Getis-Ord Gi* hotspot statistic with permutation inference and FDR.

Method
------
For unit ``i`` with neighbourhood weights ``w_ij`` that *include the unit
itself* (``w_ii = 1`` for binary contiguity), the Gi* z-score is
(Getis & Ord 1992; Ord & Getis 1995)::

    Gi*_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))

with ``W_i = sum_j w_ij``, ``S1_i = sum_j w_ij^2``, ``xbar`` the mean of all
``n`` values and ``S`` their population standard deviation. A large positive
z means the unit and its neighbours together hold more crime than chance
would put there (a hot spot); a large negative z, less (a cold spot). For
binary weights this is identical to PySAL's ``esda.G_Local(y, w,
transform="B", star=True).Zs``.

Counts of crime are skewed and full of zeros, so the normal approximation is
rough. Inference therefore also uses **conditional permutation** (Anselin
1995): unit ``i``'s own value is held fixed and its neighbours' values are
drawn at random from the other units, ``permutations`` times; the pseudo
p-value is ``(min(#draws >= observed, #draws <= observed) + 1) / (P + 1)``
(one-tailed in the observed direction, as in esda and GeoDa). The two-sided
p-values are corrected for testing every unit with the Benjamini-Hochberg
FDR (:func:`crimemap.detect.fdr.fdr_bh`); by default they come from the
observed lag standardised by its permutation mean and sd (see ``inference``).

The statistic and the random lags are computed with sparse matrix products
(see :mod:`crimemap.detect._perm`), never Python loops over units.

References
----------
Getis, A. & Ord, J. K. (1992). The analysis of spatial association by use of
distance statistics. *Geographical Analysis* 24(3), 189-206.
Ord, J. K. & Getis, A. (1995). Local spatial autocorrelation statistics:
distributional issues and an application. *Geographical Analysis* 27(4).
Anselin, L. (1995). Local indicators of spatial association - LISA.
*Geographical Analysis* 27(2), 93-115.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

from crimemap.detect._perm import conditional_lags, directed_p
from crimemap.detect.fdr import fdr_bh
from crimemap.errors import InputError, InsufficientDataError

__all__ = ["GiStarResult", "gi_star", "gi_star_z"]


@dataclass(frozen=True, eq=False)
class GiStarResult:
    """Gi* for every unit.

    Attributes
    ----------
    z : numpy.ndarray
        Analytical Gi* z-scores.
    p_norm : numpy.ndarray
        Two-sided p-values of ``z`` under the normal approximation.
    p_sim : numpy.ndarray or None
        Folded one-tailed permutation pseudo p-values (None if no permutations).
    z_sim : numpy.ndarray or None
        ``(observed lag - mean of random lags) / their sd``.
    q : numpy.ndarray
        Benjamini-Hochberg adjusted two-sided p-values (see ``inference`` in
        :func:`gi_star`; ``p_norm`` when there are no permutations).
    classes : numpy.ndarray
        ``+1`` hot spot, ``-1`` cold spot, ``0`` not significant (``q <= alpha``).
    alpha : float
        FDR level used for ``classes``.
    permutations : int
        Number of conditional permutations.
    """

    z: np.ndarray
    p_norm: np.ndarray
    p_sim: np.ndarray | None
    z_sim: np.ndarray | None
    q: np.ndarray
    classes: np.ndarray
    alpha: float
    permutations: int

    def __post_init__(self) -> None:
        for a in (self.z, self.p_norm, self.p_sim, self.z_sim, self.q, self.classes):
            if a is not None:
                a.setflags(write=False)

    @property
    def n_hot(self) -> int:
        """Number of significant hot spots."""
        return int((self.classes > 0).sum())

    @property
    def n_cold(self) -> int:
        """Number of significant cold spots."""
        return int((self.classes < 0).sum())


def _check(values: np.ndarray, weights: sp.spmatrix) -> tuple[np.ndarray, sp.csr_matrix]:
    x = np.asarray(values, float).ravel()
    w = sp.csr_matrix(weights, dtype=float)
    if w.shape != (len(x), len(x)):
        raise InputError(f"weights shape {w.shape} does not match {len(x)} values")
    if not np.all(np.isfinite(x)):
        raise InputError("values must be finite")
    if len(x) < 3:
        raise InsufficientDataError("Gi* needs at least 3 units")
    return x, w


def _with_self(w: sp.csr_matrix, self_weight: float) -> sp.csr_matrix:
    off = w - sp.diags(w.diagonal())
    return sp.csr_matrix(off + sp.identity(w.shape[0]) * self_weight)


def gi_star_z(values: np.ndarray, weights: sp.spmatrix, *, self_weight: float = 1.0) -> np.ndarray:
    """Analytical Gi* z-scores (vectorised over columns too).

    Parameters
    ----------
    values : array (n,) or (n, t)
        One value per unit; with 2-D input every column is scored separately.
    weights : sparse (n, n)
        Neighbour weights; the diagonal is replaced by ``self_weight``.
    """
    x = np.asarray(values, float)
    w = _with_self(sp.csr_matrix(weights, dtype=float), self_weight)
    n = w.shape[0]
    two_d = x.ndim == 2
    x2 = x if two_d else x[:, None]
    xbar = x2.mean(axis=0)
    s = np.sqrt(np.maximum((x2 * x2).mean(axis=0) - xbar**2, 0.0))
    wi = np.asarray(w.sum(axis=1)).ravel()
    s1 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    num = w @ x2 - np.outer(wi, xbar)
    den = np.sqrt(np.maximum(n * s1 - wi**2, 0.0) / (n - 1))[:, None] * s[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(den > 0, num / den, 0.0)
    return z if two_d else z[:, 0]


def gi_star(
    values: np.ndarray,
    weights: sp.spmatrix,
    *,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    self_weight: float = 1.0,
    inference: str = "permutation-z",
) -> GiStarResult:
    """Getis-Ord Gi* with conditional-permutation inference and BH-FDR.

    Parameters
    ----------
    values : array (n,)
        Count (or harm) per unit.
    weights : sparse (n, n)
        Neighbour weights (binary contiguity from
        :mod:`crimemap.spatial.weights`); the diagonal is set to
        ``self_weight``.
    permutations : int
        Conditional permutations (0: normal approximation only).
    seed : int
        Seed of the random generator (the only source of randomness).
    alpha : float
        FDR level for ``classes``.
    inference : {"permutation-z", "permutation", "normal"}
        Which two-sided p-values the FDR correction (and so ``classes``)
        uses: ``"permutation-z"`` (default) the normal tail of ``z_sim``, the
        observed lag standardised by the mean and sd of its own conditional
        permutation distribution (esda's ``p_z_sim``); ``"permutation"`` the
        pseudo p-value ``2 p_sim``; ``"normal"`` the analytical z (as ArcGIS
        Hot Spot Analysis). A pseudo p-value cannot go below ``2 / (P + 1)``,
        so with ``m`` units BH flags nothing unless about ``0.04 m`` of them
        (at ``alpha = 0.05``, ``P = 999``) reach that floor; that is why the
        default standardises with the permutation moments instead.

    Raises
    ------
    crimemap.errors.InsufficientDataError
        If there are fewer than 3 units or every value is the same.
    """
    x, w = _check(values, weights)
    if np.ptp(x) == 0:
        raise InsufficientDataError("Gi*: every unit has the same value; nothing to detect")
    if not 0 < alpha < 1:
        raise InputError("alpha must be in (0, 1)")
    if inference not in ("permutation-z", "permutation", "normal"):
        raise InputError("inference must be 'permutation-z', 'permutation' or 'normal'")
    z = gi_star_z(x, w, self_weight=self_weight)
    p_norm = 2 * stats.norm.sf(np.abs(z))
    p_sim = z_sim = None
    p_two = p_norm
    if permutations > 0:
        off = sp.csr_matrix(w - sp.diags(w.diagonal()))
        off.eliminate_zeros()
        obs = off @ x
        summ = conditional_lags(x, off, obs, permutations, np.random.default_rng(seed))
        p_sim = directed_p(summ.n_ge, summ.n_le, permutations)
        with np.errstate(divide="ignore", invalid="ignore"):
            z_sim = np.where(summ.std > 0, (obs - summ.mean) / summ.std, 0.0)
        if inference == "permutation":
            p_two = np.minimum(1.0, 2 * p_sim)
        elif inference == "permutation-z":
            p_two = 2 * stats.norm.sf(np.abs(z_sim))
    q = fdr_bh(p_two)
    classes = np.where(q <= alpha, np.sign(z), 0).astype(np.int8)
    return GiStarResult(
        z=z,
        p_norm=p_norm,
        p_sim=p_sim,
        z_sim=z_sim,
        q=q,
        classes=classes,
        alpha=alpha,
        permutations=int(permutations),
    )
