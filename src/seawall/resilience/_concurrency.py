"""Adaptive concurrency limits per target (Netflix concurrency-limits): AIMD and Gradient2.

A limit algorithm turns each finished call's outcome into a new limit; `ConcurrencyLimiter` holds
one algorithm and the count of calls in flight. Each policy (`AIMDPolicy`, `Gradient2Policy`) steps a
plain record (`AIMDRecord`, `Gradient2Record`), and a `LimiterRecord` holds one of those plus the
calls in flight, so a state backend can store a target's whole limiter as data; `AIMDLimit`,
`Gradient2Limit` and `ConcurrencyLimiter` are the facades. Pure: no clock, no waiting, no queue
(queueing is `AdmissionController`'s job); the engine says what counts as a drop (429, 529, timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["success", "drop", "ignore"]


class LimitAlgorithm(Protocol):
    """Something that computes a concurrency limit from call outcomes."""

    @property
    def limit(self) -> int: ...

    def update(self, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        """One call finished after `rtt_s` with `inflight` calls in flight (itself included)."""
        ...


def _check_limits(initial: int, minimum: int, maximum: int) -> None:
    if minimum < 1:
        raise ValueError(f"min_limit must be >= 1, got {minimum}")
    if maximum < minimum:
        raise ValueError(f"max_limit must be >= min_limit, got {maximum}")
    if not minimum <= initial <= maximum:
        raise ValueError(f"initial_limit must be in [min_limit, max_limit], got {initial}")


@dataclass(frozen=True, slots=True)
class AIMDPolicy:
    """Tuning for `AIMDLimit`."""

    # Netflix AIMDLimit starts at 20, but a target at its limit is skipped, not queued: with one target
    # a burst above 20 on a fresh gateway would be refused while the provider is healthy (measured:
    # 64 clients got 503s for ~0.7 s). Seawall starts at 100; overload signals (×0.9 per 429/529/
    # timeout) bring it to 20 in 16 drops.
    initial_limit: int = 100
    # Netflix AIMDLimit's original floor max(1, …); its newer default 20 suits servers, but a client
    # of a provider quota must be able to back right off. Recovery is +1 per busy success.
    min_limit: int = 1
    # Netflix AIMDLimit maxLimit 200; raised with the initial limit (providers bound us by RPM/TPM,
    # and a 429 shrinks the limit at once).
    max_limit: int = 1000
    # Netflix AIMDLimit backoffRatio 0.9 (must be in [0.5, 1)).
    backoff_ratio: float = 0.9

    def __post_init__(self) -> None:
        _check_limits(self.initial_limit, self.min_limit, self.max_limit)
        if not 0.5 <= self.backoff_ratio < 1.0:
            raise ValueError(f"backoff_ratio must be in [0.5, 1), got {self.backoff_ratio!r}")

    def new_record(self) -> AIMDRecord:
        return AIMDRecord(self.initial_limit)

    def limit_of(self, r: AIMDRecord) -> int:
        return r.limit

    def update(self, r: AIMDRecord, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        """×`backoff_ratio` on a drop; +1 on a success while the limit is in use."""
        if dropped:
            new = int(r.limit * self.backoff_ratio)  # truncation: 30 → 27, and 2 → 1 still shrinks
        elif inflight * 2 >= r.limit:
            new = r.limit + 1
        else:
            return
        r.limit = max(self.min_limit, min(self.max_limit, new))


@dataclass(slots=True)
class AIMDRecord:
    """An AIMD limit's state: the limit itself."""

    limit: int


class AIMDLimit:
    """Loss-based: ×`backoff_ratio` on a drop; +1 on a success while the limit is in use
    (inflight × 2 ≥ limit). The concurrency-limits README recommends it for clients. A facade over
    an `AIMDRecord`."""

    __slots__ = ("_policy", "_rec")

    def __init__(self, policy: AIMDPolicy | None = None, *, record: AIMDRecord | None = None) -> None:
        self._policy = policy or AIMDPolicy()
        self._rec = record or self._policy.new_record()

    @property
    def state_record(self) -> AIMDRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def limit(self) -> int:
        return self._rec.limit

    def update(self, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        self._policy.update(self._rec, rtt_s=rtt_s, inflight=inflight, dropped=dropped)


@dataclass(frozen=True, slots=True)
class Gradient2Policy:
    """Tuning for `Gradient2Limit` (Netflix Gradient2Limit defaults unless noted)."""

    initial_limit: int = 20
    # Netflix 20; 1 for the same reason as AIMDPolicy.min_limit.
    min_limit: int = 1
    max_limit: int = 200
    smoothing: float = 0.2
    # Headroom added to the limit each update ("queueSize" 4).
    queue_size: int = 4
    # Samples averaged by the long-term RTT (exponential, warmed up over the first 10).
    long_window: int = 600
    # "rttTolerance" 1.5: latency may grow this much over the long-term RTT before the limit shrinks.
    rtt_tolerance: float = 1.5

    def __post_init__(self) -> None:
        _check_limits(self.initial_limit, self.min_limit, self.max_limit)
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing!r}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {self.queue_size}")
        if self.long_window < 1:
            raise ValueError(f"long_window must be >= 1, got {self.long_window}")
        if not self.rtt_tolerance >= 1.0:
            raise ValueError(f"rtt_tolerance must be >= 1, got {self.rtt_tolerance!r}")

    def new_record(self) -> Gradient2Record:
        return Gradient2Record(float(self.initial_limit))

    def limit_of(self, r: Gradient2Record) -> int:
        return int(r.estimate)

    def update(self, r: Gradient2Record, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        """One call finished after `rtt_s` with `inflight` calls in flight (drops are skipped)."""
        if dropped or not rtt_s > 0:
            return
        if r.count < _WARMUP:
            r.count += 1
            r.long_rtt += (rtt_s - r.long_rtt) / r.count
        else:
            factor = 2.0 / (self.long_window + 1)
            r.long_rtt = r.long_rtt * (1 - factor) + rtt_s * factor
        short_rtt = rtt_s
        if r.long_rtt / short_rtt > 2:
            # Latency is back to normal after a long overload: let the baseline catch up faster.
            r.long_rtt *= 0.9
        if inflight < r.estimate / 2:
            return  # app-limited: the limit is not what holds us back
        gradient = max(0.5, min(1.0, self.rtt_tolerance * r.long_rtt / short_rtt))
        new = r.estimate * gradient + self.queue_size
        new = r.estimate * (1 - self.smoothing) + new * self.smoothing
        r.estimate = max(float(self.min_limit), min(float(self.max_limit), new))


_WARMUP = 10  # Netflix ExpAvgMeasurement: plain average over the first 10 samples


@dataclass(slots=True)
class Gradient2Record:
    """A Gradient2 limit's state: the smoothed limit and the long-term RTT average."""

    estimate: float
    long_rtt: float = 0.0  # seconds; 0 before the first sample
    count: int = 0  # samples seen, up to the warm-up


class Gradient2Limit:
    """Latency-based: compares the latest RTT with a long-term average RTT.

    `gradient = clamp(tolerance × long / short, 0.5, 1)`, `new = L × gradient + queue_size`,
    `L = (1 − smoothing) × L + smoothing × new`; it does not grow while inflight < L / 2. Feed it
    time to first token, not total duration (which grows with answer length). Drops carry no latency
    information (a 429 comes back fast) and are skipped: pair with AIMD if drops must shrink it.
    A facade over a `Gradient2Record`.
    """

    __slots__ = ("_policy", "_rec")

    def __init__(
        self, policy: Gradient2Policy | None = None, *, record: Gradient2Record | None = None
    ) -> None:
        self._policy = policy or Gradient2Policy()
        self._rec = record or self._policy.new_record()

    @property
    def state_record(self) -> Gradient2Record:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def limit(self) -> int:
        return int(self._rec.estimate)

    @property
    def long_rtt(self) -> float:
        """The long-term average RTT, in seconds (0 before the first sample)."""
        return self._rec.long_rtt

    def update(self, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        self._policy.update(self._rec, rtt_s=rtt_s, inflight=inflight, dropped=dropped)


@dataclass(slots=True)
class LimiterRecord:
    """One target's limiter: the limit algorithm's record and the calls in flight.

    `algorithm` is `None` only for a limiter whose algorithm keeps no record (a custom
    `LimitAlgorithm`); such a limiter cannot live in a state backend.
    """

    algorithm: AIMDRecord | Gradient2Record | None
    inflight: int = 0

    @classmethod
    def for_policy(cls, policy: AIMDPolicy | Gradient2Policy) -> LimiterRecord:
        """A fresh limiter record for `policy`'s algorithm, nothing in flight."""
        return cls(policy.new_record())


def _record_of(algorithm: LimitAlgorithm) -> AIMDRecord | Gradient2Record | None:
    return algorithm.state_record if isinstance(algorithm, AIMDLimit | Gradient2Limit) else None


class ConcurrencyLimiter:
    """Calls in flight to one target, capped by an adaptive limit.

    `try_acquire()` before an attempt (False: the target is saturated, try another or queue), then
    exactly one `release(outcome, rtt_s)`: "success", "drop" (429, 529, timeout: the target is
    overloaded) or "ignore" (cancelled or client error: says nothing about capacity). A facade over
    a `LimiterRecord`; `for_policy` builds one on an existing record (from a state backend).
    """

    __slots__ = ("_algorithm", "_on_change", "_rec")

    def __init__(
        self,
        algorithm: LimitAlgorithm | None = None,
        *,
        record: LimiterRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._algorithm: LimitAlgorithm = algorithm if algorithm is not None else AIMDLimit()
        if record is None:
            record = LimiterRecord(_record_of(self._algorithm))
        elif record.algorithm is not _record_of(self._algorithm):
            raise ValueError("record.algorithm must be the algorithm's own record (see for_policy)")
        self._rec = record
        self._on_change = on_change

    @classmethod
    def for_policy(
        cls,
        policy: AIMDPolicy | Gradient2Policy,
        *,
        record: LimiterRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> ConcurrencyLimiter:
        """A limiter running `policy`'s algorithm on `record` (a fresh one if `None`)."""
        record = record or LimiterRecord.for_policy(policy)
        algorithm: LimitAlgorithm
        if isinstance(policy, AIMDPolicy):
            if not isinstance(record.algorithm, AIMDRecord):
                raise ValueError("an AIMD policy needs an AIMDRecord")
            algorithm = AIMDLimit(policy, record=record.algorithm)
        else:
            if not isinstance(record.algorithm, Gradient2Record):
                raise ValueError("a Gradient2 policy needs a Gradient2Record")
            algorithm = Gradient2Limit(policy, record=record.algorithm)
        return cls(algorithm, record=record, on_change=on_change)

    @property
    def algorithm(self) -> LimitAlgorithm:
        return self._algorithm

    @property
    def state_record(self) -> LimiterRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def limit(self) -> int:
        return self._algorithm.limit

    @property
    def inflight(self) -> int:
        return self._rec.inflight

    def try_acquire(self) -> bool:
        r = self._rec
        if r.inflight >= self._algorithm.limit:
            return False
        r.inflight += 1
        if self._on_change is not None:
            self._on_change()
        return True

    def release(self, outcome: Outcome, rtt_s: float = 0.0) -> None:
        r = self._rec
        if r.inflight == 0:
            raise RuntimeError("release() without a matching try_acquire()")
        if outcome != "ignore":
            self._algorithm.update(rtt_s=rtt_s, inflight=r.inflight, dropped=outcome == "drop")
        r.inflight -= 1
        if self._on_change is not None:
            self._on_change()
