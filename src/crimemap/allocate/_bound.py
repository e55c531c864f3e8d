"""Private: a Lagrangian upper bound on the best plan (for the optimality gap).

Relax "each cell in at most one area" with prices ``pi_i >= 0`` and drop
contiguity. For any plan with disjoint areas ``A_k`` (centre ``c_k``, at most
``K`` cells of the ball of ``c_k``)::

    sum_k sum_{i in A_k} s_i  <=  sum_i pi_i + sum_k UB_{c_k}(pi)
                              <=  sum_i pi_i + (sum of the N largest UB_c(pi))

where ``UB_c(pi)`` is the sum of the ``K`` largest positive ``s_i - pi_i``
in the ball of ``c``. Every ``pi >= 0`` gives a valid bound (spacing and the
fairness cap only remove plans, so it holds for them too); the prices are
improved by projected subgradient descent with Polyak steps towards the best
known plan value (Held, Wolfe & Crowder 1974; Fisher 1981).

References
----------
Held, M., Wolfe, P. & Crowder, H. P. (1974). Validation of subgradient
optimization. *Mathematical Programming* 6, 62-88.
Fisher, M. L. (1981). The Lagrangian relaxation method for solving integer
programming problems. *Management Science* 27(1), 1-18.
"""

from __future__ import annotations

import numpy as np

from crimemap.allocate._problem import Problem

__all__ = ["lagrangian_bound"]


def _evaluate(prob: Problem, pi: np.ndarray, key_order: np.ndarray) -> tuple[float, np.ndarray]:
    """Bound value at ``pi`` and the subgradient ``1 - times each cell is used``."""
    m = len(prob.centres)
    k = prob.max_cells
    v = prob.scores[prob.pair_i] - pi[prob.pair_i]
    order = np.lexsort((-v, prob.pair_c))
    c = prob.pair_c[order]
    rank = np.arange(len(order)) - prob.starts[c]
    vo = v[order]
    sel = (rank < k) & (vo > 0)
    ub = np.bincount(c[sel], weights=vo[sel], minlength=m)
    n = min(prob.n_areas, m)
    best = np.argpartition(-ub, n - 1)[:n] if n < m else np.arange(m)
    value = float(pi.sum() + ub[best].sum())
    chosen = np.zeros(m, bool)
    chosen[best] = True
    used = np.bincount(prob.pair_i[order][sel & chosen[c]], minlength=len(pi))
    grad = np.where(key_order, 1.0 - used, 0.0)
    return value, grad


def lagrangian_bound(prob: Problem, target: float, *, iterations: int = 300) -> float:
    """Best Lagrangian bound found (``inf`` if the problem has no pairs)."""
    if prob.n_pairs == 0:
        return float("inf")
    n = len(prob.scores)
    cand = np.zeros(n, bool)
    cand[prob.pair_i] = True
    pi = np.zeros(n)
    best = float("inf")
    theta = 1.0
    stall = 0
    for _ in range(iterations):
        value, grad = _evaluate(prob, pi, cand)
        if value < best - 1e-9:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2, 0
                if theta < 1e-4:
                    break
        # Decreasing pi where cells are over-used lowers the bound: move
        # against the gradient of the bound, which is ``grad``.
        norm = float(grad @ grad)
        if norm == 0:
            break
        step = theta * max(value - target, 1e-9 * max(abs(value), 1.0)) / norm
        pi = np.maximum(0.0, pi - step * grad)
    return best
