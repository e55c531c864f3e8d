from __future__ import annotations

import numpy as np
import pytest

from crimemap.detect.concentration import (
    concentration,
    generalised_gini,
    gini,
    lorenz,
    poisson_lorenz,
    top_share,
)
from crimemap.errors import InsufficientDataError
from crimemap.spatial import cell_index, grid_units


def _ref_gini(x: list[float]) -> float:
    """Mean-absolute-difference Gini with the Lorenz-area normalisation (loops)."""
    n = len(x)
    mad = sum(abs(a - b) for a in x for b in x) / (n * n)
    return mad / (2 * (sum(x) / n))


def test_hand_cases() -> None:
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75)  # 1 - 1/n
    assert top_share([0, 0, 0, 8], 0.25) == pytest.approx(1.0)
    assert top_share([1, 1, 1, 1], 0.5) == pytest.approx(0.5)
    c = lorenz([3, 1])
    np.testing.assert_allclose(c.crime, [0, 0.75, 1.0])


def test_gini_matches_reference_and_is_order_invariant() -> None:
    rng = np.random.default_rng(2)
    x = rng.poisson(1.5, 60).astype(float)
    assert gini(x) == pytest.approx(_ref_gini(list(x)))
    assert gini(rng.permutation(x)) == pytest.approx(gini(x))
    assert gini(3 * x) == pytest.approx(gini(x))


def test_generalised_gini_bernasco_steenbeek() -> None:
    # 3 crimes in 10 places, as evenly as possible -> 0; all in one place -> > 0.
    assert generalised_gini([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx(0.0)
    g = gini([3, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert generalised_gini([3] + [0] * 9) == pytest.approx(1 - (1 - g) * 10 / 3)
    x = [4, 3, 2, 1]
    assert generalised_gini(x) == pytest.approx(gini(x))


def test_poisson_baseline_matches_simulation() -> None:
    rng = np.random.default_rng(0)
    n, total = 4000, 2000  # lambda = 0.5: sparse
    sims = [gini(rng.multinomial(total, np.full(n, 1 / n))) for _ in range(20)]
    assert poisson_lorenz(total, n).gini() == pytest.approx(np.mean(sims), abs=0.01)
    # The naive Gini of pure chance is large; the modified Gini removes it.
    x = rng.multinomial(total, np.full(n, 1 / n))
    res = concentration(x)
    assert res.gini > 0.5
    assert abs(res.modified_gini) < 0.03
    assert not res.sufficient and "indistinguishable" in res.reason
    with pytest.raises(InsufficientDataError):
        concentration(x, strict=True)


def test_concentrated_counts_are_reported() -> None:
    rng = np.random.default_rng(1)
    rate = rng.gamma(0.3, 1.0, 3000)
    x = rng.poisson(rate * 2)
    res = concentration(x, strict=True)
    assert res.sufficient and res.modified_gini > 0.1
    assert res.top_shares[0.1] > 0.1


def test_harm_values_have_no_poisson_baseline() -> None:
    res = concentration(np.array([1.5, 0.0, 30.2, 4.0]))
    assert np.isnan(res.poisson_gini) and not res.sufficient


def test_real_extract_is_concentrated(northumbria_month) -> None:
    units = grid_units(northumbria_month, 250)
    pos = cell_index(units, northumbria_month)
    y = np.bincount(pos[pos >= 0], minlength=len(units))
    res = concentration(y, strict=True)
    # Even among cells that saw crime, it is far more concentrated than chance.
    assert res.modified_gini > 0.1
    assert res.top_shares[0.05] > 0.2
    # One rare category is much sparser: the chance baseline rises.
    rob = northumbria_month.filter(categories=["robbery"])
    pr = cell_index(units, rob)
    yr = np.bincount(pr[pr >= 0], minlength=len(units))
    sparse = concentration(yr)
    assert sparse.poisson_gini > res.poisson_gini
    assert sparse.gini > sparse.modified_gini
