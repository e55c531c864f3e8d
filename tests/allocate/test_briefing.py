"""Briefing outputs: dissolved polygons, the GeoJSON layer, category split, times, pages."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from crimemap.allocate import plan_patrols
from crimemap.allocate.briefing import (
    area_polygons,
    area_times,
    briefing_png,
    briefings,
    expected_by_category,
    plan_geojson,
    write_briefings,
    write_plan_geojson,
)
from crimemap.table import IncidentTable
from tests.allocate._util import rect, surface

I0, J0 = 1700, 2200


def _plan(with_components: bool = True):
    rng = np.random.default_rng(2)
    ij = rect(8, 6, I0, J0)
    mean = rng.gamma(0.6, 3.0, len(ij))
    comps = {"recent": 0.75 * mean, "background": 0.25 * mean} if with_components else {}
    s = surface(ij, mean, components=comps)
    return s, plan_patrols(s, 3, max_cells=5)


def _incidents(xs, ys, cats, times, precision):
    return IncidentTable.from_columns(
        category=list(cats),
        t_start=np.array(times, dtype="datetime64[s]"),
        t_precision=[precision] * len(cats),
        x=np.asarray(xs, float),
        y=np.asarray(ys, float),
    )


def test_area_polygons_are_dissolved_cells():
    _, p = _plan()
    polys = area_polygons(p)
    for a, g in zip(p.areas, polys, strict=True):
        assert g.geom_type == "Polygon"  # contiguous cells dissolve to one ring
        assert g.area == pytest.approx(len(a.cells) * 250.0**2)
        cx, cy = p.units.centroids[a.cells].T
        assert shapely.contains_xy(g, cx, cy).all()


def test_plan_geojson_is_wgs84_and_round_trips():
    s, p = _plan()
    gj = plan_geojson(p, briefs=briefings(p, s))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(p.areas)
    back = Transformer.from_crs(4326, 27700, always_xy=True)
    for f, a, g in zip(gj["features"], p.areas, area_polygons(p), strict=True):
        ring = np.array(f["geometry"]["coordinates"][0])
        assert (np.abs(ring[:, 0] + 1.6) < 1.0).all() and (np.abs(ring[:, 1] - 55.0) < 1.0).all()
        x, y = back.transform(ring[:, 0], ring[:, 1])
        assert shapely.Polygon(np.column_stack([x, y])).area == pytest.approx(g.area, rel=1e-4)
        props = f["properties"]
        assert props["rank"] == a.rank and props["cells"] == list(a.ids)
        assert props["expected"] == pytest.approx(a.expected, abs=1e-3)
        assert sum(props["drivers"].values()) == pytest.approx(a.expected, abs=1e-2)
    assert gj["properties"]["objective"] == pytest.approx(p.objective)
    assert gj["properties"]["method"] == p.method


def test_expected_by_category_sums_to_forecast_and_follows_local_mix():
    ij = rect(2, 1, I0, J0)
    s = surface(
        ij,
        np.array([10.0, 4.0]),
    )
    x0, x1 = (I0 + 0.5) * 250, (I0 + 1.5) * 250
    y = (J0 + 0.5) * 250
    # Cell 0: 3 burglary, 1 robbery in the last year; cell 1: nothing -> force-wide mix.
    inc = _incidents(
        [x0, x0, x0, x0, x0],
        [y] * 5,
        ["burglary", "burglary", "burglary", "robbery", "robbery"],
        ["2023-06-01", "2023-07-01", "2023-08-01", "2023-09-01", "2022-01-01"],  # last: too old
        "month",
    )
    split = expected_by_category(s, inc, ["burglary", "robbery"], months=12)
    assert split["burglary"] + split["robbery"] == pytest.approx(s.mean)
    assert split["burglary"][0] == pytest.approx(7.5) and split["robbery"][0] == pytest.approx(2.5)
    assert split["burglary"][1] == pytest.approx(3.0)  # 3:1 force-wide
    # Harm weights re-weight the mix: robbery 3x heavier -> 50/50.
    w = expected_by_category(s, inc, ["burglary", "robbery"], weights={"burglary": 1, "robbery": 3})
    assert w["burglary"][0] == pytest.approx(5.0)
    _ = x1


def test_area_times_finds_busiest_window_and_none_for_month_only():
    ij = rect(1, 1, I0, J0)
    s = surface(ij, np.array([1.0]))
    x, y = (I0 + 0.5) * 250, (J0 + 0.5) * 250
    # 2024-01-06 is a Saturday: five incidents 21:00-23:59, one on Monday 09:00.
    times = [f"2024-01-06T2{h}:{m}0" for h, m in [(1, 0), (1, 3), (2, 1), (3, 0), (3, 5)]]
    times.append("2024-01-08T09:00")
    inc = _incidents([x] * 6, [y] * 6, ["robbery"] * 6, times, "minute")
    t = area_times(inc, s.units, np.array([0]))
    assert t is not None and t.n == 6 and t.counts.sum() == 6
    assert t.counts[5, 21:24].sum() == 5 and t.counts[0, 9] == 1
    assert t.best[0].startswith("Sat ") and t.best[0].endswith("(5)")
    month = _incidents([x], [y], ["robbery"], ["2024-01-01"], "month")
    assert area_times(month, s.units, np.array([0])) is None


def test_pages_and_geojson_are_written(tmp_path):
    s, p = _plan()
    briefs = briefings(p, s, by_category={"violence": s.mean * 0.6, "theft": s.mean * 0.4})
    files = write_briefings(p, briefs, tmp_path / "pages", title="test force")
    assert [f.name for f in files] == [f"area_{k:02d}.png" for k in range(1, 4)]
    for f in files:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 10_000
    out = write_plan_geojson(p, tmp_path / "plan.geojson", briefs=briefs)
    assert out.exists() and b"FeatureCollection" in out.read_bytes()
    assert list(briefs[0].by_category) == ["violence", "theft"]
    png = briefing_png(p, briefs[0], title="test force")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert sum(b.share for b in briefs) == pytest.approx(p.objective / s.mean.sum())
