"""Disclosure control: suppression, rounding, aligned bins, and the differencing check."""

from __future__ import annotations

import numpy as np
import pytest

from crimemap.errors import InputError
from crimemap.safeguards.disclosure import (
    DisclosureError,
    DisclosurePolicy,
    assert_publishable,
    control,
    public_counts,
    public_total,
)
from crimemap.spatial import CountCube, Grid, count_cube
from crimemap.spatial.units import Units


def test_control_hand_cases():
    c = np.array([0, 1, 2, 4, 5, 6, 7, 8, 12, 13, 100])
    out = control(c)
    exp = np.array([0, np.nan, np.nan, np.nan, 5, 5, 5, 10, 10, 15, 100])
    np.testing.assert_array_equal(out, exp)
    # half-up, not banker's rounding: 2.5 * 5 = 12.5 -> 15, 17.5 -> 20
    np.testing.assert_array_equal(control(np.array([12.5, 17.5])), [15, 20])
    with pytest.raises(InputError):
        control(np.array([-1]))
    with pytest.raises(InputError):
        DisclosurePolicy(threshold=3, base=5)


def test_control_never_publishes_a_small_count_exhaustive():
    for threshold in (2, 3, 5, 10):
        for base in range(1, threshold + 1):
            p = DisclosurePolicy(threshold=threshold, base=base)
            out = control(np.arange(0, 200), p)
            ok = out[~np.isnan(out)]
            assert not np.any((ok > 0) & (ok < threshold))
            assert np.all(ok % base == 0)
            assert np.all(np.isnan(out[1:threshold]))
            # rounding error at most half a base, except the lift at the threshold
            raw = np.arange(0, 200)[~np.isnan(out)]
            lift = np.ceil(threshold / base) * base - threshold
            assert np.all(np.abs(ok - raw) <= max(base / 2, lift))


def _cube(counts, periods=("2024-01-01", "2024-02-01", "2024-03-01"), size=500.0):
    counts = np.asarray(counts, float)
    g = Grid(size)
    units = g.units(np.column_stack([np.arange(len(counts)), np.zeros(len(counts), int)]))
    return CountCube(units, np.array(periods, dtype="datetime64[s]"), "M", counts)


def test_policy_refuses_fine_units_and_bins():
    with pytest.raises(InputError):
        public_counts(_cube([[1, 2, 3]], size=250.0))
    c = _cube([[1, 2, 3]])
    weekly = CountCube(c.units, c.periods, "W", c.counts.copy())
    with pytest.raises(InputError):
        public_counts(weekly)
    pub = public_counts(c)
    with pytest.raises(InputError):
        public_total(pub, start="2024-01-15")  # not a bin boundary


def _all_aligned_queries(pub):
    """Every public answer over every aligned time range, per unit and in total."""
    per = list(pub.periods) + [np.datetime64("2024-04-01T00:00:00")]
    out = []
    for i in range(len(per)):
        for j in range(i + 1, len(per)):
            t = public_total(pub, start=per[i], end=per[j])
            tot = public_total(pub, start=per[i], end=per[j], over_units=True)
            out.append(
                (t.values.tolist(), t.suppressed.tolist(), float(tot.values), int(tot.suppressed))
            )
    return out


def test_differencing_adjacent_ranges_cannot_recover_a_suppressed_january():
    # unit 0: January 3 (suppressed), Feb 6, Mar 9; unit 1 is busy.
    base = np.array([[3, 6, 9], [40, 41, 42]])
    pub = public_counts(_cube(base))
    jan_mar = public_total(pub, start="2024-01-01", end="2024-04-01")
    feb_mar = public_total(pub, start="2024-02-01", end="2024-04-01")
    diff = jan_mar.values - feb_mar.values
    assert diff[0] == 0  # the published January value (suppressed -> 0), not 3
    assert jan_mar.suppressed[0] - feb_mar.suppressed[0] == 1  # "fewer than 5", already public
    # The naive scheme (suppress/round totals computed from raw counts) leaks:
    naive = control(base[:, 0:3].sum(axis=1)) - control(base[:, 1:3].sum(axis=1))
    raw_diff = base[:, 0:3].sum(axis=1) - base[:, 1:3].sum(axis=1)  # suppression only
    assert raw_diff[0] == 3 and naive[0] != 0
    # Strongest form: every aligned query gives the same answers whatever the
    # suppressed January count is (1..4), so no combination of them recovers it.
    answers = []
    for jan in range(1, 5):
        b = base.copy()
        b[0, 0] = jan
        answers.append(_all_aligned_queries(public_counts(_cube(b))))
    assert all(a == answers[0] for a in answers[1:])


def test_assert_publishable():
    assert_publishable(np.array([0, np.nan, 5, 10, 150]))
    with pytest.raises(DisclosureError):
        assert_publishable(np.array([0, 3]))
    with pytest.raises(DisclosureError):
        assert_publishable(np.array([7]))


def _street(police_uk, force, months):
    from crimemap.ingest import read_incidents

    files = [police_uk / m / f"{m}-{force}-street.csv.gz" for m in months]
    return read_incidents(files)


@pytest.mark.parametrize(
    ("force", "months"),
    [
        ("north-yorkshire", ["2024-01", "2024-02", "2024-03"]),
        ("leicestershire", ["2020-03", "2020-04", "2020-05"]),
    ],
)
def test_real_extract_public_outputs_have_no_small_counts(police_uk, force, months):
    inc = _street(police_uk, force, months).filter(located=True)
    g = Grid(500.0)
    xy = inc.xy()
    units = g.units(g.ij(xy[:, 0], xy[:, 1]))
    policy = DisclosurePolicy()
    for cats in (None, {"burglary"}, {"violent-crime"}):
        sub = inc if cats is None else inc.filter(categories=cats)
        cube = count_cube(sub, units, freq="M", start=f"{months[0]}-01", end=_next(months[-1]))
        raw = cube.counts
        assert raw.sum() == len(sub)
        assert ((raw > 0) & (raw < 5)).any()  # the extract really has small cells
        pub = public_counts(cube, policy)
        assert_publishable(pub.values, policy)
        v = pub.values
        assert not np.any((v > 0) & (v < 5))
        np.testing.assert_array_equal(np.isnan(v), (raw > 0) & (raw < 5))
        # Every aligned window, per cell and in total, is publishable too.
        per = list(pub.periods) + [np.datetime64(_next(months[-1]), "s")]
        for i in range(len(per)):
            for j in range(i + 1, len(per)):
                t = public_total(pub, start=per[i], end=per[j])
                assert_publishable(t.values, policy)
                assert_publishable(
                    public_total(pub, start=per[i], end=per[j], over_units=True).values
                )
        # Differencing on the real extract: for every cell with a suppressed
        # first month, total(m1..m3) - total(m2..m3) is 0, never the raw count.
        sup0 = np.isnan(v[:, 0])
        d = (
            public_total(pub, start=per[0], end=per[3]).values
            - public_total(pub, start=per[1], end=per[3]).values
        )
        assert sup0.any() and np.all(d[sup0] == 0)


def _next(month: str) -> str:
    return str(np.datetime64(month, "M") + 1) + "-01"


def test_units_kind_from_units_object():
    # LSOA units have no cell size: accepted (they are published areas).
    u = Units(kind="lsoa", ids=np.array(["E01", "E02"], dtype=object), centroids=np.zeros((2, 2)))
    cube = CountCube(
        u, np.array(["2024-01-01"], dtype="datetime64[s]"), "M", np.array([[2.0], [9.0]])
    )
    pub = public_counts(cube)
    assert np.isnan(pub.values[0, 0]) and pub.values[1, 0] == 10
