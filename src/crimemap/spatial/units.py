"""Spatial units: the places that crime is counted in.

A :class:`Units` object is an ordered, immutable set of places with stable
string ids, their centroids in a projected metric CRS, and (for square grids)
their integer cell indices. Detection and forecasting work on arrays indexed
by unit position; the ids make results joinable across runs and forces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crimemap.errors import InputError

__all__ = ["Units"]


@dataclass(frozen=True, eq=False)
class Units:
    """An ordered set of spatial units.

    Attributes
    ----------
    kind : str
        ``"grid"``, ``"h3"`` or ``"lsoa"``.
    ids : numpy.ndarray
        ``(n,)`` unique string ids, in unit order.
    centroids : numpy.ndarray
        ``(n, 2)`` centroid coordinates in metres (CRS ``crs``).
    crs : int
        EPSG code of the centroids.
    cell_size : float or None
        Side of a grid cell in metres (grids only).
    ij : numpy.ndarray or None
        ``(n, 2)`` integer cell indices ``(x // size, y // size)`` (grids only).
    areas : numpy.ndarray
        ``(n,)`` unit areas in square metres.
    """

    kind: str
    ids: np.ndarray
    centroids: np.ndarray
    crs: int = 27700
    cell_size: float | None = None
    ij: np.ndarray | None = None
    areas: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.centroids.shape != (n, 2):
            raise InputError("units: centroids must have shape (n, 2)")
        if len(np.unique(self.ids)) != n:
            raise InputError("units: ids must be unique")
        if self.areas.size == 0 and self.cell_size is not None:
            object.__setattr__(self, "areas", np.full(n, float(self.cell_size) ** 2))
        for a in (self.ids, self.centroids, self.ij, self.areas):
            if a is not None:
                a.setflags(write=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        size = f", {self.cell_size:g} m" if self.cell_size else ""
        return f"Units({self.kind}{size}, n={len(self)})"

    def position(self, ids: np.ndarray) -> np.ndarray:
        """Position of each id in this set, ``-1`` where absent."""
        order = np.argsort(self.ids)
        sorted_ids = self.ids[order]
        ids = np.asarray(ids)
        pos = np.searchsorted(sorted_ids, ids)
        pos = np.clip(pos, 0, max(len(sorted_ids) - 1, 0))
        found = (
            (len(sorted_ids) > 0) & (sorted_ids[pos] == ids)
            if len(sorted_ids)
            else np.zeros(len(ids), bool)
        )
        out = np.where(found, order[pos] if len(order) else 0, -1)
        return out.astype(np.int64)

    def subset(self, mask: np.ndarray) -> Units:
        """The units where ``mask`` is true, in the same order."""
        mask = np.asarray(mask, bool)
        return Units(
            kind=self.kind,
            ids=self.ids[mask].copy(),
            centroids=self.centroids[mask].copy(),
            crs=self.crs,
            cell_size=self.cell_size,
            ij=None if self.ij is None else self.ij[mask].copy(),
            areas=self.areas[mask].copy() if self.areas.size else np.empty(0),
        )
