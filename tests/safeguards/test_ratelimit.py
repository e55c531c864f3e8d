"""Token-bucket rate limiter with a fake clock."""

from __future__ import annotations

import pytest

from crimemap.errors import InputError, RateLimited
from crimemap.safeguards import TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refill():
    clk = FakeClock()
    lim = TokenBucketLimiter(rate=2.0, burst=3, clock=clk)
    assert [lim.allow("a") for _ in range(4)] == [True, True, True, False]
    with pytest.raises(RateLimited) as exc:
        lim.check("a")
    # 0 tokens left, 2 tokens/s -> one token in 0.5 s
    assert exc.value.retry_after == pytest.approx(0.5)
    clk.t += 0.5
    assert lim.allow("a") and not lim.allow("a")
    clk.t += 100  # refills to the burst size, never beyond
    assert lim.remaining("a") == pytest.approx(3.0)
    assert sum(lim.allow("a") for _ in range(10)) == 3


def test_keys_are_independent_and_memory_is_bounded():
    clk = FakeClock()
    lim = TokenBucketLimiter(rate=1.0, burst=1, clock=clk, max_keys=2)
    assert lim.allow("a") and lim.allow("b")
    assert not lim.allow("a") and not lim.allow("b")
    assert lim.allow("c")  # evicts "a" (least recently used)
    assert len(lim._buckets) == 2


def test_sustained_rate_matches_a_slow_reference():
    clk = FakeClock()
    lim = TokenBucketLimiter(rate=5.0, burst=2, clock=clk)
    allowed = 0
    for _ in range(1000):  # 10 s of requests every 10 ms
        allowed += lim.allow("k")
        clk.t += 0.01
    # burst + rate * elapsed (at most one request in flight at the end)
    assert abs(allowed - (2 + 5.0 * 10)) <= 1


def test_bad_parameters():
    with pytest.raises(InputError):
        TokenBucketLimiter(rate=0, burst=1)
    with pytest.raises(InputError):
        TokenBucketLimiter(rate=1, burst=0)
