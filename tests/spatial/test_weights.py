from __future__ import annotations

import numpy as np
import shapely

from crimemap.spatial import Grid
from crimemap.spatial.weights import grid_contiguity, polygon_contiguity, row_standardise


def _units(nx: int, ny: int, shift: int = 0):
    return Grid(100).units(np.array([(i + shift, j) for i in range(nx) for j in range(ny)]))


def test_queen_and_rook_cardinalities_on_3x3() -> None:
    u = _units(3, 3)
    q = grid_contiguity(u)
    card = dict(zip(u.ids, np.diff(q.indptr), strict=True))
    assert card["g100:1:1"] == 8 and card["g100:0:0"] == 3 and card["g100:0:1"] == 5
    r = grid_contiguity(u, rook=True)
    assert np.diff(r.indptr).tolist().count(4) == 1
    assert (q != q.T).nnz == 0 and q.diagonal().sum() == 0


def test_matches_libpysal_lattice() -> None:
    from libpysal.weights import lat2W

    u = _units(5, 4, shift=-3)
    q = grid_contiguity(u).toarray()
    # libpysal's lattice ids run row-major over (row, col) = (j, i).
    ref, _ = lat2W(4, 5, rook=False).full()
    idx = np.array(
        [u.position(np.array([f"g100:{c - 3}:{r}"]))[0] for r in range(4) for c in range(5)]
    )
    np.testing.assert_array_equal(q[np.ix_(idx, idx)], ref)


def test_polygon_contiguity_queen_vs_rook() -> None:
    b = shapely.box
    sq = [b(0, 0, 100, 100), b(100, 0, 200, 100), b(100, 100, 200, 200), b(500, 500, 600, 600)]
    q = polygon_contiguity(sq).toarray()
    assert q[0, 1] == 1 and q[0, 2] == 1 and q[3].sum() == 0
    r = polygon_contiguity(sq, rook=True).toarray()
    assert r[0, 1] == 1 and r[0, 2] == 0 and r[1, 2] == 1
    # Reprojected boundaries miss each other by millimetres: still neighbours.
    gap = [b(0, 0, 100, 100), b(100.004, 0, 200, 100)]
    assert polygon_contiguity(gap, rook=True).toarray()[0, 1] == 1
    assert polygon_contiguity(gap, tolerance=0.001).toarray()[0, 1] == 0


def test_row_standardise() -> None:
    w = row_standardise(grid_contiguity(_units(3, 3)))
    np.testing.assert_allclose(np.asarray(w.sum(axis=1)).ravel(), 1.0)
