"""In-memory counts per named unit (H3 cell, LSOA, grid cell), force, category and time bin.

The grid index (:mod:`crimemap.api._cells`) relies on cells being integer
pairs; H3 cells and LSOAs are named, so this index gives each unit a
position (in order of first appearance) and keeps one row per (unit, force,
category, time bin) sorted by a packed int64 key with the running sum of the
counts, exactly like the grid index: any window's count of any unit is two
binary searches and a subtraction. Time bins are opaque integers below
``2**TIME_BITS`` (month indices, or hours with a precision flag: see
:mod:`crimemap.api._units`). Updates build a new immutable snapshot and swap
it in, so readers never lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from crimemap.api._cells import selectors
from crimemap.errors import InputError
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = ["TIME_BITS", "UnitIndex"]

#: Bits of the time field; force and category fields as in the grid index.
TIME_BITS = 22
_KB, _FB = 4, 5
_LOW = TIME_BITS + _KB + _FB
_MAX_FORCES = 1 << _FB
_N_CAT = len(CATEGORY_SLUGS) + 1  # + "unknown"
_CAT_POS = {c: k for k, c in enumerate(CATEGORY_SLUGS)}

#: ``describe(new unit ids) -> (polygon coordinate texts or None, (k, 4) WGS84 bounds)``.
Describe = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class _Snap:
    ids: np.ndarray  # (n,) object: unit ids by position
    geom: np.ndarray  # (n,) object: GeoJSON polygon coordinates text, or None
    bounds: np.ndarray  # (n, 4) WGS84 w, s, e, n (NaN without a polygon)
    keys: np.ndarray  # (R,) sorted packed keys
    csum: np.ndarray  # (R + 1,)
    counts: np.ndarray  # (R,)
    row_unit: np.ndarray
    row_force: np.ndarray
    row_cat: np.ndarray
    row_time: np.ndarray


def _empty() -> _Snap:
    e = np.zeros(0, np.int64)
    return _Snap(
        np.zeros(0, object), np.zeros(0, object), np.zeros((0, 4)), e, np.zeros(1), np.zeros(0),
        e, e, e, e,
    )  # fmt: skip


class UnitIndex:
    """Counts per (named unit, force, category, time bin).

    Parameters
    ----------
    describe : callable
        Geometry of new units: ``describe(ids) -> (coordinates text, bounds)``.
    """

    def __init__(self, describe: Describe) -> None:
        self._describe = describe
        self._lock = threading.Lock()
        self._pos: dict[str, int] = {}
        self.forces: list[str] = []
        self._snap = _empty()

    def __len__(self) -> int:
        return len(self._snap.ids)

    # ----------------------------------------------------------- building
    def add(
        self,
        units: tuple[np.ndarray, np.ndarray],
        forces: tuple[np.ndarray, np.ndarray],
        categories: tuple[np.ndarray, np.ndarray],
        times: np.ndarray,
        n: np.ndarray,
    ) -> None:
        """Merge counts, one entry per row (repeated keys are summed).

        ``units``, ``forces`` and ``categories`` are factors: (distinct values,
        code of each row), so the per-row work stays in NumPy.
        """
        t = np.asarray(times, np.int64)
        if len(t) == 0:
            return
        if t.min() < 0 or t.max() >= 1 << TIME_BITS:
            raise InputError("incident times must fall between 1970 and 2140")
        with self._lock:
            snap = self._snap
            for f in forces[0]:
                if f not in self.forces:
                    if len(self.forces) >= _MAX_FORCES:
                        raise InputError(f"the map serves at most {_MAX_FORCES} forces")
                    self.forces.append(str(f))
            fresh = [str(u) for u in units[0] if u not in self._pos]
            ids, geom, bounds = snap.ids, snap.geom, snap.bounds
            if fresh:
                new_ids = np.asarray(fresh, dtype=object)
                g, b = self._describe(new_ids)
                for k, u in enumerate(fresh, start=len(ids)):
                    self._pos[u] = k
                ids = np.concatenate([ids, new_ids])
                geom = np.concatenate([geom, np.asarray(g, dtype=object)])
                bounds = np.concatenate([bounds, np.asarray(b, float).reshape(-1, 4)])
            u_map = np.array([self._pos[str(u)] for u in units[0]], np.int64)
            f_map = np.array([self.forces.index(str(f)) for f in forces[0]], np.int64)
            c_map = np.array([_CAT_POS.get(str(c), _N_CAT - 1) for c in categories[0]], np.int64)
            keys = (
                (u_map[units[1]] << _LOW)
                | (f_map[forces[1]] << (_KB + TIME_BITS))
                | (c_map[categories[1]] << TIME_BITS)
                | t
            )
            self._snap = self._merge(snap, ids, geom, bounds, keys, np.asarray(n, float))

    @staticmethod
    def _merge(
        s: _Snap,
        ids: np.ndarray,
        geom: np.ndarray,
        bounds: np.ndarray,
        keys: np.ndarray,
        n: np.ndarray,
    ) -> _Snap:
        uk, inv = np.unique(keys, return_inverse=True)
        un = np.bincount(inv.ravel(), weights=n, minlength=len(uk))
        pos = np.searchsorted(s.keys, uk)
        hit = pos < len(s.keys)
        hit[hit] = s.keys[pos[hit]] == uk[hit]
        counts = s.counts.copy()
        np.add.at(counts, pos[hit], un[hit])
        new_keys = np.insert(s.keys, pos[~hit], uk[~hit])
        new_counts = np.insert(counts, pos[~hit], un[~hit])
        return _Snap(
            ids,
            geom,
            bounds,
            new_keys,
            np.concatenate([[0.0], np.cumsum(new_counts)]),
            new_counts,
            new_keys >> _LOW,
            (new_keys >> (_KB + TIME_BITS)) & (_MAX_FORCES - 1),
            (new_keys >> TIME_BITS) & ((1 << _KB) - 1),
            new_keys & ((1 << TIME_BITS) - 1),
        )

    # ------------------------------------------------------------ lookups
    @property
    def ids(self) -> np.ndarray:
        """Unit ids by position."""
        return self._snap.ids

    def geometry(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Polygon coordinates text and WGS84 bounds of units ``pos``."""
        s = self._snap
        return s.geom[pos], s.bounds[pos]

    def find(self, unit: str) -> int | None:
        """Position of a unit id (None if it holds no incident)."""
        return self._pos.get(unit)

    def times(self) -> np.ndarray:
        """Time bins present (sorted)."""
        return np.unique(self._snap.row_time)

    def in_bbox(self, bbox: tuple[float, float, float, float] | None) -> np.ndarray:
        """Positions of units with a polygon meeting the WGS84 bbox (every unit when None)."""
        s = self._snap
        if bbox is None:
            return np.arange(len(s.ids))
        w, so, e, n = bbox
        b = s.bounds
        with np.errstate(invalid="ignore"):
            ok = (b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= so)
        return np.flatnonzero(ok)

    def undrawn(self) -> np.ndarray:
        """Positions of units without a polygon (counted, never drawn)."""
        return np.flatnonzero(~np.isfinite(self._snap.bounds).all(axis=1))

    # ------------------------------------------------------------ queries
    def _selectors(
        self,
        categories: frozenset[str] | None,
        force: str | None,
        weights: Mapping[str, float] | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return selectors(categories, force, self.forces, weights)

    def sums(
        self,
        pos: np.ndarray,
        *,
        categories: frozenset[str] | None,
        force: str | None,
        weights: Mapping[str, float] | None,
        lo: int,
        hi: int,
        row_ok: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Totals of units ``pos`` over time bins ``[lo, hi)`` (and rows where ``row_ok(time)``)."""
        s = self._snap
        pos = np.asarray(pos, np.int64)
        cats, fs, w = self._selectors(categories, force, weights)
        lo, hi = max(int(lo), 0), min(int(hi), 1 << TIME_BITS)
        if len(pos) == 0 or len(cats) == 0 or len(fs) == 0 or hi <= lo:
            return np.zeros(len(pos))
        if row_ok is None:
            fc = ((fs[:, None] << (_KB + TIME_BITS)) | (cats[None, :] << TIME_BITS)).ravel()
            base = (pos[:, None] << _LOW) | fc[None, :]
            a = np.searchsorted(s.keys, base + lo)
            b = np.searchsorted(s.keys, base + hi)
            return np.asarray((s.csum[b] - s.csum[a]) @ np.tile(w[cats], len(fs)), float)
        m = self._mask(s, cats, fs, lo, hi) & row_ok(s.row_time)
        where = np.full(len(s.ids), -1, np.int64)
        where[pos] = np.arange(len(pos))
        p = where[s.row_unit[m]]
        keep = p >= 0
        vals = (s.counts[m] * w[s.row_cat[m]])[keep]
        return np.bincount(p[keep], weights=vals, minlength=len(pos))

    @staticmethod
    def _mask(s: _Snap, cats: np.ndarray, fs: np.ndarray, lo: int, hi: int) -> np.ndarray:
        fok = np.zeros(_MAX_FORCES, bool)
        fok[fs] = True
        cok = np.zeros(1 << _KB, bool)
        cok[cats] = True
        return fok[s.row_force] & cok[s.row_cat] & (s.row_time >= lo) & (s.row_time < hi)

    def series(
        self,
        pos: np.ndarray | None,
        *,
        categories: frozenset[str] | None,
        force: str | None,
        weights: Mapping[str, float] | None,
        lo: int,
        hi: int,
        row_ok: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Time bins with data and totals per bin of units ``pos`` (every unit when None)."""
        s = self._snap
        cats, fs, w = self._selectors(categories, force, weights)
        m = self._mask(s, cats, fs, max(int(lo), 0), min(int(hi), 1 << TIME_BITS))
        if row_ok is not None:
            m &= row_ok(s.row_time)
        if pos is not None:
            m &= np.isin(s.row_unit, np.asarray(pos, np.int64))
        t, inv = np.unique(s.row_time[m], return_inverse=True)
        v = np.bincount(inv.ravel(), weights=s.counts[m] * w[s.row_cat[m]], minlength=len(t))
        return t, v
