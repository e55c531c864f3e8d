"""Synthetic incident tables for the forecaster tests (helpers, no fixtures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crimemap.spatial import Grid
from crimemap.table import IncidentTable

SIZE = 250.0


def events_from_cells(
    cells: Sequence[tuple[int, int]],
    months: Sequence[str],
    categories: Sequence[str] | None = None,
    *,
    seed: int = 0,
) -> IncidentTable:
    """One month-precision incident per (cell, month), at a random point inside the cell."""
    rng = np.random.default_rng(seed)
    ij = np.asarray(cells, float).reshape(-1, 2)
    xy = (ij + rng.uniform(0.05, 0.95, size=ij.shape)) * SIZE
    cats = list(categories) if categories is not None else ["burglary"] * len(ij)
    return IncidentTable.from_columns(
        category=cats,
        t_start=np.array([np.datetime64(m, "s") for m in months]),
        x=xy[:, 0],
        y=xy[:, 1],
    )


def cube_events(
    counts: np.ndarray,
    ij: np.ndarray,
    first_month: str,
    *,
    seed: int = 0,
    categories: Sequence[str] = ("burglary",),
) -> IncidentTable:
    """Incidents realising an integer ``counts[n_cells, n_months]`` cube."""
    counts = np.asarray(counts, int)
    m0 = np.datetime64(first_month, "M")
    rows_c, rows_t = np.nonzero(counts)
    rep = counts[rows_c, rows_t]
    cells = np.repeat(ij[rows_c], rep, axis=0)
    months = np.repeat((m0 + rows_t).astype("datetime64[s]"), rep)
    rng = np.random.default_rng(seed)
    cats = rng.choice(list(categories), size=len(cells))
    return events_from_cells([tuple(c) for c in cells], [str(m) for m in months], cats, seed=seed)


def block_units(ni: int, nj: int, i0: int = 0, j0: int = 0):
    """Grid units covering an ``ni x nj`` block of 250 m cells."""
    ii, jj = np.meshgrid(np.arange(i0, i0 + ni), np.arange(j0, j0 + nj), indexing="ij")
    return Grid(SIZE).units(np.column_stack([ii.ravel(), jj.ravel()]))
