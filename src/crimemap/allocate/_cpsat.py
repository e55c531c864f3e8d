"""Private: the CP-SAT model of the patrol plan (formulation in :mod:`.plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from crimemap.allocate._problem import Problem

__all__ = ["SolveResult", "solve"]

#: Objective coefficients are integers: scores are scaled so the largest is this.
_SCALE_MAX = 10_000_000


@dataclass(frozen=True)
class SolveResult:
    """What CP-SAT returned.

    Attributes
    ----------
    status : str
        ``OPTIMAL``, ``FEASIBLE``, ``INFEASIBLE``, ``UNKNOWN`` or ``MODEL_INVALID``.
    areas : list of list of int or None
        Pair indices of each area, when a solution was found.
    bound : float
        Proven upper bound on the objective, in score units (``inf`` if none).
    seconds : float
        Wall time of the solve.
    """

    status: str
    areas: list[list[int]] | None
    bound: float
    seconds: float


def solve(
    prob: Problem,
    *,
    time_limit_s: float,
    workers: int,
    seed: int,
    hint: list[list[int]] | None,
) -> SolveResult:
    """Build and solve the model; ``hint`` is a feasible plan to start from."""
    smax = float(prob.scores.max()) if len(prob.scores) else 0.0
    # Divide before multiplying: _SCALE_MAX / smax overflows to inf for a
    # subnormal largest score (found by the property test), and inf * score
    # cast to int64 gave CP-SAT an invalid model.
    if smax > 0:
        w = np.rint(prob.scores[prob.pair_i] / smax * _SCALE_MAX).astype(np.int64)
    else:
        w = np.zeros(len(prob.pair_i), np.int64)

    model = cp_model.CpModel()
    npairs = prob.n_pairs
    x = [model.new_bool_var("") for _ in range(npairs)]
    m = len(prob.centres)
    roots = [x[int(prob.starts[c])] for c in range(m)]
    for c in range(m):
        lo, hi = int(prob.starts[c]), int(prob.starts[c + 1])
        y = roots[c]
        # Size limit; it also forces every pair of an unused centre to 0.
        model.add(sum(x[lo:hi]) <= prob.max_cells * y)
        for p in range(lo + 1, hi):
            model.add_implication(x[p], y)
            # Shortest-path contiguity: a cell joins only with a neighbour one
            # step closer to the centre (Validi, Buchanan & Lykhovyd 2022).
            model.add_bool_or([x[int(q)] for q in prob.preds[p] if q >= 0]).only_enforce_if(x[p])
    # Each cell in at most one area.
    by_unit: dict[int, list[int]] = {}
    for p, i in enumerate(prob.pair_i.tolist()):
        by_unit.setdefault(i, []).append(p)
    for ps in by_unit.values():
        if len(ps) > 1:
            model.add_at_most_one(x[p] for p in ps)
    model.add(sum(roots) == prob.n_areas)
    for g, cap in prob.caps.items():
        members = [roots[c] for c in np.flatnonzero(prob.group == g)]
        if members:
            model.add(sum(members) <= cap)
    cover: dict[int, Any] = {}
    owner: dict[int, Any] = {}
    if len(prob.conflict_a):
        # Cells closer than the spacing may not lie in two different areas:
        # when both are covered, their owners (centre index) must agree.
        involved = np.unique(np.concatenate([prob.conflict_a, prob.conflict_b])).tolist()
        for i in involved:
            ps = by_unit[i]
            cover[i] = model.new_bool_var("")
            model.add(sum(x[p] for p in ps) == cover[i])
            owner[i] = model.new_int_var(0, m - 1, "")
            model.add(sum(int(prob.pair_c[p]) * x[p] for p in ps) == owner[i])
        for a, b in zip(prob.conflict_a.tolist(), prob.conflict_b.tolist(), strict=True):
            model.add(owner[a] == owner[b]).only_enforce_if([cover[a], cover[b]])
    # Valid cut: an area holds at most the max_cells best scores of its ball.
    # It makes the LP bound much tighter than the plain formulation's.
    for c in range(m):
        lo, hi = int(prob.starts[c]), int(prob.starts[c + 1])
        ub = int(np.sort(w[lo:hi])[::-1][: prob.max_cells].sum())
        model.add(sum(int(w[p]) * x[p] for p in range(lo, hi) if w[p] > 0) <= ub * roots[c])
    terms = [(int(w[p]), x[p]) for p in range(npairs) if w[p] > 0]
    if terms:
        model.maximize(sum(k * v for k, v in terms))
    if hint is not None:
        on = {p for area in hint for p in area}
        for p in range(npairs):
            model.add_hint(x[p], p in on)
        for i, v in cover.items():
            own = [int(prob.pair_c[p]) for p in by_unit[i] if p in on]
            model.add_hint(v, bool(own))
            model.add_hint(owner[i], own[0] if own else 0)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    code = solver.solve(model)
    status = solver.status_name(code)
    areas = None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        areas = []
        for c in range(m):
            lo, hi = int(prob.starts[c]), int(prob.starts[c + 1])
            if solver.value(roots[c]):
                areas.append([p for p in range(lo, hi) if solver.value(x[p])])
    bound = float("inf") if terms else 0.0
    # Without a solution (UNKNOWN) CP-SAT's bound is not reliable: keep inf.
    if terms and code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        b = solver.best_objective_bound
        if np.isfinite(b):
            # Rounding each coefficient moves a plan's value by <= 0.5 per cell.
            slack = 0.5 * prob.n_areas * prob.max_cells
            bound = (float(b) + slack) / _SCALE_MAX * (smax if smax > 0 else _SCALE_MAX)
    return SolveResult(status=status, areas=areas, bound=bound, seconds=solver.wall_time)
