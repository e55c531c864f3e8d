"""The incident table: validation, immutability, filters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from crimemap import IncidentTable
from crimemap.data import sample_police_uk
from crimemap.errors import InputError
from crimemap.table import INCIDENT_SCHEMA


def small() -> IncidentTable:
    return IncidentTable.from_columns(
        category=["burglary", "drugs", "violent-crime"],
        t_start=["2024-01-01", "2024-02-01", "2024-02-15T10:00"],
        t_precision=["month", "month", "minute"],
        x=[400000.0, None, 400100.0],
        y=[300000.0, None, 300100.0],
    )


def test_defaults_and_intervals() -> None:
    t = small()
    assert len(t) == 3 and t.arrow.schema.equals(INCIDENT_SCHEMA)
    ends = t.column("t_end")
    assert str(ends[0]) == "2024-02-01T00:00:00" and str(ends[2]) == "2024-02-15T10:01:00"
    assert list(t.column("loc_precision")) == ["exact", "none", "exact"]
    assert not t.has_exact_times()


def test_immutable() -> None:
    t = small()
    with pytest.raises(AttributeError):
        t._t = None  # type: ignore[misc]
    with pytest.raises(ValueError):
        t.xy()[0, 0] = 1.0


def test_filters() -> None:
    t = small()
    assert len(t.filter(categories=["drugs"])) == 1
    assert len(t.filter(start="2024-02-01")) == 2
    assert len(t.filter(start="2024-02-01", end="2024-02-15")) == 1
    assert len(t.filter(located=True)) == 2 and len(t.filter(located=False)) == 1
    assert len(t.where(np.array([True, False, False]))) == 1
    assert len(IncidentTable.concat([t, t])) == 6 and len(IncidentTable.empty()) == 0


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        ({"category": ["not-a-category"] * 3}, "non-canonical"),
        ({"t_precision": ["year"] * 3}, "t_precision"),
    ],
)
def test_validation(change: dict, msg: str) -> None:
    t = small().arrow
    for k, v in change.items():
        t = t.set_column(t.schema.get_field_index(k), k, pa.array(v))
    with pytest.raises(InputError, match=msg):
        IncidentTable(t)


def test_missing_column_and_bad_interval() -> None:
    with pytest.raises(InputError, match="lacks column"):
        IncidentTable(small().arrow.drop_columns(["force"]))
    t = small().arrow
    t = t.set_column(t.schema.get_field_index("t_end"), "t_end", t["t_start"])
    with pytest.raises(InputError, match="t_end <= t_start"):
        IncidentTable(t)


def test_located_rows_need_projected_coordinates() -> None:
    t = small().arrow
    t = t.set_column(
        t.schema.get_field_index("loc_precision"), "loc_precision", pa.array(["exact"] * 3)
    )
    with pytest.raises(InputError, match="without projected"):
        IncidentTable(t)


def test_pickle_round_trip() -> None:
    import pickle

    t = small()
    u = pickle.loads(pickle.dumps(t))
    assert isinstance(u, IncidentTable) and u.arrow.equals(t.arrow)


def test_filter_matches_a_row_by_row_reference() -> None:
    """Random filters on a real extract equal a plain Python loop over the rows."""
    import itertools

    from crimemap.data import sample_dir
    from crimemap.ingest import read_incidents

    files = sorted(sample_dir().glob("**/*-street.csv*"))[:3]
    t = read_incidents(files)
    rows = t.arrow.select(["category", "force", "t_start", "loc_precision"]).to_pylist()
    cats = sorted({r["category"] for r in rows})[:4]
    months = sorted({r["t_start"] for r in rows})
    for cs, start, end, loc in itertools.product(
        [None, cats], [None, months[1]], [None, months[-1]], [None, True, False]
    ):
        got = t.filter(categories=cs, start=start, end=end, located=loc)
        want = [
            i
            for i, r in enumerate(rows)
            if (cs is None or r["category"] in cs)
            and (start is None or r["t_start"] >= start)
            and (end is None or r["t_start"] < end)
            and (loc is None or (r["loc_precision"] != "none") == loc)
        ]
        assert got.arrow.column("incident_id").to_pylist() == [
            t.arrow.column("incident_id")[i].as_py() for i in want
        ]
    # A filter that removes nothing returns the same table (no copy).
    assert t.filter(end=np.datetime64("2100-01-01")) is t


def test_per_row_values_follow_filters_and_equal_a_fresh_computation() -> None:
    from crimemap.ingest import read_incidents
    from crimemap.spatial.grid import _cell_index, cell_index, grid_units

    t = read_incidents(sorted(sample_police_uk().glob("**/*-street.csv*"))[:2])
    units = grid_units(t, 250.0)
    pos = cell_index(units, t)
    assert cell_index(units, t) is pos  # computed once per table and units
    assert not pos.flags.writeable
    sub = t.filter(categories=["burglary", "anti-social-behaviour"], located=True)
    inherited = cell_index(units, sub)
    np.testing.assert_array_equal(inherited, _cell_index(units, sub))
    # Other units objects get their own entries; old ones are dropped beyond the cap.
    others = [grid_units(t, 250.0) for _ in range(6)]
    for u in others:
        np.testing.assert_array_equal(cell_index(u, t), pos)
    assert sum(1 for k in t._memo if isinstance(k, tuple)) <= IncidentTable._MAX_KEYED
    with pytest.raises(InputError, match="values for"):
        t.per_row("bad", lambda: np.zeros(3))


def test_digest_is_what_a_time_cut_sees() -> None:
    from crimemap.ingest import read_incidents

    t = read_incidents(sorted(sample_police_uk().glob("**/*-street.csv*"))[:3])
    end = np.datetime64("2024-12-01", "s")
    cut = t.filter(end=end, located=True)
    assert t.digest(end) == cut.digest(np.datetime64("2100-01-01", "s"))
    assert t.digest(end)[0] == len(cut)
    assert t.digest(end) != t.digest(np.datetime64("2024-11-01", "s"))
