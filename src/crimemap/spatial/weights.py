"""Spatial neighbour weights as ``scipy.sparse`` matrices.

Every local statistic in :mod:`crimemap.detect` takes its neighbourhood as an
``(n, n)`` CSR matrix aligned with a :class:`~crimemap.spatial.Units` order:
entry ``(i, j)`` is the weight of unit ``j`` in the neighbourhood of ``i``.
The builders return **binary** matrices with a zero diagonal; statistics add
the self-weight (Gi*) or row-standardise (local Moran's I) themselves.

* square grid cells: queen contiguity (8 neighbours), or rook (4);
* H3 hexagons: the k-ring (``h3.grid_disk``) minus the cell itself;
* polygons (LSOAs): shared boundary contiguity (queen: any shared point;
  rook: a shared edge of positive length), found with a shapely ``STRtree``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from crimemap.errors import InputError
from crimemap.spatial.units import Units

__all__ = [
    "grid_contiguity",
    "h3_kring",
    "polygon_contiguity",
    "row_standardise",
    "unit_weights",
]

_QUEEN = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_ROOK = ((-1, 0), (0, -1), (0, 1), (1, 0))


def _key(ij: np.ndarray) -> np.ndarray:
    return (ij[:, 0] + (1 << 31)) * (1 << 32) + (ij[:, 1] + (1 << 31))


def grid_contiguity(units: Units, *, rook: bool = False) -> sp.csr_matrix:
    """Queen (or rook) contiguity between the grid cells of ``units``.

    Parameters
    ----------
    units : Units
        Grid units (``units.ij`` must be set). Cells absent from ``units``
        are not neighbours of anything, so the study area's edge cells have
        fewer neighbours.
    rook : bool
        Use the 4 edge neighbours instead of the 8 queen neighbours.

    Returns
    -------
    scipy.sparse.csr_matrix
        Binary, symmetric, zero diagonal.
    """
    if units.kind != "grid" or units.ij is None:
        raise InputError("grid_contiguity needs grid units")
    ij = np.asarray(units.ij, dtype=np.int64)
    n = len(ij)
    keys = _key(ij)
    order = np.argsort(keys)
    sk = keys[order]
    rows, cols = [], []
    for di, dj in _ROOK if rook else _QUEEN:
        nb = _key(ij + np.array([di, dj]))
        pos = np.clip(np.searchsorted(sk, nb), 0, max(n - 1, 0))
        hit = (sk[pos] == nb) if n else np.zeros(0, bool)
        rows.append(np.nonzero(hit)[0])
        cols.append(order[pos[hit]])
    r = np.concatenate(rows) if rows else np.empty(0, np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, np.int64)
    w = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    w.sort_indices()
    return w


def h3_kring(units: Units, k: int = 1) -> sp.csr_matrix:
    """Neighbours within ``k`` hexagon steps (``h3.grid_disk``), binary.

    Unit ids must be H3 cell strings (as made by
    :mod:`crimemap.spatial.h3units`).
    """
    import h3

    if units.kind != "h3":
        raise InputError("h3_kring needs h3 units")
    if k < 1:
        raise InputError("h3_kring: k must be >= 1")
    ids = units.ids
    rows: list[int] = []
    cols: list[int] = []
    # One grid_disk call per cell: H3 has no vectorised API; n is modest.
    for i, cell in enumerate(ids):
        ring = [c for c in h3.grid_disk(str(cell), k) if c != cell]
        pos = units.position(np.array(ring, dtype=object))
        pos = pos[pos >= 0]
        rows.extend([i] * len(pos))
        cols.extend(pos.tolist())
    n = len(ids)
    w = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    w.sort_indices()
    return w


def polygon_contiguity(
    geoms: Sequence[object] | np.ndarray, *, rook: bool = False, tolerance: float = 1.0
) -> sp.csr_matrix:
    """Contiguity between polygons that share boundary.

    Published boundaries are generalised and reprojected, so neighbours
    rarely share boundary segments bit for bit: they overlap or miss by a few
    millimetres. Two polygons are therefore neighbours when they come within
    ``tolerance`` metres of each other (queen), and, for rook, when the part
    of one's boundary lying within ``tolerance`` of the other is longer than
    ``max(5 * tolerance, 5)`` metres (an edge, not a corner).

    Parameters
    ----------
    geoms : sequence of shapely geometries
        Polygons in unit order (projected CRS, metres).
    rook : bool
        Require a shared edge (default: any shared point).
    tolerance : float
        Snapping distance in metres.
    """
    import shapely

    g = np.asarray(geoms, dtype=object)
    n = len(g)
    tree = shapely.STRtree(g)
    a, b = tree.query(g, predicate="dwithin", distance=tolerance)
    keep = a != b
    a, b = a[keep], b[keep]
    if rook and len(a):
        near = shapely.intersection(shapely.boundary(g[a]), shapely.buffer(g[b], tolerance))
        keep = shapely.length(near) > max(5 * tolerance, 5.0)
        a, b = a[keep], b[keep]
    w = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    w = ((w + w.T) > 0).astype(float).tocsr()
    w.sort_indices()
    return w


def row_standardise(w: sp.spmatrix) -> sp.csr_matrix:
    """Divide each row by its sum (rows summing to zero stay zero)."""
    w = sp.csr_matrix(w, dtype=float)
    s = np.asarray(w.sum(axis=1)).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s != 0)
    out = sp.diags(inv) @ w
    return sp.csr_matrix(out)


def unit_weights(units: Units, geoms: Sequence[object] | np.ndarray | None = None) -> sp.csr_matrix:
    """The default neighbour weights for a kind of unit.

    Queen contiguity for grid cells, the 1-ring for H3 cells and queen
    polygon contiguity for LSOAs (``geoms`` required).
    """
    if units.kind == "grid":
        return grid_contiguity(units)
    if units.kind == "h3":
        return h3_kring(units, 1)
    if geoms is None:
        raise InputError(f"weights for {units.kind} units need their polygons")
    return polygon_contiguity(geoms)
