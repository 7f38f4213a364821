"""A sliding time window of integer counters, split into equal buckets.

Shared by the retry budget, the adaptive throttle, the circuit breaker and target stats. Reads time
only through the injected `Clock`; memory is fixed at construction (one small list per bucket), and
running totals make every operation O(1) amortised. It must not grow with traffic.
"""

from __future__ import annotations

from seawall._clock import Clock


class BucketWindow:
    """`fields` counters summed over the current bucket and the `buckets - 1` before it.

    Buckets are aligned to the clock reading at construction, so an event stays counted for at
    least `(buckets - 1) × bucket_s` and at most `buckets × bucket_s` seconds.
    """

    __slots__ = ("_clock", "_current", "_origin", "_ring", "_totals", "_width")

    def __init__(self, clock: Clock, *, bucket_s: float, buckets: int, fields: int) -> None:
        if bucket_s <= 0 or buckets < 1 or fields < 1:
            raise ValueError("bucket_s must be > 0, buckets and fields >= 1")
        self._clock = clock
        self._width = bucket_s
        self._origin = clock.now()
        self._ring = [[0] * fields for _ in range(buckets)]
        self._totals = [0] * fields
        self._current = 0

    def add(self, field: int, amount: int = 1) -> None:
        """Add `amount` to counter `field` in the current bucket."""
        bucket = self._ring[self._advance()]
        bucket[field] += amount
        self._totals[field] += amount

    def total(self, field: int) -> int:
        """Counter `field` summed over the live buckets."""
        self._advance()
        return self._totals[field]

    def totals(self) -> tuple[int, ...]:
        """Every counter summed over the live buckets."""
        self._advance()
        return tuple(self._totals)

    def clear(self) -> None:
        """Forget everything (e.g. when a breaker changes state)."""
        for bucket in self._ring:
            bucket[:] = [0] * len(bucket)
        self._totals = [0] * len(self._totals)

    def _advance(self) -> int:
        size = len(self._ring)
        index = int((self._clock.now() - self._origin) // self._width)
        if index > self._current:
            if index - self._current >= size:
                self.clear()
            else:
                for i in range(self._current + 1, index + 1):
                    bucket = self._ring[i % size]
                    for f, value in enumerate(bucket):
                        self._totals[f] -= value
                        bucket[f] = 0
            self._current = index
        return self._current % size
