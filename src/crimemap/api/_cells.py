"""In-memory index of incident counts per 250 m cell, month, category and force.

Viewport layers must answer in a few milliseconds, so the API keeps the
store's incidents pre-aggregated to the finest cell it serves (``g250``) and
sums those to coarser cells (500 m ... 16 km, aligned multiples, so a coarse
cell is exactly the union of its base cells and ids stay those of
:class:`crimemap.spatial.Grid`). The index is rebuilt from the store at
start-up and extended incrementally with the counts of each uploaded batch.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from pyproj import Transformer

from crimemap.api._queries import BASE_CELL_M
from crimemap.errors import InputError
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = ["CELL_SIZES", "Aggregate", "CellIndex", "cell_size_for", "parse_cell_id"]

#: Cell sides served, finest first (metres); each is a multiple of the base cell.
CELL_SIZES = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
#: Most cells one viewport response holds; coarser cells are chosen above it.
MAX_CELLS = 4000


def cell_size_for(zoom: float, bbox_xy: tuple[float, float, float, float]) -> float:
    """Cell side for a web-map zoom: about 12 px a cell, never more than MAX_CELLS in view."""
    # One 256 px tile spans 40 075 km / 2^z at the equator; ~55 degN halves it.
    metres_per_px = 40_075_016.0 * 0.6 / (256.0 * 2.0 ** max(zoom, 0.0))
    want = metres_per_px * 12.0
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


class _Columns(NamedTuple):
    force: np.ndarray
    cat: np.ndarray
    month: np.ndarray
    i: np.ndarray
    j: np.ndarray
    n: np.ndarray


@dataclass(frozen=True, eq=False)
class Aggregate:
    """Values per cell of one size for one filter (every cell, before the viewport).

    Attributes
    ----------
    size : float
        Cell side in metres.
    ij : numpy.ndarray
        ``(n, 2)`` cell indices, sorted.
    value : numpy.ndarray
        ``(n,)`` count or harm.
    ring : numpy.ndarray
        ``(n, 5, 2)`` closed WGS84 outline of each cell.
    """

    size: float
    ij: np.ndarray
    value: np.ndarray
    ring: np.ndarray


class CellIndex:
    """Counts per (force, category, month, base cell), with fast filtered sums.

    Parameters
    ----------
    crs : int
        Projected CRS of the cells (EPSG).
    """

    def __init__(self, crs: int) -> None:
        self.crs = crs
        self._to_wgs = Transformer.from_crs(crs, 4326, always_xy=True)
        self._from_wgs = Transformer.from_crs(4326, crs, always_xy=True)
        self._lock = threading.Lock()
        self.forces: list[str] = []
        self._cat_pos = {c: k for k, c in enumerate(CATEGORY_SLUGS)}
        z = np.zeros(0, np.int64)
        self._d = _Columns(
            z.astype(np.int16), z.astype(np.int8), z.astype(np.int32), z, z, z.astype(float)
        )

    def snapshot(self) -> _Columns:
        """The current columns (replaced as a whole on update, so always consistent)."""
        return self._d

    # ----------------------------------------------------------- building
    def add(self, t: pa.Table) -> np.ndarray:
        """Append counts (a table from ``_queries.cell_month_counts``); returns their base ij."""
        if t.num_rows == 0:
            return np.zeros((0, 2), np.int64)
        forces = t["force"].to_pylist()
        with self._lock:
            for f in dict.fromkeys(forces):
                if f not in self.forces:
                    self.forces.append(f)
            fpos = {f: k for k, f in enumerate(self.forces)}
            f_idx = np.array([fpos[f] for f in forces], np.int16)
            c_idx = np.array([self._cat_pos.get(c, -1) for c in t["category"].to_pylist()], np.int8)
            i = t["i"].to_numpy().astype(np.int64)
            j = t["j"].to_numpy().astype(np.int64)
            d = self._d
            self._d = _Columns(
                np.concatenate([d.force, f_idx]),
                np.concatenate([d.cat, c_idx]),
                np.concatenate([d.month, t["month"].to_numpy().astype(np.int32)]),
                np.concatenate([d.i, i]),
                np.concatenate([d.j, j]),
                np.concatenate([d.n, t["n"].to_numpy().astype(np.float64)]),
            )
        return np.unique(np.column_stack([i, j]), axis=0)

    @property
    def months(self) -> list[str]:
        """Months that hold data, ``YYYY-MM``."""
        return [month_label(int(m)) for m in np.unique(self._d.month)]

    # ---------------------------------------------------------- geometry
    def to_xy_bbox(
        self, bbox: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        """WGS84 (w, s, e, n) -> projected (xmin, ymin, xmax, ymax) enclosing it."""
        w, s, e, n = bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise InputError(
                "bbox must be west,south,east,north in degrees with west<east, south<north"
            )
        t = np.linspace(0.0, 1.0, 9)
        lon = np.concatenate([w + (e - w) * t, w + (e - w) * t, np.full(9, w), np.full(9, e)])
        lat = np.concatenate([np.full(9, s), np.full(9, n), s + (n - s) * t, s + (n - s) * t])
        x, y = self._from_wgs.transform(lon, lat)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            raise InputError("bbox does not map into the data's projection")
        return float(x[ok].min()), float(y[ok].min()), float(x[ok].max()), float(y[ok].max())

    def rings(self, ij: np.ndarray, size: float) -> np.ndarray:
        """Closed WGS84 outlines ``(n, 5, 2)`` of cells."""
        x0 = ij[:, 0].astype(float) * size
        y0 = ij[:, 1].astype(float) * size
        xs = np.stack([x0, x0 + size, x0 + size, x0, x0], axis=1)
        ys = np.stack([y0, y0, y0 + size, y0 + size, y0], axis=1)
        lon, lat = self._to_wgs.transform(xs.ravel(), ys.ravel())
        return np.stack([lon, lat], axis=1).reshape(len(ij), 5, 2)

    # ------------------------------------------------------------ queries
    def _mask(
        self,
        d: _Columns,
        categories: frozenset[str] | None,
        start: int | None,
        end: int | None,
        force: str | None,
    ) -> np.ndarray:
        m = np.ones(len(d.n), bool)
        if categories is not None:
            lut = np.zeros(len(CATEGORY_SLUGS) + 1, bool)
            for c in categories:
                if c in self._cat_pos:
                    lut[self._cat_pos[c]] = True
            m &= lut[d.cat]
        if start is not None:
            m &= d.month >= start
        if end is not None:
            m &= d.month <= end
        if force is not None:
            if force not in self.forces:
                m[:] = False
            else:
                m &= d.force == self.forces.index(force)
        return m

    @staticmethod
    def _weights(d: _Columns, weights: Mapping[str, float] | None, m: np.ndarray) -> np.ndarray:
        if weights is None:
            return d.n[m]
        w = np.array([float(weights.get(c, 0.0)) for c in CATEGORY_SLUGS] + [0.0])
        return d.n[m] * w[d.cat[m]]

    def aggregate(
        self,
        size: float,
        *,
        categories: frozenset[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        force: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> Aggregate:
        """Sum per cell of side ``size`` over the filter (every cell with a record)."""
        k = int(round(size / BASE_CELL_M))
        d = self._d
        m = self._mask(d, categories, start, end, force)
        ci = np.floor_divide(d.i[m], k)
        cj = np.floor_divide(d.j[m], k)
        v = self._weights(d, weights, m)
        if len(ci) == 0:
            ij = np.zeros((0, 2), np.int64)
            return Aggregate(size, ij, np.zeros(0), np.zeros((0, 5, 2)))
        uk, inv = np.unique(cell_key(ci, cj), return_inverse=True)
        val = np.bincount(inv, weights=v, minlength=len(uk))
        ij = cell_unkey(uk)
        return Aggregate(size, ij, val, self.rings(ij, size))

    def series(
        self,
        *,
        cells: tuple[float, int, int] | None = None,
        xy_bbox: tuple[float, float, float, float] | None = None,
        categories: frozenset[str] | None = None,
        force: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Monthly totals (month indices, values) for one cell or a projected bbox."""
        d = self._d
        m = self._mask(d, categories, None, None, force)
        if cells is not None:
            size, i, j = cells
            k = int(round(size / BASE_CELL_M))
            m &= (np.floor_divide(d.i, k) == i) & (np.floor_divide(d.j, k) == j)
        if xy_bbox is not None:
            x0, y0, x1, y1 = xy_bbox
            cx = (d.i + 0.5) * BASE_CELL_M
            cy = (d.j + 0.5) * BASE_CELL_M
            m &= (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
        months = np.unique(d.month)  # every published month, zeros included
        v = self._weights(d, weights, m)
        pos = np.searchsorted(months, d.month[m])
        return months, np.bincount(pos, weights=v, minlength=len(months))

    def study_cells(self, size: float, force: str | None = None) -> np.ndarray:
        """Every cell of side ``size`` with at least one incident ever (the study area)."""
        k = int(round(size / BASE_CELL_M))
        d = self._d
        m = self._mask(d, None, None, None, force)
        ij = np.column_stack([np.floor_divide(d.i[m], k), np.floor_divide(d.j[m], k)])
        return np.unique(ij, axis=0) if len(ij) else np.zeros((0, 2), np.int64)
