"""Runaway feedback loops in predictive policing: a seeded simulation.

Method
------
Ensign, Friedler, Neville, Scheidegger & Venkatasubramanian (2018) show that
when patrols go where the model predicts crime, and crime is *recorded*
mostly where patrols are, the model learns from data it caused: it keeps
flagging the same places whatever their true rate ("runaway feedback").

The simulation here follows their urn argument on many cells. Each cell ``i``
has a true monthly crime rate ``lambda_i`` (in the audit: the observed mean
monthly count of the force's data, taken as ground truth for the sake of the
experiment). Each month:

* crimes reported by victims are recorded wherever they happen:
  ``Poisson(r * lambda_i)``;
* crimes that are only *discovered* by police (drugs, weapons, ...) are
  recorded with probability ``q_i``: ``Poisson((1 - r) * lambda_i * q_i)``,
  where ``q_i = q_patrol`` in the cells patrolled this month (the model's top
  ``k`` cells) and ``q_base`` elsewhere;
* the model (an exponentially weighted mean of recorded counts, the ``ewm``
  baseline) is updated and the next month's top ``k`` cells are patrolled.

Three update rules are compared, from the same random numbers:

``naive``
    learn from every recorded crime (what an unguarded system does);
``reweighted``
    weight each discovered crime by ``q_patrol / q_i`` (inverse patrol
    intensity: the fix Ensign et al. propose, in its importance-weighting
    form), so a cell's expected recorded count no longer depends on whether
    it was patrolled;
``victim-only``
    learn only from victim-reported crime (``crime set all-crime-victim``).

Drift is measured each month as the total variation distance between the
model's normalised rates and the true normalised rates, and as the recall
of the true top ``k`` cells among the flagged cells.

The split ``r`` and detection probabilities are *assumptions of the
experiment* (documented in the report), not measurements.

References
----------
Ensign, D., Friedler, S. A., Neville, S., Scheidegger, C. &
Venkatasubramanian, S. (2018). Runaway feedback loops in predictive
policing. *Proceedings of Machine Learning Research* 81 (FAT* 2018), 160-171.
Lum, K. & Isaac, W. (2016). To predict and serve? *Significance* 13(5), 14-19.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from crimemap.errors import InputError

__all__ = ["STRATEGIES", "FeedbackConfig", "FeedbackRun", "simulate_feedback", "top_k"]

#: Update rules compared by the simulation.
STRATEGIES = ("naive", "reweighted", "victim-only")


@dataclass(frozen=True)
class FeedbackConfig:
    """Parameters of :func:`simulate_feedback` (assumptions, documented in the report).

    Attributes
    ----------
    months : int
        Simulated months after the warm-up (default 24).
    warmup : int
        Months recorded under uniform patrols before the first forecast.
    top_share : float
        Share of cells patrolled each month (the model's top cells).
    victim_share : float
        ``r``: share of crime reported by victims (recorded everywhere).
    q_patrol, q_base : float
        Probability that a discoverable crime is recorded in a patrolled /
        unpatrolled cell.
    half_life : float
        Half-life (months) of the exponentially weighted mean.
    seed : int
    """

    months: int = 24
    warmup: int = 3
    top_share: float = 0.05
    victim_share: float = 0.5
    q_patrol: float = 0.9
    q_base: float = 0.1
    half_life: float = 3.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.top_share < 1 and 0 <= self.victim_share <= 1):
            raise InputError("feedback: top_share in (0, 1) and victim_share in [0, 1]")
        if not (0 < self.q_base <= self.q_patrol <= 1):
            raise InputError("feedback: need 0 < q_base <= q_patrol <= 1")
        if self.months < 1 or self.warmup < 1 or self.half_life <= 0:
            raise InputError("feedback: months, warmup >= 1 and half_life > 0")


@dataclass(frozen=True, eq=False)
class FeedbackRun:
    """Result of one simulation.

    Attributes
    ----------
    config : FeedbackConfig
    true_top : numpy.ndarray
        ``(months, n)`` bool, the true top ``k`` cells of each simulated month.
    tv : mapping of str -> numpy.ndarray
        Per strategy, ``(months,)`` total variation distance between the
        model's normalised rates and the truth (0 = same shape, 1 = disjoint).
    recall : mapping of str -> numpy.ndarray
        Per strategy, ``(months,)`` share of the true top ``k`` cells flagged.
    flagged : mapping of str -> numpy.ndarray
        Per strategy, ``(months, n)`` bool, the cells flagged (patrolled) each month.
    """

    config: FeedbackConfig
    true_top: np.ndarray
    tv: MappingProxyType[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    recall: MappingProxyType[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    flagged: MappingProxyType[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))


def top_k(score: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the ``k`` highest scores, ties broken at random."""
    order = np.lexsort((rng.random(len(score)), -np.asarray(score, float)))
    out = np.zeros(len(score), bool)
    out[order[:k]] = True
    return out


def _tv(est: np.ndarray, true_p: np.ndarray) -> float:
    s = est.sum()
    p = est / s if s > 0 else np.full(len(est), 1.0 / len(est))
    return 0.5 * float(np.abs(p - true_p).sum())


def simulate_feedback(true_rate: np.ndarray, config: FeedbackConfig | None = None) -> FeedbackRun:
    """Simulate patrol-driven recording for every strategy (see the module docstring).

    Parameters
    ----------
    true_rate : numpy.ndarray
        ``(n,)`` true expected crimes per cell per month, or
        ``(warmup + months, n)`` when the truth changes over time (e.g. crime
        moving to other places, to see whether the model follows).
    config : FeedbackConfig, optional

    Returns
    -------
    FeedbackRun
    """
    c = config or FeedbackConfig()
    total = c.warmup + c.months
    lam = np.asarray(true_rate, float)
    if lam.ndim == 1:
        lam = np.broadcast_to(lam, (total, len(lam)))
    if lam.shape[0] != total or lam.shape[1] < 2:
        raise InputError("feedback: true_rate must be (n,) or (warmup + months, n) with n >= 2")
    if np.any(~np.isfinite(lam)) or np.any(lam < 0) or np.any(lam.sum(axis=1) <= 0):
        raise InputError("feedback: true rates must be finite, non-negative and not all zero")
    n = lam.shape[1]
    k = max(1, int(np.floor(c.top_share * n)))
    true_p = lam / lam.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(c.seed)
    true_top = np.array([top_k(row, k, np.random.default_rng(c.seed + 1)) for row in lam])
    # Common random numbers: every strategy sees the same underlying crimes;
    # discovery is drawn as a uniform per crime so patrol changes only thin it.
    reported = rng.poisson(c.victim_share * lam).astype(float)
    discoverable = rng.poisson((1 - c.victim_share) * lam)
    u_seed = int(rng.integers(2**31))
    decay = 0.5 ** (1.0 / c.half_life)
    tv: dict[str, np.ndarray] = {}
    recall: dict[str, np.ndarray] = {}
    flagged: dict[str, np.ndarray] = {}
    uniform_q = c.top_share * c.q_patrol + (1 - c.top_share) * c.q_base
    for strat in STRATEGIES:
        u_rng = np.random.default_rng(u_seed)
        tie_rng = np.random.default_rng(c.seed + 2)
        num = np.zeros(n)
        den = 0.0
        patrol = np.zeros(n, bool)
        tvs, recs, flags = [], [], []
        for m in range(total):
            used = patrol
            # Warm-up: patrols spread evenly (the same detection everywhere).
            q = np.full(n, uniform_q) if m < c.warmup else np.where(used, c.q_patrol, c.q_base)
            found = u_rng.binomial(discoverable[m], q).astype(float)
            if strat == "naive":
                rec = reported[m] + found
            elif strat == "reweighted":
                rec = reported[m] + found * (c.q_patrol / q)
            else:
                rec = reported[m]
            num = decay * num + rec
            den = decay * den + 1.0
            est = num / den
            if m >= c.warmup:
                tvs.append(_tv(est, true_p[m]))
                recs.append(float((used & true_top[m]).sum() / k))
                flags.append(used)
            if m >= c.warmup - 1:
                # Next month's patrols: the model's current top k cells.
                patrol = top_k(est, k, tie_rng)
        tv[strat] = np.asarray(tvs)
        recall[strat] = np.asarray(recs)
        flagged[strat] = np.asarray(flags)
    for d in (tv, recall, flagged):
        for v in d.values():
            v.setflags(write=False)
    true_top = true_top[c.warmup :]
    true_top.setflags(write=False)
    return FeedbackRun(
        c, true_top, MappingProxyType(tv), MappingProxyType(recall), MappingProxyType(flagged)
    )
