"""Recent latencies and outcomes per target: quantiles for hedging, rates for /admin/targets.

`LatencyWindow` keeps the latest samples (bounded by count and by age) in two fixed arrays and
answers exact quantiles over them; `TargetStats` adds request and error counts over the same age.
Pure: reads time only through the injected `Clock`, and memory is fixed at construction.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

from seawall._clock import Clock
from seawall.resilience._window import BucketWindow


class LatencyWindow:
    """The last `max_samples` latencies no older than `max_age_s`, with nearest-rank quantiles.

    A ring of 1024 doubles is 8 KB (16 KB with timestamps); sorting it on a query after new
    samples costs tens of microseconds, which is why quantiles are cached until the next `add`.
    """

    __slots__ = ("_clock", "_count", "_head", "_max_age", "_sorted", "_times", "_values")

    def __init__(self, clock: Clock, *, max_samples: int = 1024, max_age_s: float = 300.0) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s!r}")
        self._clock = clock
        self._max_age = max_age_s
        self._times = array("d", bytes(8 * max_samples))
        self._values = array("d", bytes(8 * max_samples))
        self._head = 0  # next slot to write
        self._count = 0
        self._sorted: list[float] | None = None

    def add(self, seconds: float) -> None:
        """Record one latency (negative and non-finite values are ignored)."""
        if not 0.0 <= seconds < math.inf:
            return
        self._times[self._head] = self._clock.now()
        self._values[self._head] = seconds
        self._head = (self._head + 1) % len(self._values)
        self._count = min(self._count + 1, len(self._values))
        self._sorted = None

    def count(self) -> int:
        """Samples currently in the window."""
        self._prune()
        return self._count

    def quantile(self, q: float) -> float | None:
        """The nearest-rank `q`-quantile (0 < q ≤ 1) of the window, or `None` if it is empty."""
        if not 0.0 < q <= 1.0:
            raise ValueError(f"q must be in (0, 1], got {q!r}")
        self._prune()
        if self._count == 0:
            return None
        if self._sorted is None:
            size = len(self._values)
            self._sorted = sorted(self._values[(self._head - 1 - i) % size] for i in range(self._count))
        return self._sorted[max(0, math.ceil(q * self._count) - 1)]

    def _prune(self) -> None:
        oldest_allowed = self._clock.now() - self._max_age
        size = len(self._values)
        while self._count and self._times[(self._head - self._count) % size] < oldest_allowed:
            self._count -= 1
            self._sorted = None


@dataclass(frozen=True, slots=True)
class TargetStatsSnapshot:
    """One target's recent behaviour, for /admin/targets. Latencies in seconds, `None` if no data."""

    requests: int
    errors: int
    error_rate: float
    ttft_p50: float | None
    ttft_p95: float | None
    ttft_p99: float | None
    duration_p50: float | None
    duration_p95: float | None
    duration_p99: float | None


class TargetStats:
    """Rolling counts and latencies of one target over the last `window_s` seconds."""

    __slots__ = ("_counts", "duration", "ttft")

    _BUCKETS = 30

    def __init__(self, clock: Clock, *, window_s: float = 300.0, max_samples: int = 1024) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        self._counts = BucketWindow(clock, bucket_s=window_s / self._BUCKETS, buckets=self._BUCKETS, fields=2)
        self.ttft = LatencyWindow(clock, max_samples=max_samples, max_age_s=window_s)
        self.duration = LatencyWindow(clock, max_samples=max_samples, max_age_s=window_s)

    def record(self, *, ok: bool, duration_s: float | None = None, ttft_s: float | None = None) -> None:
        """Record one attempt at this target; latencies of failed attempts are not sampled."""
        self._counts.add(0)
        if not ok:
            self._counts.add(1)
            return
        if duration_s is not None:
            self.duration.add(duration_s)
        if ttft_s is not None:
            self.ttft.add(ttft_s)

    def snapshot(self) -> TargetStatsSnapshot:
        requests, errors = self._counts.totals()
        t, d = self.ttft, self.duration
        return TargetStatsSnapshot(
            requests=requests,
            errors=errors,
            error_rate=errors / requests if requests else 0.0,
            ttft_p50=t.quantile(0.5),
            ttft_p95=t.quantile(0.95),
            ttft_p99=t.quantile(0.99),
            duration_p50=d.quantile(0.5),
            duration_p95=d.quantile(0.95),
            duration_p99=d.quantile(0.99),
        )
