"""Route risk: hand-derived lengths, a shapely reference, buffer search, invariances."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from crimemap.allocate.route import parse_route, route_risk
from crimemap.errors import InputError
from tests.allocate._util import rect, surface

TO_LL = Transformer.from_crs(27700, 4326, always_xy=True)
TO_XY = Transformer.from_crs(4326, 27700, always_xy=True)
SIZE = 250.0
I0, J0 = 1700, 2200  # Newcastle-ish, in 250 m cells


def lonlat(xy):
    xy = np.asarray(xy, float)
    return np.column_stack(TO_LL.transform(xy[:, 0], xy[:, 1])).tolist()


def test_straight_line_through_three_cells():
    ij = rect(5, 3, I0, J0)
    mean = np.arange(1, len(ij) + 1, dtype=float)
    s = surface(ij, mean)
    y = (J0 + 1.5) * SIZE
    pts = [((I0 + 0.5) * SIZE, y), ((I0 + 2.5) * SIZE, y)]
    r = route_risk(s, lonlat(pts), buffer_m=0)
    assert [seg.ij for seg in r.segments] == [(I0, J0 + 1), (I0 + 1, J0 + 1), (I0 + 2, J0 + 1)]
    assert [seg.length_m for seg in r.segments] == pytest.approx([125, 250, 125], abs=1e-3)
    pos = {tuple(v): k for k, v in enumerate(ij.tolist())}
    dens = [mean[pos[seg.ij]] / 0.0625 for seg in r.segments]  # a cell is 0.0625 km2
    assert [seg.density_km2 for seg in r.segments] == pytest.approx(dens)
    assert r.risk == pytest.approx(
        sum(d * L / 1000 for d, L in zip(dens, [125, 250, 125], strict=True)), rel=1e-5
    )
    assert r.length_m == pytest.approx(500, abs=1e-3)


def test_lengths_match_shapely_reference_and_reverse_invariance():
    rng = np.random.default_rng(5)
    ij = rect(8, 8, I0, J0)
    s = surface(ij, rng.gamma(0.5, 2.0, len(ij)))
    xy = (np.array([I0, J0]) + rng.uniform(0.2, 7.8, (6, 2))) * SIZE
    r = route_risk(s, lonlat(xy), buffer_m=0)
    # Slow reference: intersect the projected line with every cell square
    # (projected back from the lon/lat the function gets: the datum shift
    # round trip is not exact to the millimetre).
    ll = np.array(lonlat(xy))
    line = shapely.LineString(np.column_stack(TO_XY.transform(ll[:, 0], ll[:, 1])))
    ref = {}
    for i, j in ij.tolist():
        g = shapely.box(i * SIZE, j * SIZE, (i + 1) * SIZE, (j + 1) * SIZE)
        L = line.intersection(g).length
        if L > 1e-6:
            ref[(i, j)] = L
    got: dict = {}
    for seg in r.segments:
        got[seg.ij] = got.get(seg.ij, 0.0) + seg.length_m
    assert set(got) == set(ref)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-3)
    back = route_risk(s, lonlat(xy[::-1]), buffer_m=0)
    assert back.risk == pytest.approx(r.risk)
    assert back.length_m == pytest.approx(r.length_m)


def test_high_risk_cells_within_buffer_match_brute_force():
    rng = np.random.default_rng(9)
    ij = rect(10, 10, I0, J0)
    mean = rng.gamma(0.5, 2.0, len(ij))
    s = surface(ij, mean)
    xy = np.array([[I0 + 1.2, J0 + 1.3], [I0 + 8.7, J0 + 6.1]]) * SIZE
    r = route_risk(s, lonlat(xy), buffer_m=300, high_quantile=0.8)
    thr = np.quantile(mean, 0.8)
    line = shapely.LineString(xy)
    want = set()
    for k, (i, j) in enumerate(ij.tolist()):
        box = shapely.box(i * SIZE, j * SIZE, (i + 1) * SIZE, (j + 1) * SIZE)
        if mean[k] >= thr and box.distance(line) <= 300:
            want.add(str(s.units.ids[k]))
    assert {c.cell for c in r.high_risk} == want
    assert all(c.distance_m <= 300 + 1e-6 for c in r.high_risk)
    exp = [c.expected for c in r.high_risk]
    assert exp == sorted(exp, reverse=True)
    gj = r.to_geojson()
    kinds = [f["properties"]["kind"] for f in gj["features"]]
    assert kinds.count("segment") == len(r.segments)
    assert kinds.count("high-risk cell") == len(r.high_risk)


def test_cells_outside_the_study_area_have_zero_density():
    ij = rect(3, 1, I0, J0)
    s = surface(ij[[0, 2]], np.array([2.0, 4.0]))  # middle cell missing
    y = (J0 + 0.5) * SIZE
    r = route_risk(s, lonlat([((I0 + 0.5) * SIZE, y), ((I0 + 2.5) * SIZE, y)]), buffer_m=0)
    mid = r.segments[1]
    assert mid.cell is None and mid.density_km2 == 0 and mid.risk == 0


def test_parse_route_accepts_geojson_and_rejects_garbage():
    coords = [[-1.6, 54.97], [-1.59, 54.98]]
    assert parse_route({"type": "LineString", "coordinates": coords}).shape == (2, 2)
    feat = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}}
    assert parse_route(feat).tolist() == coords
    for bad in (
        {"type": "Point", "coordinates": coords[0]},
        [[-1.6, 54.97]],
        [[-1.6, 154.0], [0, 0]],
        [["a", "b"], [1, 2]],
    ):
        with pytest.raises(InputError):
            parse_route(bad)


@pytest.mark.slow
def test_real_forecast_route_through_the_hottest_cell(police_uk):
    from crimemap.evaluate import forecast_next
    from crimemap.ingest import read_incidents

    inc = read_incidents(sorted(police_uk.glob("2025-*/*-north-yorkshire-street.csv.gz")))
    s = forecast_next(inc, crime_set="all-crime", model="ewm", cell_size=SIZE)
    top = int(np.argmax(s.mean))
    x, y = s.units.centroids[top]
    # 1 km due east from the hottest cell's centre: 125 m in it, then 250 m cells.
    r = route_risk(s, lonlat([(x, y), (x + 1000.0, y)]), buffer_m=100)
    first = r.segments[0]
    assert first.cell == s.units.ids[top]
    assert first.length_m == pytest.approx(125.0, abs=0.01)
    assert first.density_km2 == pytest.approx(s.mean[top] / 0.0625)
    assert r.length_m == pytest.approx(1000.0, abs=0.01)
    assert r.high_risk[0].cell == s.units.ids[top] and r.high_risk[0].distance_m == 0.0
    ll = np.array(lonlat([(x, y)]))[0]
    assert 53.5 < ll[1] < 54.8 and -2.6 < ll[0] < 0.0  # inside North Yorkshire
