from __future__ import annotations

import h3
import numpy as np
import pytest

from crimemap.errors import InputError
from crimemap.spatial.h3units import h3_cube, h3_index, h3_units
from crimemap.spatial.weights import h3_kring
from crimemap.table import IncidentTable


def _inc(lon, lat, months=None):
    n = len(lon)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(lon, lat)
    t = np.array(months or ["2024-01-01"] * n, dtype="datetime64[s]")
    return IncidentTable.from_columns(
        category=["burglary"] * n, t_start=t, lon=list(lon), lat=list(lat), x=list(x), y=list(y)
    )


def test_units_index_and_cube() -> None:
    lon = np.array([-1.6131, -1.6132, -1.50, -1.6131])
    lat = np.array([54.9783, 54.9784, 54.90, 54.9783])
    inc = _inc(lon, lat, ["2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01"])
    u = h3_units(inc, 9)
    assert u.kind == "h3" and all(h3.get_resolution(c) == 9 for c in u.ids)
    pos = h3_index(u, inc)
    assert (pos >= 0).all() and pos[0] == pos[3]
    cube = h3_cube(inc, u)
    assert cube.counts.sum() == 4 and cube.counts.shape == (len(u), 2)
    # Centroids are in British National Grid metres near Newcastle.
    assert 400_000 < u.centroids[0, 0] < 450_000 and 500_000 < u.centroids[0, 1] < 600_000
    assert u.areas[0] == pytest.approx(h3.cell_area(u.ids[0], unit="m^2"))
    with pytest.raises(InputError):
        h3_cube(inc, u, freq="D")


def test_kring_weights_match_h3() -> None:
    centre = h3.latlng_to_cell(54.97, -1.61, 9)
    cells = sorted(h3.grid_disk(centre, 2))
    lat_lon = np.array([h3.cell_to_latlng(c) for c in cells])
    u = h3_units(_inc(lat_lon[:, 1], lat_lon[:, 0]), 9)
    assert sorted(u.ids) == cells
    w = h3_kring(u, 1)
    i = u.position(np.array([centre], dtype=object))[0]
    assert w[i].nnz == 6
    assert (w != w.T).nnz == 0


def test_real_extract(northumbria_month_h3) -> None:
    inc, u = northumbria_month_h3
    pos = h3_index(u, inc)
    assert (pos >= 0).mean() > 0.99


def test_daily_and_hourly_bins_on_exact_times() -> None:
    lon = np.array([-1.6131, -1.6131, -1.50])
    lat = np.array([54.9783, 54.9783, 54.90])
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(lon, lat)
    t = np.array(
        ["2016-03-01T10:05", "2016-03-01T11:40", "2016-03-03T23:59"], dtype="datetime64[s]"
    )
    inc = IncidentTable.from_columns(
        category=["burglary"] * 3,
        t_start=t,
        t_precision=["minute"] * 3,
        lon=list(lon),
        lat=list(lat),
        x=list(x),
        y=list(y),
    )
    u = h3_units(inc, 10)
    day = h3_cube(inc, u, freq="D")
    assert day.counts.shape == (2, 3) and day.counts.sum() == 3
    hour = h3_cube(inc, u, freq="h")
    assert hour.counts.shape[1] == 62 and hour.counts.sum() == 3
