from __future__ import annotations

import math

import numpy as np
import pytest

from crimemap.detect.trend import mann_kendall
from crimemap.errors import InsufficientDataError


def _ref(x: list[float]) -> tuple[float, float]:
    t = len(x)
    s = sum(int(x[l] > x[k]) - int(x[l] < x[k]) for k in range(t) for l in range(k + 1, t))  # noqa: E741
    groups: dict[float, int] = {}
    for v in x:
        groups[v] = groups.get(v, 0) + 1
    ties = sum(g * (g - 1) * (2 * g + 5) for g in groups.values())
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18
    return s, var


def test_hand_case() -> None:
    r = mann_kendall(np.array([1.0, 2, 3, 4, 5]))
    assert r.s[0] == 10
    assert r.var[0] == pytest.approx(5 * 4 * 15 / 18)
    assert r.z[0] == pytest.approx(9 / math.sqrt(5 * 4 * 15 / 18))


def test_matches_reference_with_ties() -> None:
    rng = np.random.default_rng(0)
    x = rng.poisson(1.5, (40, 12)).astype(float)
    r = mann_kendall(x)
    for i in range(40):
        s, var = _ref(list(x[i]))
        assert r.s[i] == s and r.var[i] == pytest.approx(var)


def test_null_false_positive_rate_and_short_series() -> None:
    rng = np.random.default_rng(1)
    r = mann_kendall(rng.normal(size=(4000, 20)))
    assert 0.03 < (r.p < 0.05).mean() < 0.07
    with pytest.raises(InsufficientDataError):
        mann_kendall(np.arange(3.0))
