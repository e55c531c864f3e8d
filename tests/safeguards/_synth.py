"""Shared synthetic inputs for the bias-audit tests (two square LSOAs, IMD rows)."""

from __future__ import annotations

import numpy as np

from crimemap.spatial.covariates import LsoaCovariates
from crimemap.spatial.lsoa import LsoaPolygons
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable


def two_polys() -> LsoaPolygons:
    import shapely

    g = np.array([shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)], dtype=object)
    units = Units(
        kind="lsoa",
        ids=np.array(["E01000001", "E01000002"], dtype=object),
        centroids=np.array([[500.0, 500.0], [1500.0, 500.0]]),
        areas=np.array([1e6, 1e6]),
    )
    return LsoaPolygons(units=units, names=units.ids.copy(), geoms=g)


def two_imd() -> LsoaCovariates:
    names = ("imd_rank", "imd_decile", "population")
    vals = np.array([[10.0, 1.0, 1200.0], [30000.0, 10.0, 800.0]])
    return LsoaCovariates(np.array(["E01000001", "E01000002"]), names, vals)


def make_inc(xs, ys, codes, months=None, cats=None):
    n = len(xs)
    return IncidentTable.from_columns(
        category=cats or ["burglary"] * n,
        t_start=months or ["2024-01-01"] * n,
        t_precision=["month"] * n,
        x=xs,
        y=ys,
        lsoa=codes,
        source=["t"] * n,
        force=["f"] * n,
        file_id=[1] * n,
        row_no=list(range(2, n + 2)),
    )


def synthetic_incidents(seed=0, months=14):
    rng = np.random.default_rng(seed)
    xs, ys, codes, ts, cats = [], [], [], [], []
    for m in range(months):
        month = f"{2023 + (m // 12)}-{m % 12 + 1:02d}-01"
        n = 300
        # more crime in the deprived west (LSOA 1)
        west = rng.random(n) < 0.7
        x = np.where(west, rng.uniform(0, 1000, n), rng.uniform(1000, 2000, n))
        y = rng.uniform(0, 1000, n)
        xs += x.tolist()
        ys += y.tolist()
        codes += np.where(west, "E01000001", "E01099999").tolist()
        ts += [month] * n
        cats += rng.choice(["burglary", "drugs", "violent-crime"], n, p=[0.4, 0.2, 0.4]).tolist()
    return make_inc(xs, ys, codes, ts, cats)
