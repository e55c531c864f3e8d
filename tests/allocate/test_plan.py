"""Patrol planner: known optima by brute force, invariants, fairness, errors, gaps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crimemap.allocate import fairness_caps, plan_patrols
from crimemap.allocate._problem import default_radius
from crimemap.errors import InfeasibleError, InputError
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.units import Units
from tests.allocate._util import (
    bfs,
    brute_force,
    connected,
    gap_m,
    neighbours,
    rect,
    sp_contiguous,
    surface,
)


def check_plan(plan, n_areas, max_cells, radius, spacing=0.0):
    """Every structural promise of a plan."""
    ij = plan.units.ij
    nb = neighbours(ij)
    assert len(plan.areas) == n_areas
    seen: set[int] = set()
    for a in plan.areas:
        cells = a.cells.tolist()
        assert 1 <= len(cells) <= max_cells
        assert not seen & set(cells)
        seen |= set(cells)
        assert connected(nb, cells)
        assert sp_contiguous(nb, cells, cells[0], radius)
        assert a.expected == pytest.approx(plan.scores[cells].sum())
    for x in range(len(plan.areas)):
        for y in range(x + 1, len(plan.areas)):
            for i in plan.areas[x].cells:
                for j in plan.areas[y].cells:
                    assert gap_m(ij[i], ij[j], plan.units.cell_size) >= spacing
    assert plan.objective == pytest.approx(sum(a.expected for a in plan.areas))
    assert plan.objective <= plan.top_k + 1e-9
    assert plan.objective <= plan.bound * (1 + 1e-6) + 1e-9


def test_default_radius_is_smallest_diamond_holding_k():
    # Diamond of radius r holds 2r^2 + 2r + 1 cells: 1, 5, 13, 25.
    assert [default_radius(k) for k in (1, 2, 5, 6, 13, 14, 16, 25, 26)] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        3,
        4,
    ]


def test_two_hot_blobs_are_found_exactly():
    # 10 x 4 strip; two 2x2 blobs of 5s far apart, noise of 0.1 elsewhere.
    ij = rect(10, 4)
    mean = np.full(len(ij), 0.1)
    blob = {(2001, 2001), (2001, 2002), (2002, 2001), (2002, 2002)}
    blob |= {(2007, 2000), (2007, 2001), (2008, 2000), (2008, 2001)}
    hot = np.array([tuple(v) in blob for v in ij.tolist()])
    mean[hot] = 5.0
    plan = plan_patrols(surface(ij, mean), 2, max_cells=4, radius=2)
    assert plan.status == "OPTIMAL"
    assert plan.objective == pytest.approx(40.0)
    assert set(np.flatnonzero(plan.covered)) == set(np.flatnonzero(hot))
    check_plan(plan, 2, 4, 2)


@pytest.mark.parametrize(
    "w,h,n_areas,max_cells,radius,spacing,seed",
    [
        (4, 4, 2, 3, 2, 0.0, 0),
        (4, 4, 2, 4, 1, 0.0, 1),
        (3, 4, 3, 3, 1, 0.0, 2),
        (4, 4, 2, 3, 1, 250.0, 3),
        (5, 3, 2, 3, 1, 400.0, 4),
        (4, 3, 1, 5, 2, 0.0, 5),
    ],
)
def test_cp_sat_matches_brute_force(w, h, n_areas, max_cells, radius, spacing, seed):
    rng = np.random.default_rng(seed)
    ij = rect(w, h)
    keep = rng.random(len(ij)) > 0.1  # a few holes break the grid
    ij = ij[keep]
    mean = rng.gamma(0.7, 2.0, len(ij)) * (rng.random(len(ij)) > 0.2)
    want = brute_force(ij, mean, n_areas, max_cells, radius, spacing=spacing)
    plan = plan_patrols(
        surface(ij, mean), n_areas, max_cells=max_cells, radius=radius, min_spacing_m=spacing
    )
    assert plan.status == "OPTIMAL"
    assert plan.objective == pytest.approx(want, rel=1e-6)
    assert plan.gap < 1e-5
    check_plan(plan, n_areas, max_cells, radius, spacing)
    # Without CP-SAT the bound is the Lagrangian one (or top-k): still valid.
    g = plan_patrols(
        surface(ij, mean),
        n_areas,
        max_cells=max_cells,
        radius=radius,
        min_spacing_m=spacing,
        method="greedy",
    )
    assert g.bound >= want - 1e-9
    assert g.objective <= want + 1e-9


def test_fairness_cap_brute_force_and_holds():
    rng = np.random.default_rng(7)
    ij = rect(4, 4)
    mean = rng.gamma(0.7, 2.0, len(ij))
    # Deciles by column: the richest forecast sits in decile 1 (column 0/1).
    mean[ij[:, 0] <= 2001] *= 4
    dec = np.where(ij[:, 0] <= 2001, 1.0, 5.0)
    dec[ij[:, 0] == 2003] = np.nan  # unknown decile: not capped
    caps = fairness_caps(mean, dec, 3, 1.2)
    free = plan_patrols(surface(ij, mean), 3, max_cells=3, radius=1)
    fair = plan_patrols(surface(ij, mean), 3, max_cells=3, radius=1, fairness_cap=1.2, deciles=dec)
    want = brute_force(ij, mean, 3, 3, 1, deciles=dec, caps=caps)
    assert fair.objective == pytest.approx(want, rel=1e-6)
    assert fair.objective <= free.objective + 1e-9
    check_plan(fair, 3, 3, 1)
    used: dict[int, int] = {}
    for a in fair.areas:
        if np.isfinite(a.decile):
            used[int(a.decile)] = used.get(int(a.decile), 0) + 1
    assert all(used[d] <= caps[d] for d in used)
    assert dict(fair.caps) == caps


def test_fairness_caps_hand_computed():
    scores = np.array([6.0, 2.0, 2.0, 5.0])
    dec = np.array([1.0, 1.0, 2.0, np.nan])
    # Known harm 10: decile 1 has 80 %, decile 2 20 %. N = 5, cap 1.5:
    # floor(1.5 * 0.8 * 5) = 6, floor(1.5 * 0.2 * 5) = 1.
    assert fairness_caps(scores, dec, 5, 1.5) == {1: 6, 2: 1}


def test_infeasible_requests_raise_clear_errors():
    ij = rect(3, 1)
    s = surface(ij, np.ones(3))
    with pytest.raises(InfeasibleError, match="only 3 cells"):
        plan_patrols(s, 4, max_cells=1)
    with pytest.raises(InfeasibleError, match="500 m apart"):
        plan_patrols(s, 2, max_cells=1, min_spacing_m=500.0)
    dec = np.array([1.0, 1.0, 2.0])
    with pytest.raises(InfeasibleError, match="fairness cap"):
        plan_patrols(s, 3, max_cells=1, fairness_cap=0.5, deciles=dec)
    with pytest.raises(InputError, match="deciles"):
        plan_patrols(s, 1, max_cells=1, fairness_cap=1.5)
    with pytest.raises(InputError):
        plan_patrols(s, 0, max_cells=1)
    with pytest.raises(InputError, match="at least one cell"):
        plan_patrols(s, 1, max_cells=None, max_area_km2=0.01)
    lsoa = Units(kind="lsoa", ids=np.array(["a", "b"]), centroids=np.zeros((2, 2)))
    flat = RiskSurface("t", lsoa, np.datetime64("2024-01"), np.datetime64("2024-02"), np.ones(2))
    with pytest.raises(InputError, match="grid"):
        plan_patrols(flat, 1)


def test_area_limit_in_km2():
    ij = rect(6, 6)
    mean = np.arange(len(ij), dtype=float)
    # 0.25 km2 = 4 cells of 250 m; the tighter of the two limits applies.
    plan = plan_patrols(surface(ij, mean), 2, max_cells=9, max_area_km2=0.25)
    assert plan.params["max_cells"] == 4
    assert max(len(a.cells) for a in plan.areas) <= 4
    assert all(a.area_km2 <= 0.25 + 1e-12 for a in plan.areas)


def test_greedy_gap_is_reported():
    rng = np.random.default_rng(3)
    ij = rect(8, 8)
    s = surface(ij, rng.gamma(0.5, 2.0, len(ij)))
    g = plan_patrols(s, 3, max_cells=5, method="greedy")
    assert g.method == "greedy" and g.status == "NOT_RUN"
    assert g.bound <= g.top_k and g.bound_source in ("lagrangian", "top-k")
    assert g.bound >= g.objective - 1e-9
    assert g.gap == pytest.approx((g.bound - g.objective) / g.bound)
    assert g.greedy_gap == pytest.approx(g.gap)
    c = plan_patrols(s, 3, max_cells=5, time_limit_s=2)
    assert c.greedy_objective == pytest.approx(g.objective)
    assert c.objective >= c.greedy_objective - 1e-9
    assert c.greedy_gap == pytest.approx((c.bound - c.greedy_objective) / c.bound)
    assert 0.0 <= c.gap <= c.greedy_gap + 1e-12
    check_plan(g, 3, 5, default_radius(5))


def test_invariant_to_unit_order_and_translation():
    rng = np.random.default_rng(11)
    ij = rect(6, 5)
    mean = rng.gamma(0.6, 2.0, len(ij))
    base = plan_patrols(surface(ij, mean), 3, max_cells=4)
    perm = rng.permutation(len(ij))
    shuffled = plan_patrols(surface(ij[perm], mean[perm]), 3, max_cells=4)
    moved = plan_patrols(surface(ij + np.array([37, -11]), mean), 3, max_cells=4)
    assert base.status == shuffled.status == moved.status == "OPTIMAL"
    assert shuffled.objective == pytest.approx(base.objective)
    assert moved.objective == pytest.approx(base.objective)


@pytest.mark.parametrize("tiny", [1.11253693e-308, 5e-324, 1e-300])
def test_subnormal_scores_still_solve(tiny):
    # Found by the property test: a largest score this small overflowed the
    # integer scaling and CP-SAT rejected the model.
    ij = rect(3, 1)
    plan = plan_patrols(surface(ij, np.array([tiny, 0.0, tiny / 2])), 1, max_cells=1)
    assert plan.status in ("OPTIMAL", "FEASIBLE")
    assert plan.objective == pytest.approx(tiny, rel=1e-6, abs=0)
    assert np.isfinite(plan.bound) and plan.bound >= plan.objective


@st.composite
def problems(draw):
    w = draw(st.integers(2, 6))
    h = draw(st.integers(1, 5))
    ij = rect(w, h)
    keep = np.array(draw(st.lists(st.booleans(), min_size=len(ij), max_size=len(ij))))
    if keep.sum() < 1:
        keep[0] = True
    ij = ij[keep]
    vals = draw(
        st.lists(st.one_of(st.just(0.0), st.floats(0.0, 10.0)), min_size=len(ij), max_size=len(ij))
    )
    n_areas = draw(st.integers(1, 3))
    max_cells = draw(st.integers(1, 5))
    spacing = draw(st.sampled_from([0.0, 250.0, 400.0]))
    return ij, np.array(vals), n_areas, max_cells, spacing


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_property_contiguity_size_and_spacing_always_hold(problem):
    ij, mean, n_areas, max_cells, spacing = problem
    s = surface(ij, mean)
    try:
        plan = plan_patrols(s, n_areas, max_cells=max_cells, min_spacing_m=spacing, time_limit_s=5)
    except InfeasibleError:
        # Only possible when the areas cannot all fit.
        assert spacing > 0 or n_areas > len(ij)
        return
    check_plan(plan, n_areas, max_cells, default_radius(max_cells), spacing)
    assert plan.objective >= plan.greedy_objective - 1e-9 or np.isnan(plan.greedy_objective)
    # Cells covered hold the best scores each area could reach: never a
    # scattered set beating the top-k forecast.
    assert plan.objective <= np.sort(mean)[::-1][: plan.n_cells].sum() + 1e-9


def test_brute_force_helper_agrees_with_hand_count():
    # 1 x 3 strip with scores 1, 5, 1; one area of 2 cells, radius 1: best 6.
    ij = rect(3, 1)
    assert brute_force(ij, np.array([1.0, 5.0, 1.0]), 1, 2, 1) == 6.0
    # Two single-cell areas at least 300 m apart (gap 250 m is too close): 1 + 1.
    assert brute_force(ij, np.array([1.0, 5.0, 1.0]), 2, 1, 0, spacing=300.0) == -np.inf
    assert brute_force(ij, np.array([1.0, 5.0, 1.0]), 2, 1, 0, spacing=200.0) == 2.0
    nb = neighbours(ij)
    assert bfs(nb, 0) == {0: 0, 1: 1, 2: 2}


def test_lagrangian_bound_beats_top_k_when_hot_cells_are_apart():
    # Two hot cells 4 steps apart; one area of 2 cells within radius 1 can hold
    # only one of them: top-k says 10, the Lagrangian bound proves 5.
    ij = rect(5, 1)
    s = surface(ij, np.array([5.0, 0.0, 0.0, 0.0, 5.0]))
    g = plan_patrols(s, 1, max_cells=2, radius=1, method="greedy")
    assert g.top_k == 10.0
    assert g.bound_source == "lagrangian"
    assert g.bound == pytest.approx(5.0)
    assert g.objective == 5.0 and g.gap == pytest.approx(0.0)
