"""Per-key request-rate limits: one token bucket per API key, in this worker's memory.

A key may make ``burst`` requests at once and ``rate`` per second after that; a request
with no token left gets 429 with ``Retry-After`` (whole seconds until the next token). With
several workers each keeps its own buckets, so a key's ceiling is ``workers × rate``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

MAX_KEYS = 10_000  # buckets kept; the least recently used is dropped beyond (it refills anyway)


class RateLimiter:
    """``allow(who)`` → 0 when the request may go, else the seconds to wait (≥ 1)."""

    def __init__(self, rate: float, burst: int, *, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, who: str) -> int:
        if not self.enabled:
            return 0
        now = self.clock()
        tokens, then = self._buckets.pop(who, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[who] = (tokens - 1.0, now)
            wait = 0
        else:
            self._buckets[who] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
        if len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)
        return wait
