"""Recent latencies and outcomes per target: quantiles for hedging, rates for /admin/targets.

`LatencyRecord` keeps the latest samples (bounded by count and by age) in two fixed arrays, and the
`latency_*` functions answer exact quantiles over them for an explicit `now`; `StatsPolicy` steps a
`StatsRecord` (request and error counts over the same age, plus two latency records). All of it is
plain data a state backend can store or ship; `LatencyWindow` and `TargetStats` are the facades that
read an injected `Clock`. Memory is fixed at creation; the functions must not read a clock.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from seawall._clock import Clock
from seawall.resilience._window import WindowRecord, window_add, window_totals


@dataclass(slots=True)
class LatencyRecord:
    """A ring of (time, seconds) samples: `head` is the next slot to write, `count` the live ones.

    `times` are `Clock.now` readings of the stepping process. `ordered` caches the live values,
    sorted, until the next change (sorting 1024 samples costs tens of microseconds).
    """

    times: array[float]
    values: array[float]
    head: int = 0
    count: int = 0
    ordered: list[float] | None = None

    @classmethod
    def empty(cls, max_samples: int) -> LatencyRecord:
        """Room for `max_samples` samples: two arrays of doubles (16 KB for 1024)."""
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        return cls(array("d", bytes(8 * max_samples)), array("d", bytes(8 * max_samples)))


def latency_add(r: LatencyRecord, now: float, seconds: float) -> None:
    """Record one latency at `now` (negative and non-finite values are ignored)."""
    if not 0.0 <= seconds < math.inf:
        return
    r.times[r.head] = now
    r.values[r.head] = seconds
    size = len(r.values)
    r.head = (r.head + 1) % size
    r.count = min(r.count + 1, size)
    r.ordered = None


def latency_count(r: LatencyRecord, max_age_s: float, now: float) -> int:
    """Samples no older than `max_age_s` at `now`."""
    _prune(r, max_age_s, now)
    return r.count


def latency_quantile(r: LatencyRecord, max_age_s: float, now: float, q: float) -> float | None:
    """The nearest-rank `q`-quantile (0 < q ≤ 1) of the live samples, or `None` if there are none."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    _prune(r, max_age_s, now)
    count = r.count
    if count == 0:
        return None
    ordered = r.ordered
    if ordered is None:
        values, head, size = r.values, r.head, len(r.values)
        ordered = r.ordered = sorted(values[(head - 1 - i) % size] for i in range(count))
    return ordered[max(0, math.ceil(q * count) - 1)]


def _prune(r: LatencyRecord, max_age_s: float, now: float) -> None:
    oldest_allowed = now - max_age_s
    size = len(r.values)
    while r.count and r.times[(r.head - r.count) % size] < oldest_allowed:
        r.count -= 1
        r.ordered = None


class LatencyWindow:
    """The last `max_samples` latencies no older than `max_age_s`, with nearest-rank quantiles.

    A ring of 1024 doubles is 8 KB (16 KB with timestamps); sorting it on a query after new
    samples costs tens of microseconds, which is why quantiles are cached until the next `add`.
    A facade over a `LatencyRecord` (pass `record` to read or step an existing one).
    """

    __slots__ = ("_clock", "_max_age", "_on_change", "_rec")

    def __init__(
        self,
        clock: Clock,
        *,
        max_samples: int = 1024,
        max_age_s: float = 300.0,
        record: LatencyRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        if not max_age_s > 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s!r}")
        self._clock = clock
        self._max_age = max_age_s
        self._rec = record or LatencyRecord.empty(max_samples)
        self._on_change = on_change

    @property
    def state_record(self) -> LatencyRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    def add(self, seconds: float) -> None:
        """Record one latency (negative and non-finite values are ignored)."""
        latency_add(self._rec, self._clock.now(), seconds)
        if self._on_change is not None:
            self._on_change()

    def count(self) -> int:
        """Samples currently in the window."""
        return latency_count(self._rec, self._max_age, self._clock.now())

    def quantile(self, q: float) -> float | None:
        """The nearest-rank `q`-quantile (0 < q ≤ 1) of the window, or `None` if it is empty."""
        return latency_quantile(self._rec, self._max_age, self._clock.now(), q)


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


_BUCKETS = 30  # count buckets per stats window


@dataclass(frozen=True, slots=True)
class StatsPolicy:
    """How much recent behaviour `TargetStats` keeps: `window_s` of it, at most `max_samples`
    latencies of each kind."""

    # Five minutes: long enough for a p99 on a quiet target, short enough to follow a change.
    window_s: float = 300.0
    # 1024 doubles (8 KB, 16 KB with times) per latency kind: a p99 rests on ~10 samples above it.
    max_samples: int = 1024

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s!r}")
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {self.max_samples}")

    def new_record(self, now: float) -> StatsRecord:
        """Nothing seen yet; the count window aligned to `now`."""
        return StatsRecord(
            WindowRecord.empty(now, buckets=_BUCKETS, fields=2),
            LatencyRecord.empty(self.max_samples),
            LatencyRecord.empty(self.max_samples),
        )

    def observe(
        self, r: StatsRecord, now: float, *, ok: bool, duration_s: float | None, ttft_s: float | None
    ) -> None:
        """One attempt at this target; latencies of failed attempts are not sampled."""
        bucket_s = self.window_s / _BUCKETS
        window_add(r.counts, bucket_s, now, 0)
        if not ok:
            window_add(r.counts, bucket_s, now, 1)
            return
        if duration_s is not None:
            latency_add(r.duration, now, duration_s)
        if ttft_s is not None:
            latency_add(r.ttft, now, ttft_s)

    def snapshot(self, r: StatsRecord, now: float) -> TargetStatsSnapshot:
        """Counts, error rate and latency quantiles at `now`."""
        requests, errors = window_totals(r.counts, self.window_s / _BUCKETS, now)
        age = self.window_s

        def q(rec: LatencyRecord, at: float) -> float | None:
            return latency_quantile(rec, age, now, at)

        return TargetStatsSnapshot(
            requests=requests,
            errors=errors,
            error_rate=errors / requests if requests else 0.0,
            ttft_p50=q(r.ttft, 0.5),
            ttft_p95=q(r.ttft, 0.95),
            ttft_p99=q(r.ttft, 0.99),
            duration_p50=q(r.duration, 0.5),
            duration_p95=q(r.duration, 0.95),
            duration_p99=q(r.duration, 0.99),
        )


@dataclass(slots=True)
class StatsRecord:
    """One target's recent attempts: counts (requests, errors) and two latency rings."""

    counts: WindowRecord
    ttft: LatencyRecord
    duration: LatencyRecord


class TargetStats:
    """Rolling counts and latencies of one target over the last `window_s` seconds.

    A facade: `StatsPolicy` steps a `StatsRecord` (pass `record` to step an existing one); `ttft` and
    `duration` are `LatencyWindow`s over the record's two latency rings.
    """

    __slots__ = ("_clock", "_on_change", "_policy", "_rec", "duration", "ttft")

    def __init__(
        self,
        clock: Clock,
        *,
        window_s: float = 300.0,
        max_samples: int = 1024,
        record: StatsRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._policy = StatsPolicy(window_s, max_samples)
        self._clock = clock
        self._rec = record or self._policy.new_record(clock.now())
        self._on_change = on_change
        rec = self._rec
        self.ttft = LatencyWindow(
            clock, max_samples=max_samples, max_age_s=window_s, record=rec.ttft, on_change=on_change
        )
        self.duration = LatencyWindow(
            clock, max_samples=max_samples, max_age_s=window_s, record=rec.duration, on_change=on_change
        )

    @property
    def policy(self) -> StatsPolicy:
        return self._policy

    @property
    def state_record(self) -> StatsRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    def record(self, *, ok: bool, duration_s: float | None = None, ttft_s: float | None = None) -> None:
        """Record one attempt at this target; latencies of failed attempts are not sampled."""
        self._policy.observe(self._rec, self._clock.now(), ok=ok, duration_s=duration_s, ttft_s=ttft_s)
        if self._on_change is not None:
            self._on_change()

    def snapshot(self) -> TargetStatsSnapshot:
        return self._policy.snapshot(self._rec, self._clock.now())
