"""grid_surface: flat arrays to a grid RiskSurface, order-independent."""

from __future__ import annotations

import numpy as np
import pytest

from crimemap.allocate import grid_surface, plan_patrols
from crimemap.errors import InputError


def test_rows_follow_grid_order_and_plans_do_not_depend_on_input_order():
    rng = np.random.default_rng(1)
    ii, jj = np.meshgrid(np.arange(5), np.arange(4), indexing="ij")
    ij = np.column_stack([ii.ravel(), jj.ravel()]) + 800
    mean = rng.gamma(0.7, 2.0, len(ij))
    perm = rng.permutation(len(ij))
    kw = dict(size=500.0, start="2024-03-01", end="2024-04-01", model="ewm")
    a = grid_surface(ij, mean, components={"recent": mean}, **kw)
    b = grid_surface(ij[perm], mean[perm], components={"recent": mean[perm]}, **kw)
    assert np.array_equal(a.units.ids, b.units.ids)
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.components["recent"], a.mean)
    # Each cell keeps its own value: look one up by id.
    k = int(np.flatnonzero(a.units.ids == "g500:802:801")[0])
    assert a.mean[k] == mean[(ij[:, 0] == 802) & (ij[:, 1] == 801)][0]
    assert plan_patrols(a, 2, max_cells=3).objective == pytest.approx(
        plan_patrols(b, 2, max_cells=3).objective
    )
    with pytest.raises(InputError, match="unique"):
        grid_surface(np.vstack([ij, ij[:1]]), np.append(mean, 1.0), **kw)
