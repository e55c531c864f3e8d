"""A per-key token-bucket rate limiter (in memory, injectable clock).

Each key (an API token id, a user or a client address) has a bucket of
``burst`` tokens refilled at ``rate`` tokens per second; a request takes one
token or is refused with :class:`~crimemap.errors.RateLimited`. Memory is
bounded: at most ``max_keys`` buckets are kept, least recently used first
out (a dropped bucket is simply full again, which only ever errs towards
allowing a request).

Reference: the token bucket of Turner (1986), *New directions in
communications*, IEEE Communications Magazine 24(10).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from crimemap.errors import InputError, RateLimited

__all__ = ["TokenBucketLimiter"]


class TokenBucketLimiter:
    """Token bucket per key.

    Parameters
    ----------
    rate : float
        Tokens added per second.
    burst : int
        Bucket size (requests allowed at once after a quiet spell).
    clock : callable, optional
        Monotonic time in seconds (default :func:`time.monotonic`); tests pass
        a fake clock.
    max_keys : int
        Buckets kept at most.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)) or burst < 1 or max_keys < 1:
            raise InputError("rate limiter: rate > 0, burst >= 1 and max_keys >= 1 needed")
        self.rate = float(rate)
        self.burst = int(burst)
        self.clock = clock
        self.max_keys = int(max_keys)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _take(self, key: str, cost: float) -> float:
        """Take ``cost`` tokens; return 0 on success or the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """True (and a token taken) when ``key`` may make a request now."""
        return self._take(key, cost) == 0.0

    def check(self, key: str, cost: float = 1.0) -> None:
        """Take a token or raise.

        Raises
        ------
        crimemap.errors.RateLimited
            With ``retry_after`` (seconds) set on the exception.
        """
        wait = self._take(key, cost)
        if wait > 0:
            exc = RateLimited(f"too many requests; retry in {wait:.1f} s")
            exc.retry_after = wait  # type: ignore[attr-defined]
            raise exc

    def remaining(self, key: str) -> float:
        """Tokens currently available to ``key`` (without taking one)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
