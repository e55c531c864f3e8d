"""Square grid cells aligned to multiples of the cell size.

A cell's id is ``(x // size, y // size)`` in the projected CRS (British
National Grid metres for UK data), so ids are stable across runs, forces and
time windows: the same place always gets the same cell, whatever else is in
the data. The string id is ``"g{size}:{i}:{j}"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crimemap.errors import InputError
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

__all__ = ["Grid", "grid_units", "cell_index"]


@dataclass(frozen=True, slots=True)
class Grid:
    """A square grid of ``size`` metres aligned to the CRS origin."""

    size: float = 250.0
    crs: int = 27700

    def __post_init__(self) -> None:
        if not (self.size > 0 and np.isfinite(self.size)):
            raise InputError(
                f"grid cell size must be a positive number of metres, got {self.size!r}"
            )

    def ij(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Integer cell indices ``(n, 2)`` of points; rows with NaN get ``INT64_MIN``."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        out = np.full((len(x), 2), np.iinfo(np.int64).min, dtype=np.int64)
        out[ok, 0] = np.floor(x[ok] / self.size).astype(np.int64)
        out[ok, 1] = np.floor(y[ok] / self.size).astype(np.int64)
        return out

    def ids(self, ij: np.ndarray) -> np.ndarray:
        """String ids of cells given their indices."""
        s = f"{self.size:g}"
        return np.array([f"g{s}:{i}:{j}" for i, j in ij], dtype=object)

    def units(self, ij: np.ndarray) -> Units:
        """The units for these (unique) cell indices, sorted by (i, j)."""
        ij = np.unique(np.asarray(ij, dtype=np.int64).reshape(-1, 2), axis=0)
        cent = (ij.astype(float) + 0.5) * self.size
        return Units(
            kind="grid",
            ids=self.ids(ij),
            centroids=cent,
            crs=self.crs,
            cell_size=float(self.size),
            ij=ij,
        )

    def cover(self, xmin: float, ymin: float, xmax: float, ymax: float) -> Units:
        """Every cell that intersects the bounding box."""
        i0, j0 = int(np.floor(xmin / self.size)), int(np.floor(ymin / self.size))
        i1, j1 = int(np.floor(xmax / self.size)), int(np.floor(ymax / self.size))
        ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
        return self.units(np.column_stack([ii.ravel(), jj.ravel()]))


def grid_units(incidents: IncidentTable, size: float = 250.0) -> Units:
    """The study area of a set of incidents: every cell holding at least one."""
    xy = incidents.xy()
    ok = np.isfinite(xy).all(axis=1)
    crs = int(incidents.arrow["crs"][0].as_py() or 27700) if len(incidents) else 27700
    g = Grid(size, crs)
    return g.units(g.ij(xy[ok, 0], xy[ok, 1]))


def cell_index(units: Units, incidents: IncidentTable) -> np.ndarray:
    """Position of each incident's cell in ``units`` (``-1`` if outside or unlocated)."""
    if units.kind != "grid" or units.ij is None or units.cell_size is None:
        raise InputError("cell_index needs grid units")
    # Cached on the (immutable) table per units object: every model of a fit
    # looks up the same incidents in the same cells.
    return incidents.per_row(("cell_index", units), lambda: _cell_index(units, incidents))


def _cell_index(units: Units, incidents: IncidentTable) -> np.ndarray:
    assert units.ij is not None and units.cell_size is not None
    g = Grid(units.cell_size, units.crs)
    xy = incidents.xy()
    ij = g.ij(xy[:, 0], xy[:, 1])

    # Encode (i, j) pairs as one int64 key for a vectorised lookup.
    def key(a: np.ndarray) -> np.ndarray:
        return (a[:, 0] + (1 << 31)) * (1 << 32) + (a[:, 1] + (1 << 31))

    ukeys = key(units.ij)
    order = np.argsort(ukeys)
    sk = ukeys[order]
    valid = ij[:, 0] != np.iinfo(np.int64).min
    out = np.full(len(ij), -1, dtype=np.int64)
    if len(sk) == 0:
        return out
    k = key(np.where(valid[:, None], ij, 0))
    pos = np.clip(np.searchsorted(sk, k), 0, len(sk) - 1)
    hit = valid & (sk[pos] == k)
    out[hit] = order[pos[hit]]
    return out
