"""Bias audit: decile table by hand, invariances, concerns, and the real-data audit."""

from __future__ import annotations

import numpy as np
import pytest

from crimemap.safeguards.fairness import Thresholds, decile_table, fairness_audit, find_concerns
from crimemap.safeguards.feedback import FeedbackConfig
from crimemap.table import IncidentTable
from tests.safeguards._synth import synthetic_incidents, two_imd, two_polys


def test_decile_table_hand_computed():
    flagged = np.array([[1, 0, 1, 0], [1, 1, 0, 0]], bool)
    observed = np.array([[4, 0, 2, 1], [3, 1, 5, 0]], float)
    decile = np.array([1, 1, 2, 0])
    pop = np.array([100.0, 300.0, 400.0, 0.0])
    t = decile_table(flagged, observed, decile, pop)
    assert t.cells[:3].tolist() == [1, 2, 1]
    assert t.flagged[:3].tolist() == [0, 3, 1]
    assert t.flag_share[1] == pytest.approx(0.75) and t.flag_share[2] == pytest.approx(0.25)
    assert t.crime_share[:3] == pytest.approx([1 / 16, 8 / 16, 7 / 16])
    assert t.exposure_ratio[1] == pytest.approx(1.5)
    assert t.exposure_ratio[2] == pytest.approx(4 / 7)
    assert t.hit_rate[1] == pytest.approx(1.0) and t.hit_rate[2] == pytest.approx(2 / 7)
    assert t.area_share[1] == pytest.approx(0.75) and t.area_share[2] == pytest.approx(0.5)
    assert t.pai[1] == pytest.approx(4 / 3) and t.pai[2] == pytest.approx(4 / 7)
    assert t.pop_flag_rate[1] == pytest.approx(250 / 400)
    assert t.pop_flag_rate[2] == pytest.approx(200 / 400)
    assert t.hit_rate_all == pytest.approx(10 / 16)
    assert t.area_share_all == pytest.approx(0.5)
    assert t.pai_all == pytest.approx(1.25)
    assert np.isnan(t.hit_rate[3])  # empty decile


def test_decile_table_is_invariant_to_cell_order():
    rng = np.random.default_rng(3)
    f = rng.random((3, 50)) < 0.2
    o = rng.poisson(2, (3, 50)).astype(float)
    d = rng.integers(0, 11, 50)
    p = rng.random(50) * 100
    perm = rng.permutation(50)
    a, b = decile_table(f, o, d, p), decile_table(f[:, perm], o[:, perm], d[perm], p[perm])
    for k in ("flag_share", "crime_share", "hit_rate", "pai", "pop_flag_rate"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), equal_nan=True)


def test_audit_on_synthetic_data_is_order_invariant_and_flags_enforcement():
    inc = synthetic_incidents()
    cfg = FeedbackConfig(months=6, seed=0)
    kw = dict(
        force="f",
        imd=two_imd(),
        polys=two_polys(),
        cell_m=250.0,
        top_share=0.1,
        n_origins=3,
        feedback=cfg,
    )
    r = fairness_audit(inc, **kw)
    perm = np.random.default_rng(1).permutation(len(inc))
    import pyarrow as pa

    r2 = fairness_audit(IncidentTable(inc.arrow.take(pa.array(perm))), **kw)
    np.testing.assert_allclose(r.deciles.flag_share, r2.deciles.flag_share, equal_nan=True)
    np.testing.assert_allclose(r.deciles.hit_rate, r2.deciles.hit_rate, equal_nan=True)
    assert r.n_cells == 32 and r.match.by_polygon > 0 and r.match.rate == 1.0
    # ~20 % of the events are drugs: the police-initiated share is a concern.
    assert r.enforcement.applicable and 0.1 < r.enforcement.share < 0.35
    kinds = {c.kind for c in r.concerns}
    assert "enforcement" in kinds
    # thresholds are applied as documented: loosen them and the concern goes
    loose = Thresholds(enforcement_share=0.5, enforcement_overlap=0.0)
    from dataclasses import replace

    assert "enforcement" not in {c.kind for c in find_concerns(replace(r, thresholds=loose))}
    # victim-only crime set: no police-initiated category
    rv = fairness_audit(inc, crime_set_name="all-crime-victim", **kw)
    assert not rv.enforcement.applicable


# --------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def imd_table(imd_dir):
    from crimemap.spatial.covariates import read_imd

    return read_imd(imd_dir)


@pytest.mark.slow
def test_real_audit_north_yorkshire(police_uk, lsoa_dir, imd_table):
    from crimemap.evaluate.metrics import rank_scores  # noqa: F401  (cross-check in the result)
    from crimemap.ingest import read_incidents
    from crimemap.spatial.lsoa import force_lsoa_files, read_lsoa_polygons

    files = sorted(police_uk.glob("*/*-north-yorkshire-street.csv.gz"))
    inc = read_incidents(files)
    polys = read_lsoa_polygons(force_lsoa_files(lsoa_dir, "north-yorkshire"))
    r = fairness_audit(inc, force="north-yorkshire", imd=imd_table, polys=polys, n_origins=3)
    t = r.deciles
    assert r.origins == ("2025-10", "2025-11", "2025-12")
    assert r.match.rate > 0.99
    assert t.cells[0] == 0  # every study cell got a decile
    assert np.nansum(t.flag_share) == pytest.approx(1.0)
    # the decile table's overall hit rate agrees with the evaluate metrics
    assert t.hit_rate_all == pytest.approx(r.overall_rank["hit_rate"], abs=0.02)
    assert 0.3 < t.hit_rate_all < 0.9 and t.pai_all > 5
    # police-initiated crime is a small part of all-crime here
    assert 0 < r.enforcement.share < 0.2
