"""Discretised space-time kernels of the grid ETAS model (shared with its simulator).

Space: a parent at the centre of its cell sends offspring to the cell at offset
``(di, dj)`` with the Gaussian mass ``g(|di|) g(|dj|)``, where
``g(k) = Phi((k + 1/2) a / sigma) - Phi((k - 1/2) a / sigma)`` (``a`` the cell
side), truncated to the disc ``di^2 + dj^2 <= R^2`` and renormalised.
Time: the lag in bins is geometric, ``p_l = (1 - q) q^(l - 1)`` for ``l >= 1``,
``q = exp(-omega)``, the bin-discretised exponential of Mohler et al. (2011).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse, special
from scipy.spatial import cKDTree

from crimemap.errors import InputError
from crimemap.spatial.units import Units

__all__ = ["class_mass_grad", "OffsetClasses", "offset_classes", "class_mass", "disc_offsets"]


def disc_offsets(radius_cells: int) -> np.ndarray:
    """``(m, 2)`` integer offsets inside the disc of ``radius_cells``."""
    r = int(radius_cells)
    d = np.arange(-r, r + 1)
    di, dj = np.meshgrid(d, d, indexing="ij")
    keep = di**2 + dj**2 <= r * r
    return np.column_stack([di[keep], dj[keep]])


def _class_of(off: np.ndarray) -> np.ndarray:
    """Class key ``(min(|di|,|dj|), max(|di|,|dj|))`` of offsets."""
    a = np.abs(off)
    return np.column_stack([a.min(axis=1), a.max(axis=1)])


def class_mass(classes: np.ndarray, mult: np.ndarray, sigma_cells: float) -> np.ndarray:
    """Renormalised per-offset kernel mass of each class (``(K,)``).

    ``mult`` is the number of disc offsets in each class; the masses of all
    offsets sum to 1.
    """
    s = max(float(sigma_cells), 1e-6)

    def g(k: np.ndarray) -> np.ndarray:
        return special.ndtr((k + 0.5) / s) - special.ndtr((k - 0.5) / s)

    raw = g(classes[:, 0].astype(float)) * g(classes[:, 1].astype(float))
    z = float((raw * mult).sum())
    return raw / z if z > 0 else np.full(len(raw), 1.0 / mult.sum())


def class_mass_grad(
    classes: np.ndarray, mult: np.ndarray, sigma_cells: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`class_mass` and its derivative in ``sigma_cells`` (``(K,)`` each).

    For the M-step's analytic gradient: with ``g(k) = Phi((k + 1/2)/s) -
    Phi((k - 1/2)/s)``, ``g'(k) = -[(k + 1/2) phi((k + 1/2)/s) - (k - 1/2)
    phi((k - 1/2)/s)] / s^2``, and the renormalisation's quotient rule.
    """
    s = max(float(sigma_cells), 1e-6)
    a = classes[:, 0].astype(float)
    b = classes[:, 1].astype(float)

    def g(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hi, lo = (k + 0.5) / s, (k - 0.5) / s
        val = special.ndtr(hi) - special.ndtr(lo)
        phi_hi = np.exp(-0.5 * hi * hi) / np.sqrt(2 * np.pi)
        phi_lo = np.exp(-0.5 * lo * lo) / np.sqrt(2 * np.pi)
        return val, -(hi * phi_hi - lo * phi_lo) / s

    ga, da = g(a)
    gb, db = g(b)
    raw, draw = ga * gb, da * gb + ga * db
    z = float((raw * mult).sum())
    if z <= 0:
        return np.full(len(raw), 1.0 / mult.sum()), np.zeros(len(raw))
    dz = float((draw * mult).sum())
    mass = raw / z
    return mass, (draw - mass * dz) / z


@dataclass(frozen=True, eq=False)
class OffsetClasses:
    """Units grouped into offset classes.

    Attributes
    ----------
    classes : numpy.ndarray
        ``(K, 2)`` class keys (sorted absolute offsets).
    mult : numpy.ndarray
        ``(K,)`` number of disc offsets per class.
    adjacency : list of scipy.sparse.csr_matrix
        ``A_k[n, m] = 1`` when unit ``n`` is at a class-``k`` offset from unit ``m``.
    """

    classes: np.ndarray
    mult: np.ndarray
    adjacency: list[sparse.csr_matrix]


def offset_classes(units: Units, radius_cells: int) -> OffsetClasses:
    """Adjacency of the units at each offset class within the disc."""
    if units.kind != "grid" or units.ij is None:
        raise InputError("etas works on grid units")
    off = disc_offsets(radius_cells)
    cls_all = _class_of(off)
    classes, mult = np.unique(cls_all, axis=0, return_counts=True)
    n = len(units)
    ij = np.asarray(units.ij, np.int64)
    tree = cKDTree(ij.astype(float))
    pairs = tree.query_pairs(float(radius_cells) + 1e-9, p=np.inf, output_type="ndarray")
    a = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)]) if len(pairs) else np.arange(n)
    b = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)]) if len(pairs) else np.arange(n)
    d = ij[a] - ij[b]
    inside = (d**2).sum(axis=1) <= radius_cells**2
    a, b, d = a[inside], b[inside], d[inside]
    ck = _class_of(d)
    adj = []
    for c in classes:
        sel = (ck[:, 0] == c[0]) & (ck[:, 1] == c[1])
        adj.append(sparse.csr_matrix((np.ones(int(sel.sum())), (a[sel], b[sel])), shape=(n, n)))
    return OffsetClasses(classes=classes, mult=mult, adjacency=adj)
