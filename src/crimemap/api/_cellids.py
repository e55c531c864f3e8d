"""Cell ids, cell sizes and month indices shared by the API modules.

Cells are squares of a projected grid aligned to multiples of their side, with
the ids of :class:`crimemap.spatial.Grid` (``g<size>:<i>:<j>``); months are
counted from 1970-01.
"""

from __future__ import annotations

import numpy as np

from crimemap.errors import InputError

__all__ = [
    "CELL_SIZES",
    "MAX_CELLS",
    "cell_key",
    "cell_size_for",
    "cell_unkey",
    "month_index",
    "month_label",
    "parse_cell_id",
]

#: Cell sides served, finest first (metres); each is a multiple of the base cell.
CELL_SIZES = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
#: Most cells one viewport response holds; coarser cells are chosen above it.
MAX_CELLS = 3000


def cell_size_for(zoom: float, bbox_xy: tuple[float, float, float, float]) -> float:
    """Cell side for a web-map zoom: about 16 px a cell, never more than MAX_CELLS in view."""
    # One 256 px tile spans 40 075 km / 2^z at the equator; ~55 degN halves it.
    metres_per_px = 40_075_016.0 * 0.6 / (256.0 * 2.0 ** max(zoom, 0.0))
    want = metres_per_px * 16.0
    size = next((s for s in CELL_SIZES if s >= want), CELL_SIZES[-1])
    w = max(bbox_xy[2] - bbox_xy[0], 0.0)
    h = max(bbox_xy[3] - bbox_xy[1], 0.0)
    for s in CELL_SIZES:
        if s >= size and (w / s + 1) * (h / s + 1) <= MAX_CELLS:
            return s
    return CELL_SIZES[-1]


def parse_cell_id(cell: str) -> tuple[float, int, int]:
    """``"g500:812:1130"`` -> (500.0, 812, 1130)."""
    try:
        head, i, j = cell.split(":")
        if not head.startswith("g"):
            raise ValueError(head)
        size = float(head[1:])
        out = (size, int(i), int(j))
    except ValueError:
        raise InputError(f"bad cell id {cell!r}; expected g<size>:<i>:<j>") from None
    if size not in CELL_SIZES:
        raise InputError(f"cell size {size:g} m is not served; use one of {CELL_SIZES}")
    return out


_OFF = 1 << 28  # cell indices within +-2^28 (over 67 000 km at 250 m)


def cell_key(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """One sortable int64 per (i, j) cell index pair."""
    return (np.asarray(i, np.int64) + _OFF) * (2 * _OFF) + (np.asarray(j, np.int64) + _OFF)


def cell_unkey(key: np.ndarray) -> np.ndarray:
    """Inverse of :func:`cell_key`: ``(n, 2)`` indices."""
    key = np.asarray(key, np.int64)
    return np.column_stack([key // (2 * _OFF) - _OFF, key % (2 * _OFF) - _OFF])


def month_index(month: str) -> int:
    """``"2021-03"`` -> months since 1970-01."""
    try:
        y, m = month.split("-")
        yi, mi = int(y), int(m)
    except ValueError:
        raise InputError(f"bad month {month!r}; expected YYYY-MM") from None
    if not 1 <= mi <= 12:
        raise InputError(f"bad month {month!r}; expected YYYY-MM")
    return (yi - 1970) * 12 + mi - 1


def month_label(idx: int) -> str:
    """Months since 1970-01 -> ``"YYYY-MM"``."""
    return f"{1970 + idx // 12:04d}-{idx % 12 + 1:02d}"
