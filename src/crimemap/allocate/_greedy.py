"""Private: the greedy planner (reference and fallback for CP-SAT).

Round after round it grows, from every still-usable centre, the best area
best-first (add the highest-scoring cell that keeps the area
shortest-path-contiguous, up to the size limit) and keeps the best one; the
cells of that area and every cell closer than the spacing to it are then
blocked. Only centres whose ball meets a newly blocked cell are re-grown.
It searches the same (centre, cell) pairs as the CP-SAT model, so its plan is
feasible there; it is not optimal (Church & ReVelle 1974 discuss the same
greedy for maximal covering).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from crimemap.allocate._problem import Problem

__all__ = ["greedy"]


def _grow(prob: Problem, c: int, free: np.ndarray) -> tuple[float, list[int]]:
    lo, hi = int(prob.starts[c]), int(prob.starts[c + 1])
    root = lo
    if not free[prob.pair_i[root]]:
        return -1.0, []
    chosen = [root]
    inside = {root}
    total = float(prob.scores[prob.pair_i[root]])
    pairs = range(lo + 1, hi)
    while len(chosen) < prob.max_cells:
        best, best_v = -1, 0.0
        for p in pairs:
            if p in inside or not free[prob.pair_i[p]]:
                continue
            v = float(prob.scores[prob.pair_i[p]])
            if v <= best_v:
                continue
            if any(q in inside for q in prob.preds[p] if q >= 0):
                best, best_v = p, v
        if best < 0:
            break
        chosen.append(best)
        inside.add(best)
        total += best_v
    return total, chosen


def greedy(prob: Problem) -> list[list[int]] | None:
    """Areas as lists of pair indices, or ``None`` if fewer than ``n_areas`` fit."""
    n = len(prob.scores)
    free = np.zeros(n, bool)
    free[prob.pair_i] = True
    # unit -> centres whose ball holds it (to re-grow only what a block touches)
    by_unit: dict[int, list[int]] = {}
    for c, i in zip(prob.pair_c.tolist(), prob.pair_i.tolist(), strict=True):
        by_unit.setdefault(i, []).append(c)
    conflicts: dict[int, list[int]] = {}
    for a, b in zip(prob.conflict_a.tolist(), prob.conflict_b.tolist(), strict=True):
        conflicts.setdefault(a, []).append(b)
        conflicts.setdefault(b, []).append(a)
    m = len(prob.centres)
    cache: dict[int, tuple[float, list[int]]] = {c: _grow(prob, c, free) for c in range(m)}
    used: Counter[int] = Counter()
    areas: list[list[int]] = []
    for _ in range(prob.n_areas):
        best_c, best_v = -1, -1.0
        for c in range(m):
            v, cells = cache[c]
            if not cells:
                continue
            g = int(prob.group[c])
            if g >= 0 and used[g] >= prob.caps.get(g, prob.n_areas):
                continue
            if v > best_v:
                best_c, best_v = c, v
        if best_c < 0:
            return None
        area = cache[best_c][1]
        areas.append(area)
        used[int(prob.group[best_c])] += 1
        blocked = {int(prob.pair_i[p]) for p in area}
        for i in list(blocked):
            blocked.update(conflicts.get(i, ()))
        stale: set[int] = set()
        for i in blocked:
            free[i] = False
            stale.update(by_unit.get(i, ()))
        for c in stale:
            cache[c] = _grow(prob, c, free)
    return areas
