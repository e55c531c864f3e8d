"""Forecast metrics: hand-derived cases, slow references and invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from crimemap.errors import InputError
from crimemap.evaluate.metrics import (
    band_coverage,
    cells_for_coverage,
    forecast_scores,
    poisson_crps,
    poisson_loglik,
    rank_scores,
    spearman,
)

# Ten equal cells, distinct scores (descending with position), 10 crimes.
SCORE = np.arange(9, -1, -1, dtype=float)
OBS = np.array([1, 0, 3, 0, 0, 2, 0, 0, 0, 4], dtype=float)


def test_hand_computed_hit_rate_pai_pei_oracle():
    r = rank_scores(SCORE, OBS, coverages=(0.1, 0.2, 0.3))
    # c = 10 %: k = 1 cell (score 9, 1 crime). Oracle: the cell with 4 crimes.
    # c = 20 %: k = 2 (1 + 0 crimes); oracle 4 + 3. c = 30 %: k = 3 (1+0+3); oracle 4+3+2.
    np.testing.assert_allclose(r.hit_rate, [0.1, 0.1, 0.4])
    np.testing.assert_allclose(r.area_share, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(r.pai, [1.0, 0.5, 0.4 / 0.3])
    np.testing.assert_allclose(r.pei, [1 / 4, 1 / 7, 4 / 9])
    np.testing.assert_allclose(r.oracle_hit_rate, [0.4, 0.7, 0.9])
    np.testing.assert_allclose(r.oracle_pai, [4.0, 3.5, 3.0])
    assert r.n_events == 10


def test_floor_convention_and_nominal_pai():
    # 199 equal cells: 5 % is 9.95 cells -> floor = 9 cells; PAI uses 9/199.
    assert int(cells_for_coverage(np.ones(199), 0.05)) == 9
    assert int(cells_for_coverage(np.ones(200), 0.05)) == 10  # float 0.05*200 is not 10.0
    assert int(cells_for_coverage(np.ones(10), 0.01)) == 1  # never fewer than one cell
    score = np.arange(199, 0, -1, dtype=float)
    obs = np.zeros(199)
    obs[:9] = 1
    obs[100] = 1
    r = rank_scores(score, obs, coverages=(0.05,))
    assert r.hit_rate[0] == pytest.approx(0.9)
    assert r.pai[0] == pytest.approx(0.9 / (9 / 199))
    assert r.pai_nominal[0] == pytest.approx(0.9 / 0.05)


def test_unequal_areas_cover_by_area():
    score = np.array([4.0, 3.0, 2.0, 1.0])
    areas = np.array([1.0, 2.0, 1.0, 4.0])  # total 8
    obs = np.array([1.0, 2.0, 0.0, 1.0])
    r = rank_scores(score, obs, areas=areas, coverages=(0.25, 0.5))
    # 25 % = 2 area units: cell 0 (1) fits, cell 1 would make 3 -> 1 cell, share 1/8.
    # 50 % = 4 units: cells 0,1,2 (1+2+1 = 4) -> hits 3 of 4, share 4/8.
    np.testing.assert_allclose(r.hit_rate, [0.25, 0.75])
    np.testing.assert_allclose(r.area_share, [1 / 8, 4 / 8])
    np.testing.assert_allclose(r.pai, [2.0, 1.5])
    # Oracle by count per area, larger count first among equal densities:
    # cell 1 (1.0/unit, 2 crimes), cell 0 (1.0, 1), cell 3 (0.25), cell 2 (0).
    # 25 %: cell 1 alone is 2 units -> 2 crimes; PEI = 1/2.
    assert r.oracle_hit_rate[0] == pytest.approx(0.5)
    assert r.pei[0] == pytest.approx(0.5)


def _exact_tie_expectation(score, obs, k):
    """Slow reference: average hits of the top k over every order of tied cells."""
    n = len(score)
    total = 0.0
    perms = list(itertools.permutations(range(n)))
    for p in perms:
        # A permutation is a tie-break key; sort by (-score, key).
        order = sorted(range(n), key=lambda i: (-score[i], p[i]))
        total += obs[order[:k]].sum()
    return total / len(perms)


def test_ties_broken_at_random_not_by_cell_order():
    score = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    obs = np.array([0.0, 0.0, 3.0, 1.0, 1.0])
    # Top 1 cell (20 %): one of the three tied cells at random -> E[hits] = 1.
    exact = _exact_tie_expectation(score, obs, 1) / obs.sum()
    assert exact == pytest.approx(0.2)
    many = rank_scores(score, obs, coverages=(0.2,), n_seeds=4000, seed=3)
    assert many.hit_rate[0] == pytest.approx(exact, abs=0.02)
    # Breaking ties by cell order would give 0 (first cell); never do that.
    first_cell = obs[0] / obs.sum()
    assert abs(many.hit_rate[0] - first_cell) > 0.1


def test_ties_slow_reference_on_random_cases():
    rng = np.random.default_rng(7)
    for _ in range(5):
        score = rng.integers(0, 3, 6).astype(float)
        obs = rng.poisson(1.5, 6).astype(float)
        if obs.sum() == 0:
            obs[0] = 1
        exact = _exact_tie_expectation(score, obs, 2) / obs.sum()
        r = rank_scores(score, obs, coverages=(2 / 6,), n_seeds=4000, seed=1)
        assert r.hit_rate[0] == pytest.approx(exact, abs=0.02)


def test_default_seeds_are_deterministic_and_averaged():
    score = np.array([1.0, 1.0, 0.0, 0.0])
    obs = np.array([2.0, 0.0, 1.0, 1.0])
    a = rank_scores(score, obs, coverages=(0.25,))
    b = rank_scores(score, obs, coverages=(0.25,))
    assert a.hit_rate[0] == b.hit_rate[0]
    # The average of 10 draws of 0 or 0.5 is a multiple of 0.05.
    assert (a.hit_rate[0] * 20) == pytest.approx(round(a.hit_rate[0] * 20))
    one = [
        rank_scores(score, obs, coverages=(0.25,), n_seeds=1, seed=s).hit_rate[0] for s in range(30)
    ]
    assert set(np.round(one, 12)) == {0.0, 0.5}


def test_permuting_cells_changes_nothing_with_ids():
    rng = np.random.default_rng(2)
    n = 300
    score = rng.poisson(0.7, n).astype(float)  # many ties
    obs = rng.poisson(0.7, n).astype(float)
    ids = rng.permutation(10 * n)[:n]
    perm = rng.permutation(n)
    a = forecast_scores(score, obs, ids=ids)
    b = forecast_scores(score[perm], obs[perm], ids=ids[perm])
    for k, v in a.as_dict().items():
        assert b.as_dict()[k] == pytest.approx(v, nan_ok=True), k


def test_permuting_cells_without_ties_changes_nothing():
    rng = np.random.default_rng(4)
    score = rng.random(200)
    obs = rng.poisson(1, 200).astype(float)
    perm = rng.permutation(200)
    a = rank_scores(score, obs)
    b = rank_scores(score[perm], obs[perm])
    np.testing.assert_allclose(a.hit_rate, b.hit_rate)
    np.testing.assert_allclose(a.pei, b.pei)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)), min_size=1, max_size=60),
    st.sampled_from([0.01, 0.05, 0.1, 0.2, 0.5, 1.0]),
)
def test_oracle_bounds_every_ranking(cells, c):
    score = np.array([s for s, _ in cells], float)
    obs = np.array([o for _, o in cells], float)
    r = rank_scores(score, obs, coverages=(c,))
    if obs.sum() == 0:
        assert np.isnan(r.hit_rate[0]) and np.isnan(r.pei[0])
        return
    assert 0 <= r.hit_rate[0] <= r.oracle_hit_rate[0] + 1e-12
    assert r.pai[0] <= r.oracle_pai[0] + 1e-9
    assert -1e-12 <= r.pei[0] <= 1 + 1e-12
    # The oracle as a forecast reaches the oracle.
    o = rank_scores(obs, obs, coverages=(c,))
    assert o.hit_rate[0] == pytest.approx(r.oracle_hit_rate[0])
    assert o.pei[0] == pytest.approx(1.0)


def test_full_coverage_catches_everything():
    r = rank_scores(SCORE, OBS, coverages=(1.0,))
    assert r.hit_rate[0] == 1.0 and r.pai[0] == 1.0 and r.pei[0] == 1.0


def test_poisson_crps_matches_brute_force_sum():
    mu = np.array([0.0, 0.01, 0.5, 2.3, 10.0, 150.0])
    y = np.array([0.0, 1.0, 0.0, 4.0, 7.0, 170.0])
    k = np.arange(0, 1500)
    brute = [
        np.sum((stats.poisson.cdf(k, m) - (k >= yy)) ** 2) for m, yy in zip(mu, y, strict=True)
    ]
    np.testing.assert_allclose(poisson_crps(mu, y), brute, rtol=1e-9, atol=1e-12)
    # Point mass at zero: CRPS is |y - 0|.
    assert poisson_crps(np.array([0.0]), np.array([3.0]))[0] == 3.0


def test_loglik_hand_case_and_floor():
    # log P(0 | 1) = -1; log P(2 | 2) = log(2^2 e^-2 / 2) = log 2 - 2.
    assert poisson_loglik(np.array([1.0, 2.0]), np.array([0.0, 2.0])) == pytest.approx(
        (-1 + np.log(2) - 2) / 2
    )
    # A zero forecast where crime happened is finite (mean floored at 1e-6).
    v = poisson_loglik(np.array([0.0]), np.array([1.0]))
    assert np.isfinite(v) and v < -13


def test_spearman_and_band_coverage():
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.ones(4), np.arange(4.0)))
    lo, hi = np.array([0.0, 1, 2, 0]), np.array([1.0, 2, 3, 0])
    assert band_coverage(lo, hi, np.array([1.0, 0, 3, 1])) == pytest.approx(0.5)
    assert np.isnan(band_coverage(None, None, np.zeros(4)))


def test_forecast_scores_as_dict_keys():
    d = forecast_scores(SCORE, OBS).as_dict()
    for k in ("hit@1%", "pai@5%", "pei@10%", "oracle_pai@20%", "spearman", "loglik", "crps"):
        assert k in d
    assert d["n_cells"] == 10 and d["n_events"] == 10


def test_bad_inputs_raise_domain_errors():
    with pytest.raises(InputError):
        rank_scores(np.ones(3), np.ones(4))
    with pytest.raises(InputError):
        rank_scores(np.ones(3), -np.ones(3))
    with pytest.raises(InputError):
        rank_scores(np.ones(3), np.ones(3), coverages=(0.0,))
    with pytest.raises(InputError):
        rank_scores(np.array([np.nan, 1, 2]), np.ones(3))
