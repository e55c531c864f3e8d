"""Build a grid :class:`~crimemap.forecast.RiskSurface` from flat cell arrays.

The API keeps its current forecast as flat arrays (cell indices, mean,
components per row); planning and route risk need a ``RiskSurface`` over
grid ``Units``. :func:`grid_surface` converts one without re-fitting.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import cast

import numpy as np

from crimemap.errors import InputError
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.grid import Grid

__all__ = ["grid_surface"]


def _dt(v: np.datetime64 | str) -> np.datetime64:
    return cast(np.datetime64, np.array(v, dtype="datetime64[s]")[()])


def grid_surface(
    ij: np.ndarray,
    mean: np.ndarray,
    *,
    size: float,
    start: np.datetime64 | str,
    end: np.datetime64 | str,
    model: str,
    components: Mapping[str, np.ndarray] | None = None,
    crs: int = 27700,
) -> RiskSurface:
    """A risk surface over the grid cells ``ij`` (rows are re-ordered to grid order).

    Parameters
    ----------
    ij : numpy.ndarray
        ``(n, 2)`` unique cell indices ``(x // size, y // size)``.
    mean : numpy.ndarray
        ``(n,)`` forecast per cell.
    size : float
        Cell side in metres.
    start, end : datetime64 or str
        The forecast window.
    model : str
        Name of the model that produced the forecast.
    components : mapping, optional
        Driver name -> ``(n,)`` additive parts of ``mean``.
    crs : int
        EPSG code of the grid (27700 for Britain).
    """
    ij = np.asarray(ij, np.int64).reshape(-1, 2)
    mean = np.asarray(mean, float)
    if len(mean) != len(ij):
        raise InputError("grid_surface: ij and mean have different lengths")
    order = np.lexsort((ij[:, 1], ij[:, 0]))
    units = Grid(size, crs).units(ij)
    if len(units) != len(ij):
        raise InputError("grid_surface: cell indices must be unique")
    comps = {k: np.asarray(v, float)[order] for k, v in (components or {}).items()}
    return RiskSurface(
        model=model,
        units=units,
        start=_dt(start),
        end=_dt(end),
        mean=mean[order],
        components=MappingProxyType(comps),
    )
