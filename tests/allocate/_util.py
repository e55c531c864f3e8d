"""Shared helpers of the allocate tests: tiny surfaces and a brute-force planner."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np

from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.grid import Grid
from crimemap.spatial.units import Units

ROOK = ((1, 0), (-1, 0), (0, 1), (0, -1))


def surface(ij: np.ndarray, mean: np.ndarray, *, size: float = 250.0, **kw) -> RiskSurface:
    """A risk surface over the given cells (kept in the given order)."""
    g = Grid(size)
    ij = np.asarray(ij, np.int64)
    units = Units(
        kind="grid",
        ids=g.ids(ij),
        centroids=(ij + 0.5) * size,
        crs=27700,
        cell_size=size,
        ij=ij,
    )
    return RiskSurface(
        model="test",
        units=units,
        start=np.datetime64("2024-01-01"),
        end=np.datetime64("2024-02-01"),
        mean=np.asarray(mean, float),
        **kw,
    )


def rect(w: int, h: int, i0: int = 2000, j0: int = 2000) -> np.ndarray:
    ii, jj = np.meshgrid(np.arange(i0, i0 + w), np.arange(j0, j0 + h), indexing="ij")
    return np.column_stack([ii.ravel(), jj.ravel()])


def neighbours(ij: np.ndarray) -> list[list[int]]:
    pos = {tuple(v): k for k, v in enumerate(ij.tolist())}
    return [[pos[(i + a, j + b)] for a, b in ROOK if (i + a, j + b) in pos] for i, j in ij.tolist()]


def bfs(nb: list[list[int]], start: int, limit: int | None = None) -> dict[int, int]:
    dist = {start: 0}
    q = deque([start])
    while q:
        u = q.popleft()
        if limit is not None and dist[u] >= limit:
            continue
        for v in nb[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    return dist


def sp_contiguous(nb: list[list[int]], cells: list[int], centre: int, radius: int) -> bool:
    """The area's definition: every cell within ``radius`` of the centre and with a
    member neighbour one step closer to it (distances on the whole grid)."""
    dist = bfs(nb, centre, radius)
    s = set(cells)
    if centre not in s:
        return False
    for i in cells:
        if i not in dist:
            return False
        if i != centre and not any(j in s and dist.get(j) == dist[i] - 1 for j in nb[i]):
            return False
    return True


def connected(nb: list[list[int]], cells: list[int]) -> bool:
    s = set(cells)
    seen = {cells[0]}
    q = deque([cells[0]])
    while q:
        u = q.popleft()
        for v in nb[u]:
            if v in s and v not in seen:
                seen.add(v)
                q.append(v)
    return seen == s


def gap_m(a: np.ndarray, b: np.ndarray, size: float) -> float:
    d = np.maximum(np.abs(a - b) - 1, 0) * size
    return float(np.hypot(*d))


def brute_force(
    ij: np.ndarray,
    scores: np.ndarray,
    n_areas: int,
    max_cells: int,
    radius: int,
    *,
    spacing: float = 0.0,
    deciles: np.ndarray | None = None,
    caps: dict[int, int] | None = None,
    size: float = 250.0,
) -> float:
    """Best total of ``n_areas`` areas by exhaustive enumeration (-inf if none)."""
    n = len(ij)
    nb = neighbours(ij)
    areas: dict[int, set[int]] = {}  # bitmask -> possible centres
    for c in range(n):
        ball = [i for i in bfs(nb, c, radius) if i != c]
        for k in range(max_cells):
            for combo in itertools.combinations(ball, k):
                cells = [c, *combo]
                if sp_contiguous(nb, cells, c, radius):
                    mask = sum(1 << i for i in cells)
                    areas.setdefault(mask, set()).add(c)
    near = [
        sum(1 << j for j in range(n) if j != i and gap_m(ij[i], ij[j], size) < spacing)
        for i in range(n)
    ]
    items = []
    for mask, centres in areas.items():
        cells = [i for i in range(n) if mask >> i & 1]
        halo = 0
        for i in cells:
            halo |= near[i]
        items.append((float(scores[cells].sum()), mask, halo & ~mask, centres))
    best = -np.inf

    def ok_caps(chosen) -> bool:
        if caps is None or deciles is None:
            return True
        for combo in itertools.product(*[sorted(c[3]) for c in chosen]):
            used: dict[int, int] = {}
            good = True
            for c in combo:
                d = deciles[c]
                if np.isfinite(d):
                    used[int(d)] = used.get(int(d), 0) + 1
                    if used[int(d)] > caps.get(int(d), n_areas):
                        good = False
                        break
            if good:
                return True
        return False

    def rec(start: int, chosen: list, taken: int, halo: int, value: float) -> None:
        nonlocal best
        if len(chosen) == n_areas:
            if value > best and ok_caps(chosen):
                best = value
            return
        for k in range(start, len(items)):
            v, mask, h, _ = items[k]
            if mask & taken or mask & halo or h & taken:
                continue
            chosen.append(items[k])
            rec(k + 1, chosen, taken | mask, halo | h, value + v)
            chosen.pop()

    rec(0, [], 0, 0, 0.0)
    return best
