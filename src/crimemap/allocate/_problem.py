"""Private: the candidate set and the (centre, cell) assignment pairs of a plan.

Both the CP-SAT model (:mod:`._cpsat`) and the greedy (:mod:`._greedy`) work
on one :class:`Problem`, so they search exactly the same set of plans and the
greedy's plan is always a feasible start (hint) for CP-SAT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from crimemap.allocate._grid import CellIndex, adjacency, conflict_pairs, reach

__all__ = ["Problem", "build_problem", "default_radius"]


def default_radius(max_cells: int) -> int:
    """Smallest graph radius whose rook ball (a diamond) holds ``max_cells`` cells."""
    r = 0
    while 2 * r * r + 2 * r + 1 < max_cells:
        r += 1
    return r


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything the solvers need, in flat arrays.

    Attributes
    ----------
    scores : numpy.ndarray
        ``(n_units,)`` non-negative value of covering each unit.
    centres : numpy.ndarray
        ``(m,)`` unit positions allowed as area centres.
    pair_c, pair_i, pair_d : numpy.ndarray
        ``(P,)`` centre index (into ``centres``), unit position and graph
        distance of every allowed assignment "unit i belongs to the area
        centred on c". Sorted by centre then distance, so the pairs of
        centre ``c`` are ``starts[c]:starts[c + 1]`` and the first one is
        the centre itself.
    starts : numpy.ndarray
        ``(m + 1,)`` offsets of each centre's pairs.
    preds : numpy.ndarray
        ``(P, 4)`` indices of the pairs of the same centre one step closer to
        it and adjacent to the unit (``-1`` padding).
    n_areas, max_cells, radius : int
        Plan size, area size limit (cells) and graph radius.
    conflict_a, conflict_b : numpy.ndarray
        Unit pairs closer than the minimum spacing (``a < b``).
    group : numpy.ndarray
        ``(m,)`` fairness group of each centre (``-1``: not capped).
    caps : dict
        Group -> largest number of areas whose centre may lie in it.
    """

    scores: np.ndarray
    centres: np.ndarray
    pair_c: np.ndarray
    pair_i: np.ndarray
    pair_d: np.ndarray
    starts: np.ndarray
    preds: np.ndarray
    n_areas: int
    max_cells: int
    radius: int
    conflict_a: np.ndarray
    conflict_b: np.ndarray
    group: np.ndarray
    caps: dict[int, int]

    @property
    def n_pairs(self) -> int:
        return len(self.pair_i)

    @property
    def candidates(self) -> np.ndarray:
        """Unit positions that some area may cover."""
        return np.unique(self.pair_i)


def _neighbourhood_value(adj: sp.csr_matrix, scores: np.ndarray, radius: int) -> np.ndarray:
    """Sum of the scores within ``radius`` rook steps of every unit."""
    src, cell, _ = reach(adj, np.arange(adj.shape[0]), radius)
    return np.bincount(src, weights=scores[cell], minlength=adj.shape[0])


def _top(values: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best of ``pool`` by ``values`` (ties: lower position first)."""
    if k >= len(pool):
        return pool
    order = np.lexsort((pool, -values[pool]))
    return pool[order[:k]]


def build_problem(
    index: CellIndex,
    scores: np.ndarray,
    *,
    n_areas: int,
    max_cells: int,
    radius: int,
    n_centres: int,
    spacing_m: float,
    groups: np.ndarray | None,
    caps: dict[int, int],
) -> Problem:
    """Choose candidate centres and enumerate the assignment pairs.

    Centres are the ``n_centres`` units with the largest forecast total within
    ``radius`` steps (plus, under a fairness cap, the best few of every capped
    group, so the capped optimum is not lost to the candidate cut). Cells are
    every unit within ``radius`` steps of a centre: the rook ball around a
    centre lies inside the candidate set, so shortest-path distances on the
    candidate graph equal those on the full grid.
    """
    n = len(scores)
    adj = adjacency(index)
    everyone = np.arange(n)
    if n <= n_centres:
        centres = everyone
    else:
        nb = _neighbourhood_value(adj, scores, radius)
        chosen = [_top(nb, everyone, n_centres)]
        if groups is not None:
            per_group = max(2 * n_areas, 10)
            for g in np.unique(groups[groups >= 0]):
                chosen.append(_top(nb, np.flatnonzero(groups == g), per_group))
        centres = np.unique(np.concatenate(chosen))
    src, cell, dist = reach(adj, centres, radius)
    m = len(centres)
    starts = np.searchsorted(src, np.arange(m + 1)).astype(np.int64)

    # Predecessors: neighbours of the unit that belong to the same centre at
    # distance d - 1, looked up through one sorted integer key per pair.
    key = src * n + cell
    order = np.argsort(key)
    skey = key[order]
    nb4 = index.neighbours()[cell]
    preds = np.full((len(cell), 4), -1, np.int64)
    for k in range(4):
        j = nb4[:, k]
        q = src * n + np.where(j >= 0, j, 0)
        pos = np.clip(np.searchsorted(skey, q), 0, len(skey) - 1)
        hit = (j >= 0) & (skey[pos] == q)
        cand = np.where(hit, order[pos], -1)
        ok = cand >= 0
        ok[ok] &= dist[cand[ok]] == dist[ok] - 1
        preds[:, k] = np.where(ok, cand, -1)

    mask = np.zeros(n, bool)
    mask[cell] = True
    ca, cb = conflict_pairs(index, mask, spacing_m)
    group = groups[centres] if groups is not None else np.full(m, -1, np.int64)
    return Problem(
        scores=scores,
        centres=centres,
        pair_c=src,
        pair_i=cell,
        pair_d=dist,
        starts=starts,
        preds=preds,
        n_areas=n_areas,
        max_cells=max_cells,
        radius=radius,
        conflict_a=ca,
        conflict_b=cb,
        group=np.asarray(group, np.int64),
        caps=dict(caps),
    )
