"""Intervals over back-test origins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from crimemap.errors import InputError
from crimemap.evaluate.intervals import origin_interval


def test_t_interval_hand_case():
    v = [1.0, 2.0, 3.0, 4.0]
    iv = origin_interval(v, level=0.95)
    # mean 2.5, s = sqrt(5/3), t(0.975, 3) = 3.182446...
    half = 3.182446305284263 * np.sqrt(5 / 3) / 2
    assert iv.mean == 2.5 and iv.n == 4
    assert iv.lo == pytest.approx(2.5 - half) and iv.hi == pytest.approx(2.5 + half)
    assert stats.t.ppf(0.975, 3) == pytest.approx(3.182446305284263)


def test_non_finite_values_are_left_out():
    iv = origin_interval([1.0, np.nan, 3.0, np.inf])
    assert iv.n == 2 and iv.mean == 2.0
    empty = origin_interval([np.nan])
    assert empty.n == 0 and np.isnan(empty.mean) and empty.format() == "-"
    one = origin_interval([5.0])
    assert (one.lo, one.hi) == (5.0, 5.0)


def test_bootstrap_is_seeded_and_brackets_the_mean():
    v = np.random.default_rng(0).normal(10, 2, 24)
    a = origin_interval(v, method="bootstrap", seed=5)
    b = origin_interval(v, method="bootstrap", seed=5)
    assert (a.lo, a.hi) == (b.lo, b.hi)
    assert a.lo < a.mean < a.hi
    t = origin_interval(v)
    # Both estimate the same standard error: widths agree to ~25 %.
    assert (a.hi - a.lo) == pytest.approx(t.hi - t.lo, rel=0.25)


def test_unknown_method_raises():
    with pytest.raises(InputError):
        origin_interval([1.0, 2.0], method="magic")
