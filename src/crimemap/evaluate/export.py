"""Tool-neutral export of back-test predictions and forecast surfaces.

One table format serves both the per-origin predictions of a back-test and a
single forecast surface, so any tool (R, QGIS, a spreadsheet) can re-score
or map them. Columns, one row per (model, crime set, origin, horizon, cell):

========== ===========================================================
force      force (or city) label
crime_set  crime set name (``all-crime``, ``violence``, ...)
model      model label (registry name, plus parameters if any)
origin     forecast origin: ``YYYY-MM`` (monthly) or ``YYYY-MM-DD``
horizon    1 = the period starting at the origin, 2 = the next, ...
cell_e     grid column ``floor(easting / cell_size)`` (250 m by default)
cell_n     grid row ``floor(northing / cell_size)``
score      expected count in the cell for that period
lo90, hi90 bounds of the model's 90 % band of the count (empty if none)
========== ===========================================================

The cell's south-west corner is ``(cell_e * size, cell_n * size)`` in the
data's projected CRS (EPSG:27700 for police.uk). Parquet files carry
``cell_size`` and ``crs`` in their schema metadata; CSV files rely on the
run's ``run.json``. The format is described in ``docs/metrics.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crimemap.errors import InputError
from crimemap.evaluate.results import BacktestResult, OriginResult
from crimemap.forecast.surface import RiskSurface

__all__ = [
    "EXPORT_COLUMNS",
    "predictions_frame",
    "surface_frame",
    "write_predictions",
    "write_surface",
    "write_surface_geojson",
    "read_predictions",
    "format_origin",
]

EXPORT_COLUMNS: tuple[str, ...] = (
    "force",
    "crime_set",
    "model",
    "origin",
    "horizon",
    "cell_e",
    "cell_n",
    "score",
    "lo90",
    "hi90",
)


def format_origin(t: np.datetime64, freq: str) -> str:
    """``YYYY-MM`` for monthly origins, ``YYYY-MM-DD`` otherwise."""
    unit = "datetime64[M]" if freq == "M" else "datetime64[D]"
    return str(np.array(t, dtype="datetime64[s]").astype(unit))


def _block(
    force: str,
    crime_set: str,
    model: str,
    origin: str,
    horizon: int,
    ij: np.ndarray,
    mean: np.ndarray,
    lo: np.ndarray | None,
    hi: np.ndarray | None,
) -> pd.DataFrame:
    n = len(mean)
    nan = np.full(n, np.nan)
    return pd.DataFrame(
        {
            "force": pd.Categorical([force] * n),
            "crime_set": pd.Categorical([crime_set] * n),
            "model": pd.Categorical([model] * n),
            "origin": pd.Categorical([origin] * n),
            "horizon": np.full(n, horizon, dtype=np.int16),
            "cell_e": np.asarray(ij[:, 0], dtype=np.int64),
            "cell_n": np.asarray(ij[:, 1], dtype=np.int64),
            "score": np.asarray(mean, float),
            "lo90": nan if lo is None else np.asarray(lo, float),
            "hi90": nan if hi is None else np.asarray(hi, float),
        }
    )


def predictions_frame(
    result: BacktestResult | Iterable[OriginResult], *, include_references: bool = True
) -> pd.DataFrame:
    """Every per-origin prediction of a back-test in the export format."""
    freq = result.config.freq if isinstance(result, BacktestResult) else "M"
    rows = result.results if isinstance(result, BacktestResult) else tuple(result)
    parts = [
        _block(
            r.force,
            r.crime_set,
            r.model,
            format_origin(r.origin, freq),
            r.horizon,
            r.ij,
            r.mean,
            r.lo90,
            r.hi90,
        )
        for r in rows
        if include_references or not r.reference
    ]
    if not parts:
        return pd.DataFrame({c: [] for c in EXPORT_COLUMNS})
    df = pd.concat(parts, ignore_index=True)
    for c in ("force", "crime_set", "model", "origin"):
        df[c] = df[c].astype(str)
    return df[list(EXPORT_COLUMNS)]


def surface_frame(
    surface: RiskSurface, *, force: str, crime_set: str, freq: str = "M", horizon: int = 1
) -> pd.DataFrame:
    """A single forecast surface in the export format (origin = window start)."""
    if surface.units.ij is None:
        raise InputError("export needs grid units (cell_e, cell_n)")
    df = _block(
        force,
        crime_set,
        surface.model,
        format_origin(surface.start, freq),
        horizon,
        surface.units.ij,
        surface.mean,
        surface.lo90,
        surface.hi90,
    )
    for c in ("force", "crime_set", "model", "origin"):
        df[c] = df[c].astype(str)
    return df


def _write(df: pd.DataFrame, path: Path, meta: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        table = pa.Table.from_pandas(df, preserve_index=False)
        md = dict(table.schema.metadata or {})
        md[b"crimemap"] = json.dumps(meta).encode()
        pq.write_table(table.replace_schema_metadata(md), path)
    elif name.endswith(".csv") or name.endswith(".csv.gz"):
        df.to_csv(path, index=False, na_rep="", float_format="%.6g")
    else:
        raise InputError(f"export file must end in .parquet, .csv or .csv.gz: {path}")
    return path


def write_predictions(
    result: BacktestResult, path: str | Path, *, include_references: bool = True
) -> Path:
    """Write a back-test's per-origin predictions (CSV or Parquet by suffix)."""
    meta = {
        "format": "crimemap-predictions/1",
        "cell_size": result.config.cell_size,
        "freq": result.config.freq,
        "crs": int(result.meta[0].get("crs", 27700)) if result.meta else 27700,
    }
    return _write(
        predictions_frame(result, include_references=include_references), Path(path), meta
    )


def write_surface(
    surface: RiskSurface, path: str | Path, *, force: str, crime_set: str, freq: str = "M"
) -> Path:
    """Write one forecast surface in the export format (CSV or Parquet)."""
    meta = {
        "format": "crimemap-predictions/1",
        "cell_size": surface.units.cell_size,
        "freq": freq,
        "crs": surface.units.crs,
        "window": [str(surface.start), str(surface.end)],
        "params": {k: _jsonable(v) for k, v in surface.params.items()},
    }
    df = surface_frame(surface, force=force, crime_set=crime_set, freq=freq)
    return _write(df, Path(path), meta)


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read an export file back (CSV or Parquet)."""
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"origin": str})


def write_surface_geojson(
    surface: RiskSurface, path: str | Path, *, force: str, crime_set: str
) -> Path:
    """GeoJSON (WGS84) of the cells with a positive score, as square polygons.

    Properties: ``cell_e``, ``cell_n``, ``score``, ``lo90``, ``hi90``,
    ``force``, ``crime_set``, ``model``, ``start``, ``end``.
    """
    from pyproj import Transformer

    units = surface.units
    if units.ij is None or units.cell_size is None:
        raise InputError("GeoJSON export needs grid units")
    keep = np.flatnonzero(surface.mean > 0)
    size = float(units.cell_size)
    ij = units.ij[keep].astype(float)
    # Corners SW, SE, NE, NW, SW of every kept cell, transformed in one call.
    dx = np.array([0, 1, 1, 0, 0], float)
    dy = np.array([0, 0, 1, 1, 0], float)
    xs = (ij[:, :1] + dx) * size
    ys = (ij[:, 1:2] + dy) * size
    tr = Transformer.from_crs(units.crs, 4326, always_xy=True)
    lon, lat = tr.transform(xs.ravel(), ys.ravel())
    lon = np.asarray(lon).reshape(xs.shape)
    lat = np.asarray(lat).reshape(xs.shape)
    feats = []
    for n, k in enumerate(keep):
        props = {
            "cell_e": int(units.ij[k, 0]),
            "cell_n": int(units.ij[k, 1]),
            "score": round(float(surface.mean[k]), 6),
            "lo90": None if surface.lo90 is None else float(surface.lo90[k]),
            "hi90": None if surface.hi90 is None else float(surface.hi90[k]),
        }
        ring = [
            [round(float(a), 7), round(float(b), 7)] for a, b in zip(lon[n], lat[n], strict=True)
        ]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        )
    doc = {
        "type": "FeatureCollection",
        "properties": {
            "force": force,
            "crime_set": crime_set,
            "model": surface.model,
            "start": str(surface.start),
            "end": str(surface.end),
            "cell_size": size,
            "crs": units.crs,
        },
        "features": feats,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path
