"""H3 hexagon and LSOA count layers, and day/hour counts, for the map.

Units
-----
* ``grid``: the aligned British National Grid cells of :mod:`crimemap.api._cells`
  (ids ``g<size>:<i>:<j>``); month windows come from the grid index there.
* ``h3``: H3 v4 hexagons at resolutions 8-10 (ids ``h3:<cell>``), assigned
  from each incident's WGS84 point (:func:`h3.latlng_to_cell`, the rule of
  :mod:`crimemap.spatial.h3units`).
* ``lsoa``: LSOAs by the incidents' own ``lsoa`` column (ids ``lsoa:<code>``),
  so unlocated records with a published LSOA still count for their area;
  polygons come from the GeoJSON configured for the outlines
  (``Settings.lsoa_geojson_dir``). LSOAs without a polygon there are counted
  (``meta.undrawn``) but cannot be drawn.

Time
----
Month windows use month indices. Day and hour windows use a separate *fine*
index of the incidents timed to the day or minute only (month-only records,
e.g. police.uk, are never spread into days); its time field is
``hour * 2 + exact`` where ``exact`` is 1 for minute-precision records, so an
hour-of-day filter counts only records that have an hour.

Every index is built once per process and updated incrementally after an
upload (:meth:`UnitLayers.add_files`), like the grid index.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crimemap.api._cellids import CELL_SIZES
from crimemap.api._cells import CellIndex
from crimemap.api._layers import Filter
from crimemap.api._outlines import lsoa_outlines
from crimemap.api._timebins import fine_note, hours_since_epoch, is_fine, time_resolution, window
from crimemap.api._unit_queries import fine_incidents, unit_month_counts
from crimemap.api._unitindex import UnitIndex
from crimemap.errors import InputError, NotFoundError
from crimemap.spatial.h3units import H3_RESOLUTIONS
from crimemap.store import Store

__all__ = [
    "H3_SERVED",
    "UNIT_KINDS",
    "UnitLayer",
    "UnitLayers",
    "Unit",
    "h3_resolution_for",
    "parse_unit_id",
    "is_fine",
    "render_units_geojson",
]

UNIT_KINDS = ("grid", "h3", "lsoa")
#: H3 resolutions served by the map (8: edge ~530 m, 9: ~200 m, 10: ~76 m).
H3_SERVED = tuple(r for r in (8, 9, 10) if r in H3_RESOLUTIONS)
_H3_EDGE_M = {8: 531.4, 9: 200.8, 10: 75.9}


@dataclass(frozen=True)
class Unit:
    """A unit kind and its level: grid cell side (m), H3 resolution, or 0 for LSOAs."""

    kind: str
    level: float

    @property
    def label(self) -> str:
        """Legend text of the unit."""
        if self.kind == "grid":
            s = self.level
            return f"{s / 1000:g} km cells" if s >= 1000 else f"{s:g} m cells"
        if self.kind == "h3":
            return f"H3 hexagons, resolution {int(self.level)}"
        return "LSOAs"


def _factor(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a string column and each row's code (dictionary encoding)."""
    enc = pc.dictionary_encode(col).combine_chunks()
    return (
        np.asarray(enc.dictionary.to_pylist(), object),
        enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
    )


def h3_resolution_for(zoom: float) -> int:
    """H3 resolution for a web-map zoom: a hexagon of at least ~16 px across."""
    metres_per_px = 40_075_016.0 * 0.6 / (256.0 * 2.0 ** max(zoom, 0.0))
    want = metres_per_px * 16.0
    for r in sorted(H3_SERVED, reverse=True):
        if 2 * _H3_EDGE_M[r] >= want:
            return r
    return min(H3_SERVED)


def parse_unit_id(unit_id: str) -> Unit:
    """``h3:<cell>`` -> Unit("h3", res); ``lsoa:<code>`` -> Unit("lsoa", 0)."""
    import h3

    kind, _, rest = unit_id.partition(":")
    if kind == "h3" and rest and h3.is_valid_cell(rest):
        res = h3.get_resolution(rest)
        if res not in H3_SERVED:
            raise InputError(f"H3 resolution {res} is not served; use one of {H3_SERVED}")
        return Unit("h3", float(res))
    if kind == "lsoa" and rest:
        return Unit("lsoa", 0.0)
    raise InputError(f"bad unit id {unit_id!r}; expected g<size>:<i>:<j>, h3:<cell> or lsoa:<code>")


@dataclass(frozen=True, eq=False)
class UnitLayer:
    """Counts per named unit (ids, GeoJSON geometry texts, WGS84 bounds)."""

    unit: Unit
    ids: np.ndarray
    geom: np.ndarray
    bounds: np.ndarray
    value: np.ndarray
    meta: dict[str, Any]


def _ring_text(lonlat: np.ndarray) -> str:
    return "[" + ",".join(f"[{x:.6f},{y:.6f}]" for x, y in lonlat) + "]"


def _h3_describe(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import h3

    geom = np.empty(len(ids), object)
    bounds = np.empty((len(ids), 4))
    for k, u in enumerate(ids):
        ll = np.asarray(h3.cell_to_boundary(str(u)[3:]))[:, ::-1]  # (lat, lng) -> (lon, lat)
        ring = np.vstack([ll, ll[:1]])
        geom[k] = '{"type":"Polygon","coordinates":[' + _ring_text(ring) + "]}"
        bounds[k] = (ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max())
    return geom, bounds


def _grid_describe(cells: CellIndex, size: float) -> Callable[[np.ndarray], Any]:
    def describe(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ij = np.array([[int(v) for v in str(u).split(":")[1:]] for u in ids], np.int64)
        rings = cells.rings(ij.reshape(-1, 2), size)
        geom = np.empty(len(ids), object)
        geom[:] = ['{"type":"Polygon","coordinates":[' + _ring_text(r) + "]}" for r in rings]
        b = np.column_stack(
            [
                rings[:, :, 0].min(1),
                rings[:, :, 1].min(1),
                rings[:, :, 0].max(1),
                rings[:, :, 1].max(1),
            ]
        )
        return geom, b

    return describe


class UnitLayers:
    """Every H3/LSOA index (by month) and every fine (day/hour) index of one API process.

    Parameters
    ----------
    cells : CellIndex
        The grid index (its CRS and cell outlines).
    lsoa_source : Path, optional
        LSOA GeoJSON file or folder (polygons of the LSOA layer).
    """

    def __init__(self, cells: CellIndex, lsoa_source: Path | None) -> None:
        self.cells = cells
        self.lsoa_source = lsoa_source
        self._lsoa_geo: dict[str, tuple[str, tuple[float, ...]]] | None = None
        self._lock = threading.Lock()
        self.month: dict[Unit, UnitIndex] = {
            Unit("h3", float(r)): UnitIndex(_h3_describe) for r in H3_SERVED
        }
        self.month[Unit("lsoa", 0.0)] = UnitIndex(self._lsoa_describe)
        self.fine: dict[Unit, UnitIndex] = {
            Unit("grid", s): UnitIndex(_grid_describe(cells, s)) for s in CELL_SIZES
        }
        for u in self.month:
            self.fine[u] = UnitIndex(_h3_describe if u.kind == "h3" else self._lsoa_describe)

    # ------------------------------------------------------------ building
    def _lsoa_describe(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._lsoa_geo is None:
            geo: dict[str, tuple[str, tuple[float, ...]]] = {}
            if self.lsoa_source is not None:
                import shapely

                for feat in lsoa_outlines(self.lsoa_source)["features"]:
                    g = shapely.from_geojson(json.dumps(feat["geometry"]))
                    geo[str(feat["properties"]["lsoa"])] = (
                        json.dumps(feat["geometry"], separators=(",", ":")),
                        tuple(float(v) for v in shapely.bounds(g)),
                    )
            self._lsoa_geo = geo
        geom = np.empty(len(ids), object)
        bounds = np.full((len(ids), 4), np.nan)
        for k, u in enumerate(ids):
            hit = self._lsoa_geo.get(str(u)[5:])
            if hit is not None:
                geom[k], bounds[k] = hit[0], hit[1]
        return geom, bounds

    def add_store(
        self,
        store: Store,
        *,
        file_ids: list[int] | None = None,
        max_file_id: int | None = None,
    ) -> None:
        """Count the store's incidents (those of ``file_ids``, or of files up to
        ``max_file_id``) into every index."""
        with self._lock:
            self._add_month(unit_month_counts(store, file_ids=file_ids, max_file_id=max_file_id))
            self._add_fine(fine_incidents(store, file_ids=file_ids, max_file_id=max_file_id))

    def _add_month(self, t: pa.Table) -> None:
        if t.num_rows == 0:
            return
        month = (
            (t["yr"].to_numpy().astype(np.int64) - 1970) * 12
            + t["mo"].to_numpy().astype(np.int64)
            - 1
        )
        self._add(self.month, t, month)

    def _add_fine(self, t: pa.Table) -> None:
        if t.num_rows == 0:
            return
        hours = hours_since_epoch(t["t_start"].to_numpy(zero_copy_only=False))
        exact = np.asarray(t["t_precision"].to_numpy(zero_copy_only=False) == "minute", np.int64)
        # Day-precision records sit at midnight with exact = 0 (no hour of day).
        hours = np.where(exact == 1, hours, (hours // 24) * 24)
        times = hours * 2 + exact
        t = t.append_column("n", pa.array(np.ones(t.num_rows)))
        self._add(self.fine, t, times)
        # Grid cells (main CRS only, as the grid index).
        x = t["x"].to_numpy(zero_copy_only=False).astype(float)
        y = t["y"].to_numpy(zero_copy_only=False).astype(float)
        crs = np.asarray(t["crs"].to_numpy(zero_copy_only=False), float)
        ok = np.isfinite(x) & np.isfinite(y) & (crs == self.cells.crs)
        if not ok.any():
            return
        sub = t.filter(pa.array(ok))
        forces, cats = _factor(sub["force"]), _factor(sub["category"])
        for size in CELL_SIZES:
            ij = np.column_stack([np.floor(x[ok] / size), np.floor(y[ok] / size)]).astype(np.int64)
            uij, inv = np.unique(ij, axis=0, return_inverse=True)
            ids = np.array([f"g{size:g}:{a}:{b}" for a, b in uij], object)
            self.fine[Unit("grid", size)].add(
                (ids, inv.ravel()), forces, cats, times[ok], np.ones(len(ij))
            )

    def _add(self, target: dict[Unit, UnitIndex], t: pa.Table, times: np.ndarray) -> None:
        import h3

        n = t["n"].to_numpy().astype(float)
        lon = t["lon"].to_numpy(zero_copy_only=False).astype(float)
        lat = t["lat"].to_numpy(zero_copy_only=False).astype(float)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if ok.any():
            sub = t.filter(pa.array(ok))
            forces, cats = _factor(sub["force"]), _factor(sub["category"])
            # police.uk snaps to a few thousand points: index each distinct point once.
            pts, inv = np.unique(np.column_stack([lon[ok], lat[ok]]), axis=0, return_inverse=True)
            for r in H3_SERVED:
                cells = np.array([h3.latlng_to_cell(b, a, r) for a, b in pts], object)
                uc, cinv = np.unique(cells, return_inverse=True)
                ids = np.array(["h3:" + c for c in uc], object)
                target[Unit("h3", float(r))].add(
                    (ids, cinv.ravel()[inv.ravel()]), forces, cats, times[ok], n[ok]
                )
        has = pc.is_valid(t["lsoa"]).to_numpy(zero_copy_only=False)
        if has.any():
            sub = t.filter(pa.array(has))
            codes, cinv = _factor(sub["lsoa"])
            ids = np.array(["lsoa:" + str(c) for c in codes], object)
            target[Unit("lsoa", 0.0)].add(
                (ids, cinv),
                _factor(sub["force"]),
                _factor(sub["category"]),
                times[has],
                n[has],
            )

    # ------------------------------------------------------------- queries
    def index_for(self, unit: Unit, f: Filter) -> UnitIndex:
        """The index serving ``unit`` for filter ``f`` (fine when it has a day/hour window)."""
        if unit.kind == "lsoa" and self.lsoa_source is None:
            raise NotFoundError("no LSOA boundaries configured (set CRIMEMAP_LSOA_GEOJSON_DIR)")
        book = self.fine if is_fine(f) else self.month
        if unit not in book:
            raise InputError(f"unit {unit.kind} {unit.level:g} is not served")
        return book[unit]

    def layer(
        self, unit: Unit, f: Filter, bbox: tuple[float, float, float, float] | None
    ) -> UnitLayer:
        """Count (or harm) per unit meeting the WGS84 bbox (units with none are left out)."""
        idx = self.index_for(unit, f)
        pos = idx.in_bbox(bbox)
        lo, hi, row_ok = window(f)
        val = idx.sums(
            pos,
            categories=f.categories,
            force=f.force,
            weights=f.weights,
            lo=lo,
            hi=hi,
            row_ok=row_ok,
        )
        keep = val != 0
        pos, val = pos[keep], val[keep]
        geom, bounds = idx.geometry(pos)
        meta: dict[str, Any] = {
            "measure": f.measure,
            "unit": "harm (CSS custody-days)" if f.measure == "harm" else "incidents",
            "unit_kind": unit.kind,
            "unit_label": unit.label,
            "time_resolution": time_resolution(f),
        }
        if unit.kind == "h3":
            meta["resolution"] = int(unit.level)
        if unit.kind == "grid":
            meta["cell_size_m"] = unit.level
        if unit.kind == "lsoa":
            meta["note"] = "counts by the incidents' LSOA code, unlocated records included"
        if is_fine(f):
            meta["time_note"] = fine_note(f)
        if unit.kind == "lsoa":
            # Counted, but no polygon in the configured boundaries (e.g. 2021 codes on 2011 maps).
            uv = idx.sums(
                idx.undrawn(), categories=f.categories, force=f.force, weights=f.weights,
                lo=lo, hi=hi, row_ok=row_ok,
            )  # fmt: skip
            meta["undrawn"] = {"units": int((uv != 0).sum()), "value": float(uv.sum())}
        return UnitLayer(unit, idx.ids[pos], geom, bounds, val, meta)


def render_units_geojson(layer: UnitLayer, bbox: tuple[float, float, float, float] | None) -> str:
    """GeoJSON FeatureCollection of a unit layer (units meeting the WGS84 bbox, drawable only)."""
    b = layer.bounds
    if bbox is None:
        keep = np.isfinite(b).all(axis=1)
    else:
        w, s, e, n = bbox
        with np.errstate(invalid="ignore"):
            keep = (b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s)
    idx = np.flatnonzero(keep)
    feats = [
        f'{{"type":"Feature","id":{k},"geometry":{layer.geom[r]},'
        f'"properties":{{"id":{json.dumps(str(layer.ids[r]))},"value":{float(layer.value[r]):.6g}}}}}'
        for k, r in enumerate(idx)
    ]
    v = layer.value[idx]
    meta = dict(layer.meta)
    meta.update(
        {
            "cells": len(idx),
            "max": float(v.max()) if len(v) else 0.0,
            "layer_max": float(layer.value.max()) if len(layer.value) else 0.0,
        }
    )
    return (
        f'{{"type":"FeatureCollection","meta":{json.dumps(meta)},"features":[{",".join(feats)}]}}'
    )
