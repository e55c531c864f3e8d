"""Private grid-graph helpers of the patrol planner (sparse, no loops over cells)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from crimemap.errors import InputError
from crimemap.spatial.units import Units

__all__ = ["CellIndex", "grid_of", "adjacency", "reach", "gap_offsets", "conflict_pairs"]

_NEIGHBOURS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.int64)


def _key(ij: np.ndarray) -> np.ndarray:
    ij = np.asarray(ij, dtype=np.int64).reshape(-1, 2)
    return (ij[:, 0] + (1 << 31)) * (1 << 32) + (ij[:, 1] + (1 << 31))


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Vectorised lookup of grid cell positions by ``(i, j)``."""

    ij: np.ndarray
    size: float
    _order: np.ndarray
    _sorted: np.ndarray

    @classmethod
    def build(cls, units: Units) -> CellIndex:
        if units.kind != "grid" or units.ij is None or units.cell_size is None:
            raise InputError("patrol planning needs square grid units (kind 'grid')")
        keys = _key(units.ij)
        order = np.argsort(keys, kind="stable")
        return cls(np.asarray(units.ij, np.int64), float(units.cell_size), order, keys[order])

    def find(self, ij: np.ndarray) -> np.ndarray:
        """Position of each ``(i, j)`` row, ``-1`` where the cell is not a unit."""
        k = _key(ij)
        if len(self._sorted) == 0:
            return np.full(len(k), -1, np.int64)
        pos = np.clip(np.searchsorted(self._sorted, k), 0, len(self._sorted) - 1)
        hit = self._sorted[pos] == k
        return np.where(hit, self._order[pos], -1).astype(np.int64)

    def neighbours(self) -> np.ndarray:
        """``(n, 4)`` positions of the rook neighbours (E, W, N, S), ``-1`` if absent."""
        n = len(self.ij)
        out = np.empty((n, 4), np.int64)
        for k, d in enumerate(_NEIGHBOURS):
            out[:, k] = self.find(self.ij + d)
        return out


def grid_of(units: Units) -> CellIndex:
    """The lookup index of grid units (raises for other unit kinds)."""
    return CellIndex.build(units)


def adjacency(index: CellIndex, mask: np.ndarray | None = None) -> sp.csr_matrix:
    """Rook adjacency (shared edge) between units, optionally among ``mask`` only."""
    n = len(index.ij)
    nb = index.neighbours()
    rows = np.repeat(np.arange(n), 4)
    cols = nb.ravel()
    ok = cols >= 0
    if mask is not None:
        ok &= mask[rows] & mask[np.where(cols >= 0, cols, 0)]
    a = sp.csr_matrix((np.ones(int(ok.sum()), bool), (rows[ok], cols[ok])), shape=(n, n))
    return a


def reach(
    adj: sp.csr_matrix, sources: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graph (BFS) distance from each source to every unit within ``radius`` steps.

    Returns
    -------
    src, cell, dist : numpy.ndarray
        One row per (source index into ``sources``, unit position) pair with
        its shortest-path distance, sorted by source then distance.
    """
    n = adj.shape[0]
    m = len(sources)
    step = (adj.astype(np.int32) + sp.identity(n, dtype=np.int32, format="csr")).tocsr()
    seen = sp.csr_matrix(
        (np.ones(m, np.int32), (np.arange(m), np.asarray(sources, np.int64))), shape=(m, n)
    )
    parts = [(np.arange(m), np.asarray(sources, np.int64), np.zeros(m, np.int64))]
    for d in range(1, radius + 1):
        grown = (seen @ step).tocsr()
        grown.data[:] = 1
        new = (grown - seen).tocoo()
        keep = new.data > 0
        if not keep.any():
            break
        parts.append((new.row[keep], new.col[keep].astype(np.int64), np.full(keep.sum(), d)))
        seen = grown
    src = np.concatenate([p[0] for p in parts]).astype(np.int64)
    cell = np.concatenate([p[1] for p in parts]).astype(np.int64)
    dist = np.concatenate([p[2] for p in parts]).astype(np.int64)
    order = np.lexsort((cell, dist, src))
    return src[order], cell[order], dist[order]


def gap_offsets(size: float, spacing: float) -> np.ndarray:
    """Cell offsets ``(di, dj)`` whose squares are closer than ``spacing`` (edge to edge).

    Two cells offset by ``(di, dj)`` are separated by
    ``size * hypot(max(|di| - 1, 0), max(|dj| - 1, 0))`` metres; rook and
    queen neighbours touch (gap 0).
    """
    if spacing <= 0:
        return np.empty((0, 2), np.int64)
    r = int(np.ceil(spacing / size)) + 1
    di, dj = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
    gx = np.maximum(np.abs(di) - 1, 0) * size
    gy = np.maximum(np.abs(dj) - 1, 0) * size
    close = np.hypot(gx, gy) < spacing
    close &= ~((di == 0) & (dj == 0))
    return np.column_stack([di[close], dj[close]]).astype(np.int64)


def conflict_pairs(
    index: CellIndex, mask: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``a < b`` of ``mask`` cells closer than ``spacing`` metres (edge to edge)."""
    offs = gap_offsets(index.size, spacing)
    cells = np.flatnonzero(mask)
    if len(offs) == 0 or len(cells) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a_parts, b_parts = [], []
    for d in offs:
        other = index.find(index.ij[cells] + d)
        ok = other >= 0
        ok[ok] &= mask[other[ok]]
        a, b = cells[ok], other[ok]
        keep = a < b
        a_parts.append(a[keep])
        b_parts.append(b[keep])
    return np.concatenate(a_parts), np.concatenate(b_parts)
