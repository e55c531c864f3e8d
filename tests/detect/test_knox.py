from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from crimemap.detect.knox import knox_test
from crimemap.errors import InputError
from crimemap.table import IncidentTable


def _table(xy: np.ndarray, days: np.ndarray) -> IncidentTable:
    t0 = np.datetime64("2020-01-01T00:00:00")
    ts = t0 + (np.asarray(days) * 86400).astype("timedelta64[s]")
    n = len(xy)
    return IncidentTable.from_columns(
        category=["burglary"] * n,
        t_start=ts,
        t_precision=["minute"] * n,
        x=xy[:, 0],
        y=xy[:, 1],
    )


def _ref_table(xy, days, s_edges, t_edges):
    out = np.zeros((len(s_edges) - 1, len(t_edges) - 1), int)
    for i in range(len(xy)):
        for j in range(i + 1, len(xy)):
            d = math.dist(xy[i], xy[j])
            dt = abs(days[i] - days[j])
            for a in range(len(s_edges) - 1):
                for b in range(len(t_edges) - 1):
                    if s_edges[a] <= d < s_edges[a + 1] and t_edges[b] <= dt < t_edges[b + 1]:
                        out[a, b] += 1
    return out


def test_observed_table_matches_loop_reference() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 2000, (120, 2))
    days = rng.uniform(0, 120, 120)
    s, t = (0, 150, 400, 900), (0, 5, 20, 60)
    res = knox_test(_table(xy, days), space_bands=s, time_bands=t, simulations=19, seed=1)
    np.testing.assert_array_equal(res.observed, _ref_table(xy, days, s, t))


def test_planted_near_repeats_detected_and_null_quiet() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 5000, (300, 2))
    days = rng.uniform(0, 365, 300)
    # Each of 60 seeds gets a repeat within 50 m and 3 days.
    seeds = rng.choice(300, 60, replace=False)
    rep_xy = xy[seeds] + rng.uniform(-35, 35, (60, 2))
    rep_days = days[seeds] + rng.uniform(0, 3, 60)
    res = knox_test(
        _table(np.r_[xy, rep_xy], np.r_[days, rep_days]),
        space_bands=(0, 100, 500),
        time_bands=(0, 7, 30),
        simulations=199,
        seed=2,
    )
    assert res.ratio[0, 0] > 3 and res.p[0, 0] <= 0.01
    null = knox_test(
        _table(xy, days), space_bands=(0, 100, 500), time_bands=(0, 7, 30), simulations=199, seed=3
    )
    assert null.p.min() > 0.01


def test_translation_and_order_invariance() -> None:
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 1000, (80, 2))
    days = rng.uniform(0, 60, 80)
    a = knox_test(_table(xy, days), simulations=49, seed=0)
    b = knox_test(_table(xy + 1e5, days), simulations=49, seed=0)
    np.testing.assert_array_equal(a.observed, b.observed)
    np.testing.assert_array_equal(a.p, b.p)
    perm = rng.permutation(80)
    c = knox_test(_table(xy[perm], days[perm]), simulations=49, seed=0)
    np.testing.assert_array_equal(a.observed, c.observed)


def test_month_only_data_is_refused() -> None:
    inc = IncidentTable.from_columns(
        category=["burglary"] * 3,
        t_start=np.array(["2024-01-01"] * 3, dtype="datetime64[s]"),
        x=[0.0, 1.0, 2.0],
        y=[0.0, 1.0, 2.0],
    )
    with pytest.raises(InputError, match="not possible"):
        knox_test(inc)


def test_month_only_police_uk_refused(northumbria_month) -> None:
    with pytest.raises(InputError, match="months only"):
        knox_test(northumbria_month.filter(categories=["burglary"]))


def _stl_burglary(stl_dir: Path) -> IncidentTable:
    import pandas as pd

    frames = []
    for m in ("january", "february", "march", "april", "may", "june"):
        f = stl_dir / "data" / "raw" / "2016" / f"{m}2016.csv.gz"
        frames.append(pd.read_csv(f, encoding="latin-1", dtype=str))
    df = pd.concat(frames)
    code = pd.to_numeric(df["Crime"].str.strip(), errors="coerce")
    x = pd.to_numeric(df["XCoord"], errors="coerce")
    y = pd.to_numeric(df["YCoord"], errors="coerce")
    t = pd.to_datetime(df["DateOccur"], format="%m/%d/%Y %H:%M", errors="coerce")
    ok = (code // 10000 == 5) & (df["Count"].str.strip() == "1") & (x > 0) & (y > 0)
    ok &= (t >= "2016-01-01") & (t < "2016-07-01")
    df, x, y, t = df[ok], x[ok], y[ok], t[ok]
    ft = 1200 / 3937  # US survey foot in metres (ESRI:102696 is in US feet)
    n = len(df)
    return IncidentTable.from_columns(
        category=["burglary"] * n,
        t_start=t.to_numpy().astype("datetime64[s]"),
        t_precision=["minute"] * n,
        x=(x * ft).to_numpy(),
        y=(y * ft).to_numpy(),
        crs=[102696] * n,
        source=["stl-slmpd"] * n,
    )


@pytest.mark.slow
def test_st_louis_burglary_near_repeats(stl_dir) -> None:
    inc = _stl_burglary(stl_dir)
    assert len(inc) > 1000
    res = knox_test(
        inc, space_bands=(0, 100, 400, 1000), time_bands=(0, 7, 14, 28), simulations=199, seed=0
    )
    # The near-repeat signature: excess pairs close in space and time.
    assert res.ratio[0, 0] > 1.2 and res.p[0, 0] <= 0.01
    assert res.ratio[0, 0] > res.ratio[-1, -1]
