"""Area covariates: the modal-LSOA join, alignment, and the real IMD 2019 workbooks."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from crimemap.spatial import Grid, grid_units
from crimemap.spatial.covariates import (
    LsoaCovariates,
    UnitCovariates,
    cell_lsoa,
    read_imd,
    unit_covariates,
)
from crimemap.table import IncidentTable


def _events(cells, codes):
    ij = np.asarray(cells, float)
    return IncidentTable.from_columns(
        category=["burglary"] * len(cells),
        t_start=[np.datetime64("2021-01-01", "s")] * len(cells),
        x=(ij[:, 0] + 0.5) * 250,
        y=(ij[:, 1] + 0.5) * 250,
        lsoa=codes,
    )


def test_modal_lsoa_hand_case():
    ev = _events(
        [(0, 0), (0, 0), (0, 0), (1, 0), (1, 0), (2, 0)],
        ["E2", "E1", "E2", "E9", "E3", None],
    )
    units = Grid(250).units(np.array([[0, 0], [1, 0], [2, 0], [3, 0]]))
    codes = cell_lsoa(units, ev)
    # Cell 0: E2 twice; cell 1: a tie, the smaller code wins; cell 2: no code; cell 3: empty.
    assert list(codes) == ["E2", "E3", None, None]


def test_lookup_align_and_combine():
    lsoa = LsoaCovariates(
        codes=np.array(["E1", "E2"]),
        names=("imd_rank", "population"),
        values=np.array([[10.0, 1000.0], [20.0, 2000.0]]),
    )
    vals = lsoa.lookup(np.array(["E2", "E7", None], dtype=object))
    np.testing.assert_array_equal(vals[0], [20.0, 2000.0])
    assert np.isnan(vals[1:]).all()
    ev = _events([(0, 0), (1, 0)], ["E1", "E2"])
    units = Grid(250).units(np.array([[0, 0], [1, 0], [5, 5]]))
    uc = unit_covariates(units, ev, lsoa)
    assert uc.names == ("imd_rank", "population", "imd_rank_pct")
    np.testing.assert_allclose(uc.values[:2, 0], [10.0, 20.0])
    np.testing.assert_allclose(uc.values[:2, 2], [10.0 / 2, 20.0 / 2])
    assert np.isnan(uc.values[2]).all()
    # Alignment follows the target units' order, whatever the stored order.
    perm = units.subset(np.array([True, True, False]))
    rev = type(units)(
        kind="grid",
        ids=perm.ids[::-1].copy(),
        centroids=perm.centroids[::-1].copy(),
        cell_size=250.0,
        ij=perm.ij[::-1].copy(),
    )
    np.testing.assert_allclose(uc.align(rev)[:, 0], [20.0, 10.0])
    partner = UnitCovariates(
        ids=np.array([units.ids[1]], dtype=object),
        names=("footfall",),
        values=np.array([[5.0]]),
        source="partner",
    )
    both = uc.combine(partner)
    a = both.align(units)
    assert both.names[-1] == "footfall" and a[1, -1] == 5.0 and np.isnan(a[0, -1])
    assert both.source == "imd-2019+partner"


@pytest.mark.slow
def test_real_imd_and_join(imd_dir, police_uk):
    lsoa = read_imd(imd_dir)
    assert len(lsoa.codes) == 32844
    # Values read off the published File 1 and File 6 (City of London 001A).
    row = lsoa.lookup(np.array(["E01000001"], dtype=object))[0]
    names = list(lsoa.names)
    assert row[names.index("imd_rank")] == 29199
    assert row[names.index("imd_decile")] == 9
    assert row[names.index("population")] == 1296
    assert np.nanmin(lsoa.values[:, names.index("imd_rank")]) == 1
    from crimemap.ingest import read_incidents

    paths = sorted(glob.glob(str(police_uk / "2021-0[1-3]" / "*leicestershire-street.csv.gz")))
    ev = read_incidents(paths).filter(located=True)
    units = grid_units(ev, 250.0)
    uc = unit_covariates(units, ev, lsoa)
    joined = np.isfinite(uc.values[:, 0]).mean()
    assert joined > 0.99  # 2011 codes in 2021 files join almost fully (README: >= 99.8 % of rows)
