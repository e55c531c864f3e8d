"""The in-memory cell index: tiny hand-derived cases and invariances."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from crimemap.api._cells import (
    CELL_SIZES,
    CellIndex,
    cell_key,
    cell_size_for,
    cell_unkey,
    month_index,
    month_label,
    parse_cell_id,
)
from crimemap.errors import InputError


def _table(rows: list[tuple[str, str, int, int, int, int]]) -> pa.Table:
    f, c, m, i, j, n = zip(*rows, strict=True)
    return pa.table({"force": f, "category": c, "month": m, "i": i, "j": j, "n": n})


ROWS = [
    ("a", "burglary", 600, 0, 0, 2),
    ("a", "burglary", 601, 1, 1, 3),  # same 500 m cell as (0, 0)
    ("a", "robbery", 601, 2, 0, 5),  # next 500 m cell east
    ("b", "burglary", 602, -1, -1, 7),  # negative indices floor correctly
]


def test_aggregate_hand_derived() -> None:
    ix = CellIndex(27700)
    ix.add(_table(ROWS))
    a = ix.aggregate(500.0)
    got = {(int(i), int(j)): v for (i, j), v in zip(a.ij, a.value, strict=True)}
    assert got == {(0, 0): 5.0, (1, 0): 5.0, (-1, -1): 7.0}
    b = ix.aggregate(250.0, categories=frozenset({"burglary"}), start=601, end=602, force="a")
    assert b.ij.tolist() == [[1, 1]] and b.value.tolist() == [3.0]
    h = ix.aggregate(500.0, weights={"burglary": 10.0, "robbery": 1.0})
    got = {(int(i), int(j)): v for (i, j), v in zip(h.ij, h.value, strict=True)}
    assert got == {(0, 0): 50.0, (1, 0): 5.0, (-1, -1): 70.0}
    months, vals = ix.series(cells=(500.0, 0, 0))
    assert months.tolist() == [600, 601, 602] and vals.tolist() == [2.0, 3.0, 0.0]
    assert ix.study_cells(1000.0).tolist() == [[-1, -1], [0, 0]]


def test_order_of_input_does_not_matter() -> None:
    rng = np.random.default_rng(0)
    a, b = CellIndex(27700), CellIndex(27700)
    a.add(_table(ROWS))
    for k in rng.permutation(len(ROWS)):
        b.add(_table([ROWS[k]]))  # and incremental adds equal one bulk add
    for size in CELL_SIZES:
        x, y = a.aggregate(size), b.aggregate(size)
        np.testing.assert_array_equal(x.ij, y.ij)
        np.testing.assert_array_equal(x.value, y.value)
        assert list(x.geom) == list(y.geom)


def test_window_sums_match_a_slow_reference() -> None:
    rng = np.random.default_rng(1)
    cats = ["burglary", "robbery", "violent-crime", "anti-social-behaviour"]
    rows = [
        (
            str(rng.choice(["a", "b"])),
            str(rng.choice(cats)),
            int(rng.integers(600, 640)),
            int(rng.integers(-40, 40)),
            int(rng.integers(-40, 40)),
            int(rng.integers(1, 5)),
        )
        for _ in range(3000)
    ]
    ix = CellIndex(27700)
    for k in range(0, len(rows), 700):  # incremental merges
        ix.add(_table(rows[k : k + 700]))
    w = {"burglary": 3.0, "robbery": 5.0, "violent-crime": 2.0}
    for _ in range(20):
        size = float(rng.choice(CELL_SIZES[:4]))
        sel = frozenset(rng.choice(cats, size=2, replace=False).tolist())
        s, e = sorted(rng.integers(598, 642, size=2).tolist())
        force = [None, "a", "b"][int(rng.integers(3))]
        weights = w if rng.random() < 0.5 else None
        bbox = (-5000.0, -3000.0, float(rng.integers(0, 9000)), 8000.0)
        want: dict[tuple[int, int], float] = {}
        k = int(size // 250)
        for f, c, m, i, j, n in rows:
            if c in sel and s <= m <= e and force in (None, f):
                ci, cj = i // k, j // k
                if (
                    ci * size <= bbox[2]
                    and (ci + 1) * size >= bbox[0]
                    and cj * size <= bbox[3]
                    and (cj + 1) * size >= bbox[1]
                ):
                    want[(ci, cj)] = want.get((ci, cj), 0.0) + n * (
                        weights.get(c, 0.0) if weights else 1.0
                    )
        a = ix.aggregate(
            size, categories=sel, start=s, end=e, force=force, weights=weights, xy_bbox=bbox
        )
        got = {(int(i), int(j)): v for (i, j), v in zip(a.ij, a.value, strict=True)}
        assert got.keys() == {key for key, v in want.items() if v != 0}
        for key, v in got.items():
            assert v == pytest.approx(want[key])


def test_rings_are_the_cells_in_wgs84() -> None:
    ix = CellIndex(27700)
    # Cell (1000, 2000) of 500 m: x 500-1000 km, y 1000-1000.5 km (north of Scotland).
    r = ix.rings(np.array([[1000, 2000]]), 500.0)[0]
    assert r.shape == (5, 2) and np.allclose(r[0], r[-1])
    from pyproj import Transformer

    back = Transformer.from_crs(4326, 27700, always_xy=True).transform(r[:4, 0], r[:4, 1])
    np.testing.assert_allclose(
        np.column_stack(back),
        [[5e5, 1e6], [500500, 1e6], [500500, 1000500], [5e5, 1000500]],
        atol=1e-3,
    )


def test_keys_round_trip() -> None:
    ij = np.array([[0, 0], [-5, 7], [123456, -654321], [-(2**27), 2**27]])
    np.testing.assert_array_equal(cell_unkey(cell_key(ij[:, 0], ij[:, 1])), ij)
    assert np.all(np.diff(cell_key(np.array([0, 0, 1]), np.array([0, 1, -9]))) > 0)


def test_cell_size_grows_as_zoom_falls() -> None:
    box = (400_000.0, 400_000.0, 410_000.0, 408_000.0)
    sizes = [cell_size_for(z, box) for z in (16, 13, 11, 9)]
    assert sizes == sorted(sizes) and sizes[0] == 250.0
    huge = (0.0, 0.0, 700_000.0, 1_200_000.0)
    s = cell_size_for(18, huge)
    assert (700_000 / s + 1) * (1_200_000 / s + 1) <= 4000 or s == CELL_SIZES[-1]


def test_ids_and_months() -> None:
    assert parse_cell_id("g500:812:-3") == (500.0, 812, -3)
    for bad in ("500:1:2", "g500:1", "gx:1:2", "g300:1:2"):
        with pytest.raises(InputError):
            parse_cell_id(bad)
    assert month_index("1970-01") == 0 and month_label(month_index("2024-12")) == "2024-12"
    for bad in ("2024-13", "2024", "May"):
        with pytest.raises(InputError):
            month_index(bad)
