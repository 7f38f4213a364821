"""Adaptive concurrency limits per target (Netflix concurrency-limits): AIMD and Gradient2.

A limit algorithm turns each finished call's outcome into a new limit; `ConcurrencyLimiter` holds
one algorithm and the count of calls in flight. Pure: no clock, no waiting, no queue (queueing is
`AdmissionController`'s job); the engine says what counts as a drop (429, 529, timeout).
"""

from __future__ import annotations

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


class AIMDLimit:
    """Loss-based: ×`backoff_ratio` on a drop; +1 on a success while the limit is in use
    (inflight × 2 ≥ limit). The concurrency-limits README recommends it for clients."""

    __slots__ = ("_limit", "_policy")

    def __init__(self, policy: AIMDPolicy | None = None) -> None:
        self._policy = policy or AIMDPolicy()
        self._limit = self._policy.initial_limit

    @property
    def limit(self) -> int:
        return self._limit

    def update(self, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        p = self._policy
        if dropped:
            new = int(self._limit * p.backoff_ratio)  # truncation: 30 → 27, and 2 → 1 still shrinks
        elif inflight * 2 >= self._limit:
            new = self._limit + 1
        else:
            return
        self._limit = max(p.min_limit, min(p.max_limit, new))


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


class Gradient2Limit:
    """Latency-based: compares the latest RTT with a long-term average RTT.

    `gradient = clamp(tolerance × long / short, 0.5, 1)`, `new = L × gradient + queue_size`,
    `L = (1 − smoothing) × L + smoothing × new`; it does not grow while inflight < L / 2. Feed it
    time to first token, not total duration (which grows with answer length). Drops carry no latency
    information (a 429 comes back fast) and are skipped: pair with AIMD if drops must shrink it.
    """

    __slots__ = ("_count", "_estimate", "_long_rtt", "_policy")

    _WARMUP = 10  # Netflix ExpAvgMeasurement: plain average over the first 10 samples

    def __init__(self, policy: Gradient2Policy | None = None) -> None:
        self._policy = policy or Gradient2Policy()
        self._estimate = float(self._policy.initial_limit)
        self._long_rtt = 0.0
        self._count = 0

    @property
    def limit(self) -> int:
        return int(self._estimate)

    @property
    def long_rtt(self) -> float:
        """The long-term average RTT, in seconds (0 before the first sample)."""
        return self._long_rtt

    def update(self, *, rtt_s: float, inflight: int, dropped: bool) -> None:
        if dropped or not rtt_s > 0:
            return
        p = self._policy
        if self._count < self._WARMUP:
            self._count += 1
            self._long_rtt += (rtt_s - self._long_rtt) / self._count
        else:
            factor = 2.0 / (p.long_window + 1)
            self._long_rtt = self._long_rtt * (1 - factor) + rtt_s * factor
        short_rtt = rtt_s
        if self._long_rtt / short_rtt > 2:
            # Latency is back to normal after a long overload: let the baseline catch up faster.
            self._long_rtt *= 0.9
        if inflight < self._estimate / 2:
            return  # app-limited: the limit is not what holds us back
        gradient = max(0.5, min(1.0, p.rtt_tolerance * self._long_rtt / short_rtt))
        new = self._estimate * gradient + p.queue_size
        new = self._estimate * (1 - p.smoothing) + new * p.smoothing
        self._estimate = max(float(p.min_limit), min(float(p.max_limit), new))


class ConcurrencyLimiter:
    """Calls in flight to one target, capped by an adaptive limit.

    `try_acquire()` before an attempt (False: the target is saturated, try another or queue), then
    exactly one `release(outcome, rtt_s)`: "success", "drop" (429, 529, timeout: the target is
    overloaded) or "ignore" (cancelled or client error: says nothing about capacity).
    """

    __slots__ = ("_algorithm", "_inflight")

    def __init__(self, algorithm: LimitAlgorithm | None = None) -> None:
        self._algorithm: LimitAlgorithm = algorithm if algorithm is not None else AIMDLimit()
        self._inflight = 0

    @property
    def algorithm(self) -> LimitAlgorithm:
        return self._algorithm

    @property
    def limit(self) -> int:
        return self._algorithm.limit

    @property
    def inflight(self) -> int:
        return self._inflight

    def try_acquire(self) -> bool:
        if self._inflight >= self._algorithm.limit:
            return False
        self._inflight += 1
        return True

    def release(self, outcome: Outcome, rtt_s: float = 0.0) -> None:
        if self._inflight == 0:
            raise RuntimeError("release() without a matching try_acquire()")
        if outcome != "ignore":
            self._algorithm.update(rtt_s=rtt_s, inflight=self._inflight, dropped=outcome == "drop")
        self._inflight -= 1
