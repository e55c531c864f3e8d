"""The tabulated count band equals scipy's per-unit quantiles (the slow reference)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from crimemap.forecast._band import count_band, count_dist


def reference_band(
    mean: np.ndarray, *, dispersion: float = 0.0, scale: float = 1.0, level: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """The same calibrated band with scipy's ppf/cdf on every unit (the former implementation)."""
    mu = np.asarray(mean, float) / scale
    pos = mu > 0
    lo, hi = np.zeros_like(mu), np.zeros_like(mu)
    if not pos.any():
        return lo, hi
    dist = count_dist(mu[pos], dispersion)

    def band(lv: float) -> tuple[np.ndarray, np.ndarray, float]:
        a = (1.0 - lv) / 2.0
        lo_, hi_ = np.nan_to_num(dist.ppf(a)), np.nan_to_num(dist.ppf(1.0 - a))
        cov = dist.cdf(hi_) - np.where(lo_ > 0, dist.cdf(lo_ - 1), 0.0)
        return lo_, hi_, float((cov.sum() + (~pos).sum()) / len(mu))

    best = band(level)[:2]
    a_, b_ = 0.30, level
    for _ in range(12):
        mid = 0.5 * (a_ + b_)
        lm, hm, cov = band(mid)
        if cov >= level:
            best, b_ = (lm, hm), mid
        else:
            a_ = mid
    lo[pos], hi[pos] = best
    return lo * scale, hi * scale


@pytest.mark.parametrize("dispersion", [0.0, 0.3, 2.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_scipy_reference(dispersion: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Mostly sparse cells, some busy ones beyond the table (scipy fallback), some zeros.
    mu = np.concatenate(
        [rng.exponential(0.4, 3000), rng.uniform(5, 200, 50), np.zeros(20), [1e-9, 63.0]]
    )
    rng.shuffle(mu)
    lo, hi = count_band(mu, dispersion=dispersion)
    rlo, rhi = reference_band(mu, dispersion=dispersion)
    np.testing.assert_array_equal(lo, rlo)
    np.testing.assert_array_equal(hi, rhi)


def test_tiny_hand_case() -> None:
    # Poisson(0.05): P(0) = 0.951 >= 0.95, so the uncalibrated 90 % band is [0, 0].
    lo, hi = count_band(np.array([0.05]), calibrate=False)
    assert (lo[0], hi[0]) == (0.0, 0.0)
    # Poisson(10): the 5 % and 95 % quantiles are 5 and 15.
    lo, hi = count_band(np.array([10.0]), calibrate=False)
    assert (lo[0], hi[0]) == (stats.poisson.ppf(0.05, 10), stats.poisson.ppf(0.95, 10)) == (5, 15)


def test_harm_scale_and_zero_means() -> None:
    mu = np.array([0.0, 2.0, 8.0])
    lo1, hi1 = count_band(mu)
    lo3, hi3 = count_band(mu * 3.0, scale=3.0)
    np.testing.assert_array_equal(lo3, lo1 * 3.0)
    np.testing.assert_array_equal(hi3, hi1 * 3.0)
    assert lo1[0] == hi1[0] == 0.0


def test_model_implied_coverage_is_nominal() -> None:
    rng = np.random.default_rng(5)
    mu = rng.gamma(0.5, 2.0, 5000)
    lo, hi = count_band(mu)
    d = stats.poisson(mu)
    cov = (d.cdf(hi) - np.where(lo > 0, d.cdf(lo - 1), 0.0)).mean()
    assert 0.90 <= cov < 0.93


@pytest.mark.parametrize("dispersion", [0.0, 1e-4, 0.3, 2.0, 25.0])
def test_cdf_table_equals_scipy_cdf(dispersion: float) -> None:
    from crimemap.forecast._band import _cdf_table

    mu = np.concatenate([np.geomspace(1e-9, 900.0, 400), [0.05, 1.0, 63.0]])
    got = _cdf_table(mu, dispersion, 64)
    want = count_dist(mu, dispersion).cdf(np.arange(64)[None, :].repeat(len(mu), 0).T).T
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
