"""Crime concentration: Lorenz curve, Gini, top-share, and sparse-data corrections.

Method
------
*Lorenz (concentration) curve.* Rank places by count, highest first; the
curve joins ``(share of places, share of crime)`` after each place. The
**Gini** coefficient is ``2 A - 1`` where ``A`` is the area under that curve
(trapezoid rule), i.e. 0 when every place has the same count and ``1 - 1/n``
when one place has everything. ``top_share(p)`` reads the curve at ``p``
(linear between places, so ties at the cut do not matter).

*Generalised Gini* (Bernasco & Steenbeek 2017). With fewer crimes ``N`` than
places ``n``, even the most even spread leaves ``n - N`` places empty and the
Gini cannot go below ``1 - N/n``. The generalised Gini measures against that
line of maximal possible equality: ``G' = 1 - (1 - G) n / N`` when ``N < n``
and ``G' = G`` otherwise.

*Poisson baseline and modified Gini* (Mohler, Brantingham, Carter & Short
2019). Even if every place had the same risk, chance alone concentrates
sparse counts: with Poisson(``lambda = N/n``) counts the expected Lorenz curve
passes through ``(P(X >= k), P(X >= k - 1))`` for ``k = 1, 2, ...`` (the
identity ``E[X; X >= k] = lambda P(X >= k - 1)``), and its Gini ``G_pois``
is large when ``lambda`` is small. The naive Gini therefore overstates
concentration for sparse counts; the **modified Gini** reported here is the
excess over the baseline, ``G - G_pois``. A chi-square index-of-dispersion
test (``X^2 = sum (x_i - lambda)^2 / lambda`` on ``n - 1`` degrees of
freedom) asks whether the counts differ from the equal-risk Poisson
baseline at all. The chi-square approximation needs expected counts of about
5 or more; below that (``lambda < 5``, the usual case for crime per small
place) the p-value is Monte Carlo: the same statistic on ``simulations``
multinomial draws of the ``N`` crimes over the ``n`` places at equal risk
(``seed``). When the test does not reject at ``alpha`` the result is flagged
``sufficient = False`` and no concentration should be reported
(:func:`concentration` with ``strict=True`` raises
:class:`~crimemap.errors.InsufficientDataError`).

References
----------
Weisburd, D. (2015). The law of crime concentration and the criminology of
place. *Criminology* 53(2), 133-157.
Bernasco, W. & Steenbeek, W. (2017). More places than crimes: implications
for evaluating the law of crime concentration at place. *Journal of
Quantitative Criminology* 33(3), 451-467.
Mohler, G., Brantingham, P. J., Carter, J. & Short, M. B. (2019). Reducing
bias in estimates for the law of crime concentration. *Journal of
Quantitative Criminology* 35(4), 747-765.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from crimemap.errors import InputError, InsufficientDataError

__all__ = [
    "Concentration",
    "LorenzCurve",
    "concentration",
    "generalised_gini",
    "gini",
    "lorenz",
    "poisson_lorenz",
    "top_share",
]


@dataclass(frozen=True, eq=False)
class LorenzCurve:
    """A concentration curve, places ranked from most to least crime.

    Attributes
    ----------
    places : numpy.ndarray
        Cumulative share of places, from 0 to 1.
    crime : numpy.ndarray
        Cumulative share of crime at each point, from 0 to 1.
    """

    places: np.ndarray
    crime: np.ndarray

    def __post_init__(self) -> None:
        self.places.setflags(write=False)
        self.crime.setflags(write=False)

    def gini(self) -> float:
        """``2 * area under the curve - 1``."""
        return float(2 * np.trapezoid(self.crime, self.places) - 1)

    def at(self, share: float) -> float:
        """Share of crime in the top ``share`` of places (interpolated)."""
        return float(np.interp(share, self.places, self.crime))


def _counts(counts: np.ndarray) -> np.ndarray:
    x = np.asarray(counts, float).ravel()
    if len(x) == 0:
        raise InputError("concentration needs at least one place")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InputError("counts must be finite and non-negative")
    return x


def lorenz(counts: np.ndarray) -> LorenzCurve:
    """Concentration curve of per-place counts (or harm)."""
    x = np.sort(_counts(counts))[::-1]
    tot = x.sum()
    if tot <= 0:
        raise InsufficientDataError("no crime to measure concentration of")
    n = len(x)
    places = np.arange(n + 1) / n
    crime = np.concatenate([[0.0], np.cumsum(x) / tot])
    return LorenzCurve(places=places, crime=crime)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of per-place counts (0 = even, -> 1 = all in one place)."""
    return lorenz(counts).gini()


def top_share(counts: np.ndarray, share: float) -> float:
    """Share of crime in the top ``share`` (0-1) of places."""
    if not 0 <= share <= 1:
        raise InputError("share must be in [0, 1]")
    return lorenz(counts).at(share)


def generalised_gini(counts: np.ndarray) -> float:
    """Bernasco & Steenbeek's generalised Gini (for fewer crimes than places)."""
    x = _counts(counts)
    g = gini(x)
    n, big_n = len(x), float(x.sum())
    if big_n < n:
        return float(1 - (1 - g) * n / big_n)
    return g


def poisson_lorenz(total: float, n_places: int) -> LorenzCurve:
    """Expected concentration curve if every place had the same Poisson rate."""
    if n_places < 1 or total <= 0:
        raise InsufficientDataError("Poisson baseline needs crimes and places")
    lam = total / n_places
    kmax = int(stats.poisson.isf(1e-12, lam)) + 2
    k = np.arange(kmax, 0, -1)
    places = stats.poisson.sf(k - 1, lam)  # P(X >= k)
    crime = stats.poisson.sf(k - 2, lam)  # P(X >= k - 1)
    places = np.concatenate([[0.0], places, [1.0]])
    crime = np.concatenate([[0.0], crime, [1.0]])
    return LorenzCurve(places=places, crime=crime)


def _mc_dispersion_p(chi2: float, total: int, n: int, simulations: int, seed: int) -> float:
    """Monte-Carlo p-value of the dispersion statistic under equal-risk multinomial counts."""
    rng = np.random.default_rng(seed)
    lam = total / n
    ge = 0
    chunk = max(1, 4_000_000 // n)  # bound memory to ~32 MB per block
    done = 0
    while done < simulations:
        c = min(chunk, simulations - done)
        sims = rng.multinomial(total, np.full(n, 1.0 / n), size=c)
        x2 = ((sims - lam) ** 2).sum(axis=1) / lam
        ge += int((x2 >= chi2 * (1 - 1e-12)).sum())
        done += c
    return (ge + 1) / (simulations + 1)


@dataclass(frozen=True, eq=False)
class Concentration:
    """Concentration of crime across places.

    Attributes
    ----------
    n_places : int
        Number of places (units in the study area, including empty ones).
    n_crimes : float
        Total count (or harm).
    gini : float
        Naive Gini of the counts.
    generalised_gini : float
        Bernasco & Steenbeek's Gini against the line of maximal possible equality.
    top_shares : dict
        ``{0.01: s, 0.05: s, 0.10: s}``: share of crime in the top 1/5/10 % of places.
    poisson_gini : float
        Gini of the equal-risk Poisson baseline (NaN for non-integer harm values).
    modified_gini : float
        ``gini - poisson_gini`` (NaN when the baseline is undefined).
    chi2, dof, p_value : float
        Index-of-dispersion test against the equal-risk baseline (chi-square
        p-value when ``lambda >= 5``, else Monte Carlo).
    sufficient : bool
        False when the test does not reject equal risk at ``alpha``: the
        counts cannot be told apart from chance and no concentration should
        be reported.
    reason : str
        Why ``sufficient`` is False (empty otherwise).
    lorenz : LorenzCurve
        The observed curve.
    """

    n_places: int
    n_crimes: float
    gini: float
    generalised_gini: float
    top_shares: dict[float, float] = field(default_factory=dict)
    poisson_gini: float = float("nan")
    modified_gini: float = float("nan")
    chi2: float = float("nan")
    dof: int = 0
    p_value: float = float("nan")
    sufficient: bool = False
    reason: str = ""
    lorenz: LorenzCurve | None = None


def concentration(
    counts: np.ndarray,
    *,
    shares: Sequence[float] = (0.01, 0.05, 0.10),
    alpha: float = 0.05,
    strict: bool = False,
    simulations: int = 999,
    seed: int = 0,
) -> Concentration:
    """All concentration measures for per-place counts, with a sparsity check.

    Parameters
    ----------
    counts : array (n,)
        Count per place over the whole study area (zeros included: a place
        with no crime is still a place).
    shares : sequence of float
        Top shares of places to report.
    alpha : float
        Level of the dispersion test.
    strict : bool
        Raise instead of flagging when the counts are too sparse.
    simulations, seed : int
        Monte-Carlo draws for the dispersion test when ``lambda < 5``.

    Raises
    ------
    crimemap.errors.InsufficientDataError
        If there is no crime, or (``strict``) the counts are indistinguishable
        from the equal-risk Poisson baseline.
    """
    x = _counts(counts)
    curve = lorenz(x)
    n, tot = len(x), float(x.sum())
    g = curve.gini()
    out: dict[str, object] = {
        "n_places": n,
        "n_crimes": tot,
        "gini": g,
        "generalised_gini": generalised_gini(x),
        "top_shares": {float(s): curve.at(float(s)) for s in shares},
        "lorenz": curve,
    }
    if not np.allclose(x, np.round(x)):
        out["reason"] = "values are not counts (harm-weighted?): Poisson baseline undefined"
        res = Concentration(**out)  # type: ignore[arg-type]
    elif n < 2:
        out["reason"] = "one place: concentration is undefined"
        res = Concentration(**out)  # type: ignore[arg-type]
    else:
        lam = tot / n
        chi2 = float(((x - lam) ** 2).sum() / lam)
        if lam >= 5 or simulations < 1:
            p = float(stats.chi2.sf(chi2, n - 1))
        else:
            p = _mc_dispersion_p(chi2, int(round(tot)), n, simulations, seed)
        pg = poisson_lorenz(tot, n).gini()
        ok = p <= alpha
        reason = (
            ""
            if ok
            else (
                f"counts are indistinguishable from equal risk (dispersion test p = {p:.3g} "
                f"> {alpha}; {tot:g} crimes over {n} places)"
            )
        )
        res = Concentration(
            **out,  # type: ignore[arg-type]
            poisson_gini=pg,
            modified_gini=g - pg,
            chi2=chi2,
            dof=n - 1,
            p_value=p,
            sufficient=ok,
            reason=reason,
        )
    if strict and not res.sufficient:
        raise InsufficientDataError(f"no concentration reported: {res.reason}")
    return res
