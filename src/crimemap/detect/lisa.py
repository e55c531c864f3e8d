"""Local Moran's I (LISA) with conditional permutation and cluster classes.

Method
------
With ``z_i = (x_i - xbar) / s`` (population sd ``s``) and row-standardised
weights ``w_ij`` (zero diagonal), the local Moran statistic is (Anselin 1995)::

    I_i = (n - 1) z_i sum_j w_ij z_j / sum_k z_k^2

(the scaling used by PySAL ``esda.Moran_Local``). ``I_i > 0`` means unit
``i`` resembles its neighbours; the sign of ``z_i`` and of its spatial lag
give the cluster class: high-high (hot cluster), low-low (cold cluster),
high-low and low-high (spatial outliers). Analytical moments under total
randomisation are those of Sokal, Oden & Thomson (1998, eqs. A3-A4), as in
esda (``EI``, ``VI``). Inference uses conditional permutation (unit ``i``'s
value fixed, neighbours drawn from the rest); the p-values that go into the
Benjamini-Hochberg FDR correction are chosen as for Gi* (``inference``).

When to use: Gi* answers "where is crime concentrated?"; LISA also finds
outliers (a busy cell in a quiet area, a quiet cell in a busy area).

References
----------
Anselin, L. (1995). Local indicators of spatial association - LISA.
*Geographical Analysis* 27(2), 93-115.
Sokal, R. R., Oden, N. L. & Thomson, B. A. (1998). Local spatial
autocorrelation in a biological model. *Geographical Analysis* 30(4), 331-354.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

from crimemap.detect._perm import conditional_lags, directed_p
from crimemap.detect.fdr import fdr_bh
from crimemap.errors import InputError, InsufficientDataError
from crimemap.spatial.weights import row_standardise

__all__ = ["LISA_LABELS", "LisaResult", "local_moran"]

#: class code -> label (0 = not significant)
LISA_LABELS = {0: "not significant", 1: "high-high", 2: "low-high", 3: "low-low", 4: "high-low"}


@dataclass(frozen=True, eq=False)
class LisaResult:
    """Local Moran's I for every unit.

    Attributes
    ----------
    I : numpy.ndarray
        Local Moran statistics.
    EI, VI : numpy.ndarray
        Analytical mean and variance under total randomisation.
    z : numpy.ndarray
        ``(I - EI) / sqrt(VI)``.
    quadrant : numpy.ndarray
        1 high-high, 2 low-high, 3 low-low, 4 high-low (regardless of significance).
    p_sim : numpy.ndarray or None
        Folded one-tailed permutation pseudo p-values.
    q : numpy.ndarray
        BH-adjusted two-sided p-values (see ``inference``; ``z`` if no permutations).
    classes : numpy.ndarray
        ``quadrant`` where ``q <= alpha``, else 0 (see :data:`LISA_LABELS`).
    alpha : float
        FDR level.
    permutations : int
        Number of conditional permutations.
    """

    I: np.ndarray  # noqa: E741 - the statistic's conventional name
    EI: np.ndarray
    VI: np.ndarray
    z: np.ndarray
    quadrant: np.ndarray
    p_sim: np.ndarray | None
    q: np.ndarray
    classes: np.ndarray
    alpha: float
    permutations: int

    def __post_init__(self) -> None:
        for a in (
            self.I,
            self.EI,
            self.VI,
            self.z,
            self.quadrant,
            self.p_sim,
            self.q,
            self.classes,
        ):
            if a is not None:
                a.setflags(write=False)

    def counts(self) -> dict[str, int]:
        """Number of units in each significant class."""
        return {LISA_LABELS[k]: int((self.classes == k).sum()) for k in (1, 2, 3, 4)}


def local_moran(
    values: np.ndarray,
    weights: sp.spmatrix,
    *,
    permutations: int = 999,
    seed: int = 0,
    alpha: float = 0.05,
    inference: str = "permutation-z",
) -> LisaResult:
    """Local Moran's I with conditional permutation and BH-FDR classes.

    Parameters
    ----------
    values : array (n,)
        Count (or harm) per unit.
    weights : sparse (n, n)
        Binary neighbour weights; the diagonal is dropped and rows are
        standardised here.
    permutations, seed, alpha, inference
        As in :func:`crimemap.detect.gistar.gi_star`.
    """
    if inference not in ("permutation-z", "permutation", "normal"):
        raise InputError("inference must be 'permutation-z', 'permutation' or 'normal'")
    x = np.asarray(values, float).ravel()
    w0 = sp.csr_matrix(weights, dtype=float)
    n = len(x)
    if w0.shape != (n, n):
        raise InputError(f"weights shape {w0.shape} does not match {n} values")
    if n < 3:
        raise InsufficientDataError("local Moran's I needs at least 3 units")
    if np.ptp(x) == 0:
        raise InsufficientDataError("local Moran's I: every unit has the same value")
    off = sp.csr_matrix(w0 - sp.diags(w0.diagonal()))
    off.eliminate_zeros()
    w = row_standardise(off)
    z = (x - x.mean()) / x.std()
    den = float((z * z).sum())
    lag = w @ z
    scale = (n - 1) * z / den
    big_i = scale * lag
    # Moments under total randomisation (Sokal et al. 1998, A3-A4), as esda.
    m2 = den / n
    m4 = float((z**4).sum()) / n
    b2 = m4 / m2**2
    wi = np.asarray(w.sum(axis=1)).ravel()
    wi2 = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    ei = -wi / (n - 1)
    vi = wi2 * (n - b2) / (n - 1) + (wi**2 - wi2) * (2 * b2 - n) / ((n - 1) * (n - 2)) - ei**2
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = np.where(vi > 0, (big_i - ei) / np.sqrt(vi), 0.0)
    # Snap round-off to zero so a tie with the mean is "low" whatever the
    # summation order (integer counts tie with the mean exactly quite often).
    zq = np.where(np.abs(z) < 1e-10, 0.0, z)
    lq = np.where(np.abs(lag) < 1e-10, 0.0, lag)
    quadrant = np.select(
        [(zq > 0) & (lq > 0), (zq <= 0) & (lq > 0), (zq <= 0) & (lq <= 0)], [1, 2, 3], 4
    ).astype(np.int8)
    p_sim = None
    p_two = 2 * stats.norm.sf(np.abs(zz))
    if permutations > 0:
        summ = conditional_lags(z, w, lag, permutations, np.random.default_rng(seed))
        # I is (n-1) z_i / den times the lag: flip the tails where z_i < 0.
        ge = np.where(scale >= 0, summ.n_ge, summ.n_le)
        le = np.where(scale >= 0, summ.n_le, summ.n_ge)
        ge = np.where(scale == 0, permutations, ge)
        le = np.where(scale == 0, permutations, le)
        p_sim = directed_p(ge, le, permutations)
        with np.errstate(divide="ignore", invalid="ignore"):
            z_sim = np.where(summ.std > 0, (lag - summ.mean) / summ.std, 0.0)
        if inference == "permutation":
            p_two = np.minimum(1.0, 2 * p_sim)
        elif inference == "permutation-z":
            p_two = 2 * stats.norm.sf(np.abs(z_sim))
    q = fdr_bh(p_two)
    classes = np.where(q <= alpha, quadrant, 0).astype(np.int8)
    return LisaResult(
        I=big_i,
        EI=ei,
        VI=vi,
        z=zz,
        quadrant=quadrant,
        p_sim=p_sim,
        q=q,
        classes=classes,
        alpha=alpha,
        permutations=int(permutations),
    )
