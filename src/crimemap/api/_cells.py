"""In-memory index of incident counts per cell, force, category and month, at every cell size.

Viewport layers must answer in a few milliseconds whatever the filter, so the
API keeps the store's incidents pre-aggregated at each cell size it serves
(250 m ... 16 km, aligned multiples of the base cell, so ids are those of
:class:`crimemap.spatial.Grid`). Each size is a *level*: one row per
(cell, force, category, month) with its count, sorted by a packed int64 key,
plus the running sum of the counts. The count of any cell over any months is
then two binary searches and a subtraction (``C[hi] - C[lo]``), so a viewport
costs O(cells in view x forces x categories x log rows), independent of the
time window. Uploads are merged in incrementally (sorted insertion, no rebuild).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyproj import Transformer

from crimemap.api._cellids import (
    CELL_SIZES,
    MAX_CELLS,
    cell_key,
    cell_size_for,
    cell_unkey,
    month_index,
    month_label,
    parse_cell_id,
)
from crimemap.api._queries import BASE_CELL_M
from crimemap.errors import InputError
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = [
    "CELL_SIZES",
    "MAX_CELLS",
    "Aggregate",
    "CellIndex",
    "cell_key",
    "cell_unkey",
    "cell_size_for",
    "month_index",
    "month_label",
    "parse_cell_id",
]

# Packed row key: cell i, cell j (21 bits each, offset), force (5), category (4), month (11).
_CB, _FB, _KB, _MB = 21, 5, 4, 11
_COFF = 1 << (_CB - 1)
_FCM = _FB + _KB + _MB  # bits below the cell part
_MAX_FORCES = 1 << _FB
_N_CAT = len(CATEGORY_SLUGS) + 1  # + "unknown"
_CAT_POS = {c: k for k, c in enumerate(CATEGORY_SLUGS)}


def selectors(
    categories: frozenset[str] | None,
    force: str | None,
    forces: list[str],
    weights: Mapping[str, float] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Category columns, force rows and per-category weights of a count-index query.

    Shared by the grid index and the H3/LSOA/day-hour indexes, whose count
    arrays use the same category order (the canonical slugs, then "unknown").
    """
    if categories is None:
        cats = np.arange(_N_CAT)
    else:
        cats = np.array(sorted(_CAT_POS[c] for c in categories if c in _CAT_POS), np.int64)
    if force is None:
        fs = np.arange(len(forces))
    elif force in forces:
        fs = np.array([forces.index(force)], np.int64)
    else:
        fs = np.zeros(0, np.int64)
    w = np.ones(_N_CAT)
    if weights is not None:
        w = np.array([float(weights.get(c, 0.0)) for c in CATEGORY_SLUGS] + [0.0])
    return cats, fs, w


def _pack_cell(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return (np.asarray(i, np.int64) + _COFF) << _CB | (np.asarray(j, np.int64) + _COFF)


def _unpack_cell(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.int64)
    return np.column_stack([(c >> _CB) - _COFF, (c & ((1 << _CB) - 1)) - _COFF])


@dataclass(frozen=True, eq=False)
class Aggregate:
    """Values per cell of one size for one filter.

    Attributes
    ----------
    size : float
        Cell side in metres.
    ij : numpy.ndarray
        ``(n, 2)`` cell indices.
    value : numpy.ndarray
        ``(n,)`` count or harm.
    geom : numpy.ndarray
        ``(n,)`` GeoJSON polygon coordinates of each cell (WGS84), as text.
    """

    size: float
    ij: np.ndarray
    value: np.ndarray
    geom: np.ndarray


@dataclass(frozen=True, eq=False)
class _Level:
    """Rows of one cell size (immutable: updates build a new level)."""

    size: float
    keys: np.ndarray  # (R,) sorted packed keys
    csum: np.ndarray  # (R + 1,) running sum of counts, csum[0] = 0
    cells: np.ndarray  # (n,) sorted packed cells
    ij: np.ndarray  # (n, 2)
    geom: np.ndarray  # (n,) object: polygon coordinates text
    row_cell: np.ndarray  # (R,) position of each row's cell in ``cells``
    row_force: np.ndarray  # (R,) force index of each row
    row_cat: np.ndarray  # (R,) category index of each row
    row_month: np.ndarray  # (R,) month index of each row
    counts: np.ndarray  # (R,) count of each row (np.diff(csum), kept to save the work)


class CellIndex:
    """Counts per (cell, force, category, month) at every served cell size.

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
        self._months = np.zeros(0, np.int64)
        e = np.zeros(0, np.int64)
        self._levels = {
            s: _Level(
                s,
                e,
                np.zeros(1),
                e,
                np.zeros((0, 2), np.int64),
                np.zeros(0, object),
                e,
                e,
                e,
                e,
                np.zeros(0),
            )
            for s in CELL_SIZES
        }

    # ----------------------------------------------------------- building
    def add(self, t: pa.Table) -> np.ndarray:
        """Merge counts (a table from ``_queries.cell_month_counts``); returns their base ij."""
        if t.num_rows == 0:
            return np.zeros((0, 2), np.int64)
        forces = t["force"].to_pylist()
        with self._lock:
            for f in dict.fromkeys(forces):
                if f not in self.forces:
                    if len(self.forces) >= _MAX_FORCES:
                        raise InputError(f"the map serves at most {_MAX_FORCES} forces")
                    self.forces.append(f)
            fpos = {f: k for k, f in enumerate(self.forces)}
            f_idx = np.array([fpos[f] for f in forces], np.int64)
            c_idx = np.array(
                [_CAT_POS.get(c, _N_CAT - 1) for c in t["category"].to_pylist()], np.int64
            )
            month = t["month"].to_numpy().astype(np.int64)
            if month.min() < 0 or month.max() >= 1 << _MB:
                raise InputError("incident months must fall between 1970 and 2140")
            i = t["i"].to_numpy().astype(np.int64)
            j = t["j"].to_numpy().astype(np.int64)
            n = t["n"].to_numpy().astype(np.float64)
            low = (f_idx << (_KB + _MB)) | (c_idx << _MB) | month
            for size, lev in self._levels.items():
                k = int(round(size / BASE_CELL_M))
                cell = _pack_cell(np.floor_divide(i, k), np.floor_divide(j, k))
                self._levels[size] = self._merge(lev, (cell << _FCM) | low, n)
            self._months = np.union1d(self._months, month)
        return np.unique(np.column_stack([i, j]), axis=0)

    def _merge(self, lev: _Level, keys: np.ndarray, n: np.ndarray) -> _Level:
        uk, inv = np.unique(keys, return_inverse=True)
        un = np.bincount(inv, weights=n, minlength=len(uk))
        pos = np.searchsorted(lev.keys, uk)
        hit = pos < len(lev.keys)
        hit[hit] = lev.keys[pos[hit]] == uk[hit]
        counts = lev.counts.copy()
        np.add.at(counts, pos[hit], un[hit])
        new_keys = np.insert(lev.keys, pos[~hit], uk[~hit])
        new_counts = np.insert(counts, pos[~hit], un[~hit])
        csum = np.concatenate([[0.0], np.cumsum(new_counts)])
        new_cells = np.unique(uk[~hit] >> _FCM)
        fresh = new_cells[~np.isin(new_cells, lev.cells)]
        if len(fresh):
            cpos = np.searchsorted(lev.cells, fresh)
            cells = np.insert(lev.cells, cpos, fresh)
            ij_new = _unpack_cell(fresh)
            ij = np.insert(lev.ij, cpos, ij_new, axis=0)
            geom = np.insert(lev.geom, cpos, self._geom_text(ij_new, lev.size))
        else:
            cells, ij, geom = lev.cells, lev.ij, lev.geom
        row_cell = np.searchsorted(cells, new_keys >> _FCM)
        return _Level(
            lev.size,
            new_keys,
            csum,
            cells,
            ij,
            geom,
            row_cell,
            ((new_keys >> (_KB + _MB)) & (_MAX_FORCES - 1)).astype(np.int16),
            ((new_keys >> _MB) & ((1 << _KB) - 1)).astype(np.int16),
            (new_keys & ((1 << _MB) - 1)).astype(np.int16),
            new_counts,
        )

    @property
    def months(self) -> list[str]:
        """Months that hold data, ``YYYY-MM``."""
        return [month_label(int(m)) for m in self._months]

    def month_indices(self) -> np.ndarray:
        """Months that hold data, as months since 1970-01."""
        return self._months.copy()

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
        ij = np.asarray(ij, np.int64).reshape(-1, 2)
        x0 = ij[:, 0].astype(float) * size
        y0 = ij[:, 1].astype(float) * size
        xs = np.stack([x0, x0 + size, x0 + size, x0, x0], axis=1)
        ys = np.stack([y0, y0, y0 + size, y0 + size, y0], axis=1)
        lon, lat = self._to_wgs.transform(xs.ravel(), ys.ravel())
        return np.stack([lon, lat], axis=1).reshape(len(ij), 5, 2)

    def _geom_text(self, ij: np.ndarray, size: float) -> np.ndarray:
        r = self.rings(ij, size)
        out = np.empty(len(ij), object)
        out[:] = [
            "[[" + ",".join(f"[{lon:.6f},{lat:.6f}]" for lon, lat in ring) + "]]" for ring in r
        ]
        return out

    def geom_of(self, ij: np.ndarray, size: float) -> np.ndarray:
        """Polygon coordinates text of cells (served from the level when known)."""
        lev = self._levels.get(size)
        ij = np.asarray(ij, np.int64).reshape(-1, 2)
        if lev is None:
            return self._geom_text(ij, size)
        c = _pack_cell(ij[:, 0], ij[:, 1])
        pos = np.clip(np.searchsorted(lev.cells, c), 0, max(len(lev.cells) - 1, 0))
        known = (
            (len(lev.cells) > 0) & (lev.cells[pos] == c)
            if len(lev.cells)
            else np.zeros(len(c), bool)
        )
        out = np.empty(len(ij), object)
        out[known] = lev.geom[pos[known]]
        if (~known).any():
            out[~known] = self._geom_text(ij[~known], size)
        return out

    # ------------------------------------------------------------ queries
    def _level(self, size: float) -> _Level:
        try:
            return self._levels[size]
        except KeyError:
            raise InputError(
                f"cell size {size:g} m is not served; use one of {CELL_SIZES}"
            ) from None

    def _selectors(
        self,
        categories: frozenset[str] | None,
        force: str | None,
        weights: Mapping[str, float] | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return selectors(categories, force, self.forces, weights)

    def _window_sums(
        self,
        lev: _Level,
        pos: np.ndarray,
        cats: np.ndarray,
        fs: np.ndarray,
        w: np.ndarray,
        start: int | None,
        end: int | None,
    ) -> np.ndarray:
        """Sum over months [start, end] and the selected (force, category) for cells ``pos``."""
        if len(pos) == 0 or len(cats) == 0 or len(fs) == 0:
            return np.zeros(len(pos))
        lo_m = 0 if start is None else max(int(start), 0)
        hi_m = (1 << _MB) - 1 if end is None else min(int(end), (1 << _MB) - 1)
        if hi_m < lo_m:
            return np.zeros(len(pos))
        fc = ((fs[:, None] << (_KB + _MB)) | (cats[None, :] << _MB)).ravel()  # (F*C,)
        base = (lev.cells[pos][:, None] << _FCM) | fc[None, :]  # (n, F*C)
        lo = np.searchsorted(lev.keys, base + lo_m)
        hi = np.searchsorted(lev.keys, base + hi_m + 1)
        sums = lev.csum[hi] - lev.csum[lo]
        wt = np.tile(w[cats], len(fs))
        return np.asarray(sums @ wt, float)

    def aggregate(
        self,
        size: float,
        *,
        categories: frozenset[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        force: str | None = None,
        weights: Mapping[str, float] | None = None,
        xy_bbox: tuple[float, float, float, float] | None = None,
    ) -> Aggregate:
        """Sum per cell of side ``size`` over the filter: cells meeting ``xy_bbox`` (or all)."""
        lev = self._level(size)
        if xy_bbox is None:
            pos = np.arange(len(lev.cells))
        else:
            x0, y0, x1, y1 = xy_bbox
            i, j = lev.ij[:, 0], lev.ij[:, 1]
            pos = np.flatnonzero(
                (i * size <= x1)
                & ((i + 1) * size >= x0)
                & (j * size <= y1)
                & ((j + 1) * size >= y0)
            )
        cats, fs, w = self._selectors(categories, force, weights)
        val = self._window_sums(lev, pos, cats, fs, w, start, end)
        keep = val != 0
        pos = pos[keep]
        return Aggregate(size, lev.ij[pos], val[keep], lev.geom[pos])

    def series(
        self,
        *,
        cells: tuple[float, int, int] | None = None,
        xy_bbox: tuple[float, float, float, float] | None = None,
        categories: frozenset[str] | None = None,
        force: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Monthly totals (month indices, values) for one cell or the base cells centred in a bbox."""
        months = self._months
        if cells is not None:
            size, i, j = cells
            lev = self._level(size)
            c = _pack_cell(np.array([i]), np.array([j]))[0]
            p = int(np.searchsorted(lev.cells, c))
            if p >= len(lev.cells) or lev.cells[p] != c:
                return months, np.zeros(len(months))
            pos = np.array([p])
        else:
            lev = self._level(BASE_CELL_M)
            if xy_bbox is None:
                pos = np.arange(len(lev.cells))
            else:
                x0, y0, x1, y1 = xy_bbox
                cx = (lev.ij[:, 0] + 0.5) * BASE_CELL_M
                cy = (lev.ij[:, 1] + 0.5) * BASE_CELL_M
                pos = np.flatnonzero((cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1))
        cats, fs, w = self._selectors(categories, force, weights)
        vals = np.array(
            [self._window_sums(lev, pos, cats, fs, w, int(m), int(m)).sum() for m in months]
        )
        return months, vals

    def n_cells(self, size: float) -> int:
        """Number of cells with any incident at this size (grows when new cells appear)."""
        return len(self._level(size).cells)

    def study(self, size: float, force: str | None = None) -> np.ndarray:
        """Positions (in the level) of the study cells: any incident of the force, ever."""
        lev = self._level(size)
        _, fs, _ = self._selectors(None, force, None)
        ok = np.zeros(_MAX_FORCES, bool)
        ok[fs] = True
        return np.unique(lev.row_cell[ok[lev.row_force]])

    def cells_at(self, size: float, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(n, 2)`` and polygon text of level cells at ``pos``."""
        lev = self._level(size)
        return lev.ij[pos], lev.geom[pos]

    def _row_mask(
        self, lev: _Level, cats: np.ndarray, fs: np.ndarray, start: int | None, end: int | None
    ) -> np.ndarray:
        fok = np.zeros(_MAX_FORCES, bool)
        fok[fs] = True
        cok = np.zeros(1 << _KB, bool)
        cok[cats] = True
        m = fok[lev.row_force] & cok[lev.row_cat]
        if start is not None:
            m &= lev.row_month >= start
        if end is not None:
            m &= lev.row_month <= end
        return m

    def totals(
        self,
        size: float,
        pos: np.ndarray,
        *,
        categories: frozenset[str] | None = None,
        force: str | None = None,
        weights: Mapping[str, float] | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> np.ndarray:
        """Window totals of the level cells ``pos`` (sorted), zeros included."""
        lev = self._level(size)
        cats, fs, w = self._selectors(categories, force, weights)
        m = self._row_mask(lev, cats, fs, start, end)
        vals = lev.counts[m] if weights is None else lev.counts[m] * w[lev.row_cat[m]]
        full = np.bincount(lev.row_cell[m], weights=vals, minlength=len(lev.cells))
        return full[pos]

    def cube(
        self,
        size: float,
        pos: np.ndarray,
        *,
        categories: frozenset[str] | None = None,
        force: str | None = None,
        weights: Mapping[str, float] | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Months ``(t,)`` with data in the window and counts ``(len(pos), t)`` of cells ``pos``."""
        lev = self._level(size)
        cats, fs, w = self._selectors(categories, force, weights)
        months = self._months
        if start is not None:
            months = months[months >= start]
        if end is not None:
            months = months[months <= end]
        m = self._row_mask(lev, cats, fs, start, end)
        where = np.full(len(lev.cells), -1, np.int64)
        where[pos] = np.arange(len(pos))
        spos = where[lev.row_cell[m]]
        keep = spos >= 0
        tpos = np.searchsorted(months, lev.row_month[m][keep])
        out = np.zeros((len(pos), len(months)))
        np.add.at(out, (spos[keep], tpos), (lev.counts[m] * w[lev.row_cat[m]])[keep])
        return months, out

    def study_cells(self, size: float, force: str | None = None) -> np.ndarray:
        """Every cell of side ``size`` with at least one incident ever (the study area)."""
        return self._level(size).ij[self.study(size, force)]
