"""The public (disclosure-controlled) incidents layer.

Method
------
Base cells are (500 m grid cell, calendar month, force, category): each is
published through :func:`crimemap.safeguards.disclosure.control` (counts 1
to threshold-1 suppressed, others rounded to the base). Every public value
is then a *sum of published base cells* over the requested months,
categories and forces and up to the requested (coarser) cell size (rule 4
of :mod:`crimemap.safeguards.disclosure`), so no combination of public
queries, overlapping windows, crime sets, forces or cell sizes, recovers a
suppressed count. Each public cell also reports how many base cells in it
were suppressed. :func:`crimemap.safeguards.assert_publishable` checks the
values before they leave the server.

Reference: Duncan & Pearson (1991), *Statistical Science* 6(3), 219-232,
as cited in :mod:`crimemap.safeguards.disclosure`.
"""

from __future__ import annotations

import numpy as np

from crimemap.api._cells import CellIndex, cell_key, cell_unkey
from crimemap.api._layers import Filter, Layer
from crimemap.errors import AccessDenied
from crimemap.safeguards import DisclosurePolicy, assert_publishable, control

__all__ = ["public_size", "public_counts_layer"]


def public_size(size: float, policy: DisclosurePolicy) -> float:
    """The public cell size for a requested size (never below ``policy.min_cell_m``)."""
    return max(float(size), float(policy.min_cell_m))


def public_counts_layer(
    index: CellIndex, size: float, f: Filter, policy: DisclosurePolicy
) -> Layer:
    """Published counts per cell of side ``size`` (>= the policy's smallest cell).

    Raises
    ------
    crimemap.errors.AccessDenied
        For the harm measure (a weighted sum is not a count; analysts only).
    """
    if f.measure != "volume":
        raise AccessDenied("the public map shows incident counts only (measure=volume)")
    base = float(policy.min_cell_m)
    size = public_size(size, policy)
    forces = [f.force] if f.force is not None else list(index.forces)
    pos = index.study(base, f.force)
    ij, _ = index.cells_at(base, pos)
    total = np.zeros(len(pos))
    suppressed = np.zeros(len(pos), np.int64)
    for force in forces:
        for cat in sorted(f.categories):
            _, c = index.cube(
                base, pos, categories=frozenset({cat}), force=force, start=f.start, end=f.end
            )
            if c.size == 0:
                continue
            pub = control(c, policy)
            total += np.nansum(pub, axis=1)
            suppressed += np.isnan(pub).sum(axis=1)
    k = max(int(round(size / base)), 1)
    big = np.floor_divide(ij, k) if len(ij) else np.zeros((0, 2), np.int64)
    keys, inv = np.unique(cell_key(big[:, 0], big[:, 1]), return_inverse=True)
    value = np.bincount(inv, weights=total, minlength=len(keys))
    sup = np.bincount(inv, weights=suppressed, minlength=len(keys)).astype(np.int64)
    keep = (value > 0) | (sup > 0)
    uij = cell_unkey(keys[keep])
    value, sup = value[keep], sup[keep]
    assert_publishable(value, policy)
    return Layer(
        "incidents",
        base * k,
        uij,
        index.geom_of(uij, base * k),
        value,
        {"suppressed": sup},
        {
            "measure": "volume",
            "unit": "incidents",
            "disclosure": {
                "threshold": policy.threshold,
                "rounding_base": policy.base,
                "base_cell_m": base,
                "note": f"public view: counts of 1-{policy.threshold - 1} per cell, month and "
                f"category are suppressed, others rounded to {policy.base}; 'suppressed' counts "
                "the hidden base cells",
            },
        },
    )
