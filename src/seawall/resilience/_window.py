"""A sliding time window of integer counters, split into equal buckets.

Shared by the retry budget, the adaptive throttle, the circuit breaker and target stats. The state
is a `WindowRecord` (plain data a state backend can store, copy or ship); the `window_*` functions
step it for an explicit `now`; `BucketWindow` is the facade that reads an injected `Clock`. Memory
is fixed at creation (one small list per bucket), and running totals make every operation O(1)
amortised. It must not grow with traffic, and the functions must not read a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall._clock import Clock


@dataclass(slots=True)
class WindowRecord:
    """The counters of one bucketed window.

    `origin` is a `Clock.now()` reading (buckets are aligned to it), `current` the index of the
    newest bucket since `origin`, `ring[current % len(ring)]` its counters, and `totals` the sum
    over the live buckets. Geometry (bucket width) is not stored: callers pass it.
    """

    origin: float
    current: int
    ring: list[list[int]]
    totals: list[int]

    @classmethod
    def empty(cls, now: float, *, buckets: int, fields: int) -> WindowRecord:
        """A window of `buckets` buckets of `fields` counters, aligned to `now`."""
        if buckets < 1 or fields < 1:
            raise ValueError("buckets and fields must be >= 1")
        return cls(now, 0, [[0] * fields for _ in range(buckets)], [0] * fields)


def window_advance(rec: WindowRecord, bucket_s: float, now: float) -> int:
    """Retire the buckets that `now` has left behind; the ring index of the current bucket."""
    ring = rec.ring
    size = len(ring)
    index = int((now - rec.origin) // bucket_s)
    current = rec.current
    if index > current:
        if index - current >= size:
            window_clear(rec)
        else:
            totals = rec.totals
            for i in range(current + 1, index + 1):
                bucket = ring[i % size]
                for f, value in enumerate(bucket):
                    totals[f] -= value
                    bucket[f] = 0
        rec.current = current = index
    return current % size


def window_add(rec: WindowRecord, bucket_s: float, now: float, field: int, amount: int = 1) -> None:
    """Add `amount` to counter `field` in the bucket holding `now`."""
    rec.ring[window_advance(rec, bucket_s, now)][field] += amount
    rec.totals[field] += amount


def window_totals(rec: WindowRecord, bucket_s: float, now: float) -> list[int]:
    """Every counter summed over the live buckets at `now`. The record's own list: do not mutate."""
    window_advance(rec, bucket_s, now)
    return rec.totals


def window_clear(rec: WindowRecord) -> None:
    """Forget every count (the alignment stays)."""
    for bucket in rec.ring:
        bucket[:] = [0] * len(bucket)
    rec.totals = [0] * len(rec.totals)


class BucketWindow:
    """`fields` counters summed over the current bucket and the `buckets - 1` before it.

    Buckets are aligned to the clock reading at construction, so an event stays counted for at
    least `(buckets - 1) × bucket_s` and at most `buckets × bucket_s` seconds. A facade over a
    `WindowRecord` (pass `record` to step an existing one).
    """

    __slots__ = ("_clock", "_rec", "_width")

    def __init__(
        self,
        clock: Clock,
        *,
        bucket_s: float,
        buckets: int,
        fields: int,
        record: WindowRecord | None = None,
    ) -> None:
        if bucket_s <= 0 or buckets < 1 or fields < 1:
            raise ValueError("bucket_s must be > 0, buckets and fields >= 1")
        self._clock = clock
        self._width = bucket_s
        self._rec = record or WindowRecord.empty(clock.now(), buckets=buckets, fields=fields)

    @property
    def state_record(self) -> WindowRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    def add(self, field: int, amount: int = 1) -> None:
        """Add `amount` to counter `field` in the current bucket."""
        window_add(self._rec, self._width, self._clock.now(), field, amount)

    def total(self, field: int) -> int:
        """Counter `field` summed over the live buckets."""
        return window_totals(self._rec, self._width, self._clock.now())[field]

    def totals(self) -> tuple[int, ...]:
        """Every counter summed over the live buckets."""
        return tuple(window_totals(self._rec, self._width, self._clock.now()))

    def clear(self) -> None:
        """Forget everything (e.g. when a breaker changes state)."""
        window_clear(self._rec)
