"""Plan back-test: hand-computed scores, independent recount, no leakage, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crimemap.allocate.evaluate import plan_backtest, score_cells, top_k_mask
from crimemap.errors import InputError
from crimemap.evaluate import BacktestConfig, prepare
from crimemap.spatial.grid import Grid, cell_index
from crimemap.table import IncidentTable
from crimemap.taxonomy import crime_set

SIZE = 250.0
I0, J0 = 1700, 2200


def test_score_cells_hand_computed():
    obs = np.array([5.0, 3.0, 0.0, 2.0])
    fc = np.array([4.0, 1.0, 1.0, 2.0])
    areas = np.full(4, 62_500.0)  # 0.0625 km2 each, study area 0.25 km2
    s = score_cells("plan", np.array([1, 0, 0, 1], bool), observed=obs, forecast=fc, areas_m2=areas)
    assert (s.n_cells, s.captured, s.forecast) == (2, 7.0, 6.0)
    assert s.area_km2 == pytest.approx(0.125)
    assert s.per_km2 == pytest.approx(56.0)
    assert s.hit_rate == pytest.approx(0.7)
    assert s.pai == pytest.approx(0.7 / 0.5)


def test_top_k_mask_breaks_ties_by_key():
    scores = np.array([1.0, 3.0, 3.0, 2.0])
    assert top_k_mask(scores, 2).tolist() == [False, True, True, False]
    assert top_k_mask(scores, 1, tie_keys=np.array([0, 9, 1, 2])).tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert top_k_mask(scores, 0).sum() == 0


def _synthetic(extra_last_month: int = 0, seed: int = 0) -> IncidentTable:
    """8 months on a 10 x 10 grid: a persistent 2 x 2 hot spot plus noise."""
    rng = np.random.default_rng(seed)
    xs, ys, ts = [], [], []
    for m in range(8):
        month = np.datetime64("2024-01") + m
        n_hot, n_bg = 30, 60
        hot = rng.integers(0, 2, (n_hot, 2)) + np.array([I0 + 3, J0 + 3])
        bg = rng.integers(0, 10, (n_bg, 2)) + np.array([I0, J0])
        cells = np.vstack([hot, bg])
        if m == 7 and extra_last_month:
            cells = np.vstack([cells, np.tile([I0 + 9, J0 + 9], (extra_last_month, 1))])
        xy = (cells + rng.uniform(0.1, 0.9, cells.shape)) * SIZE
        xs += xy[:, 0].tolist()
        ys += xy[:, 1].tolist()
        ts += [month.astype("datetime64[s]")] * len(cells)
    n = len(xs)
    return IncidentTable.from_columns(
        category=["burglary"] * n, t_start=np.array(ts), x=np.array(xs), y=np.array(ys)
    )


def _recount(inc: IncidentTable, origin, cell_ids) -> float:
    """Independent count: incidents of the origin month in the given cells."""
    month = inc.filter(start=origin, end=(np.datetime64(origin, "M") + 1))
    g = Grid(SIZE)
    units = g.units(g.ij(*month.xy().T))
    pos = cell_index(units, month)
    hit = np.isin(units.ids[pos[pos >= 0]], np.array(cell_ids, dtype=object))
    return float(hit.sum())


def test_synthetic_backtest_recount_fairness_and_prices():
    inc = _synthetic()
    prep = prepare(inc, ["all-crime"], BacktestConfig(cell_size=SIZE))
    units = prep.units
    dec = np.where(units.ij[:, 0] < I0 + 5, 1.0, 6.0)
    bt = plan_backtest(
        prep,
        origins=["2024-07", "2024-08"],
        n_areas=2,
        max_cells=4,
        fairness_cap=1.5,
        deciles=dec,
        time_limit_s=2,
    )
    assert [str(r.origin)[:7] for r in bt.results] == ["2024-07", "2024-08"]
    assert bt.labels() == ["plan", "top-k", "fair plan", "top-k (fair area)"]
    for r in bt.results:
        plan, topk = r.score("plan"), r.score("top-k")
        assert topk.n_cells == plan.n_cells
        assert topk.forecast >= plan.forecast - 1e-9
        for s in r.scores:
            assert s.captured == _recount(inc, r.origin, s.cells)
        assert r.observed + r.n_outside == _recount(inc, r.origin, list(units.ids))
    cap = bt.total("plan", "captured")
    assert bt.price("plan", "top-k") == pytest.approx(1 - cap / bt.total("top-k", "captured"))
    assert bt.price("fair plan", "plan") == pytest.approx(
        1 - bt.total("fair plan", "captured") / cap
    )


def test_no_leakage_from_the_forecast_month():
    base = prepare(_synthetic(), ["all-crime"], BacktestConfig(cell_size=SIZE))
    more = prepare(_synthetic(extra_last_month=50), ["all-crime"], BacktestConfig(cell_size=SIZE))
    a = plan_backtest(base, origins=["2024-08"], n_areas=2, max_cells=4, time_limit_s=2).results[0]
    b = plan_backtest(more, origins=["2024-08"], n_areas=2, max_cells=4, time_limit_s=2).results[0]
    # The forecast (hence the top-k cells) cannot see the forecast month.
    assert a.score("top-k").cells == b.score("top-k").cells
    assert a.score("top-k").forecast == pytest.approx(b.score("top-k").forecast)
    if a.status == b.status == "OPTIMAL":
        assert a.score("plan").forecast == pytest.approx(b.score("plan").forecast)
    assert a.n_study_cells == b.n_study_cells
    assert b.observed + b.n_outside == a.observed + a.n_outside + 50


def test_bad_requests():
    prep = prepare(_synthetic(), ["all-crime"], BacktestConfig(cell_size=SIZE))
    with pytest.raises(InputError, match="not prepared"):
        plan_backtest(prep, crime_set="burglary")
    with pytest.raises(InputError, match="decile"):
        plan_backtest(prep, fairness_cap=1.5)
    with pytest.raises(InputError, match="reference"):
        plan_backtest(prep, model="oracle")


@pytest.mark.slow
def test_real_north_yorkshire_last_month_recount(police_uk: Path):
    from crimemap.ingest import read_incidents

    inc = read_incidents(sorted(police_uk.glob("2025-*/*-north-yorkshire-street.csv.gz")))
    prep = prepare(inc, ["all-crime"], BacktestConfig(cell_size=SIZE))
    bt = plan_backtest(prep, origins=["2025-12"], n_areas=5, max_cells=16, time_limit_s=3)
    r = bt.results[0]
    all_crime = inc.filter(categories=sorted(crime_set("all-crime")))
    for s in r.scores:
        assert s.captured == _recount(all_crime, r.origin, s.cells)
        assert s.n_cells <= 5 * 16
    plan, topk = r.score("plan"), r.score("top-k")
    # A compact plan cannot hold more forecast than the same number of best cells,
    # and on real data it catches far more than its share of area (PAI > 1).
    assert topk.forecast >= plan.forecast
    assert plan.pai > 1 and topk.pai > 1
    assert 0 <= r.gap < 1
