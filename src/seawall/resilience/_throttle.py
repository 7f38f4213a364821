"""Client-side adaptive throttling per provider (Google SRE book, "Handling Overload").

When a provider rejects much of what we send, reject locally with probability
`max(0, (requests − K·accepts) / (requests + 1))` so we stop spending requests (and its capacity) on
answers that will be refusals. `ThrottlePolicy` steps a `ThrottleRecord` (plain data a state backend
can store or ship) for an explicit `now` and random draw; `AdaptiveThrottle` is the facade with a
clock and an rng. Pure: it must not sleep, and it does not classify errors (the engine says whether
the backend *accepted*).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from seawall._clock import Clock
from seawall.resilience._window import WindowRecord, window_add, window_totals

_REQUESTS, _ACCEPTS = 0, 1


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Tuning for `AdaptiveThrottle`."""

    # SRE book: K = 2 (lower is more aggressive; go-zero uses 1.5). Must be >= 1, or a healthy
    # provider with every request accepted would still see rejections.
    k: float = 2.0
    # SRE book: counts over "the last two minutes".
    window_s: float = 120.0
    # Our choice: 2 s buckets, so old outcomes are forgotten smoothly rather than in big steps.
    buckets: int = 60
    # Envoy admission control max_rejection_probability 80%: some requests always get through, so
    # recovery is noticed without waiting for the window to drain.
    max_reject_probability: float = 0.8
    # Like Envoy's rps_threshold: never reject on a handful of requests; 20 matches the breaker's
    # minimum calls (Hystrix requestVolumeThreshold 20). Locally rejected requests count too.
    min_requests: int = 20

    def __post_init__(self) -> None:
        if not self.k >= 1.0:
            raise ValueError(f"k must be >= 1, got {self.k!r}")
        if not self.window_s > 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s!r}")
        if self.buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {self.buckets}")
        if not 0.0 <= self.max_reject_probability <= 1.0:
            raise ValueError(f"max_reject_probability must be in [0, 1], got {self.max_reject_probability!r}")
        if self.min_requests < 0:
            raise ValueError(f"min_requests must be >= 0, got {self.min_requests}")

    # -- steps: pure functions of (policy, record, now, draw) ---------------------------------------------
    def new_record(self, now: float) -> ThrottleRecord:
        """No requests seen, window aligned to `now`."""
        return ThrottleRecord(WindowRecord.empty(now, buckets=self.buckets, fields=2))

    def probability(self, r: ThrottleRecord, now: float) -> float:
        """The probability of rejecting a request locally at `now`."""
        requests, accepts = window_totals(r.window, self.window_s / self.buckets, now)
        if requests < self.min_requests:
            return 0.0
        raw = (requests - self.k * accepts) / (requests + 1)
        return min(max(0.0, raw), self.max_reject_probability)

    def should_reject(self, r: ThrottleRecord, now: float, draw: float) -> bool:
        """`draw` is uniform in [0, 1): `True` means do not send (a local rejection, counted as a
        request)."""
        return self.decide(r, now, draw)[0]

    def decide(self, r: ThrottleRecord, now: float, draw: float) -> tuple[bool, float]:
        """`should_reject`, and the probability it drew against."""
        p = self.probability(r, now)
        if draw < p:
            window_add(r.window, self.window_s / self.buckets, now, _REQUESTS)
            return True, p
        return False, p

    def observe(self, r: ThrottleRecord, now: float, accepted: bool) -> None:
        """The outcome of one request that was sent."""
        bucket_s = self.window_s / self.buckets
        window_add(r.window, bucket_s, now, _REQUESTS)
        if accepted:
            window_add(r.window, bucket_s, now, _ACCEPTS)


@dataclass(slots=True)
class ThrottleRecord:
    """One provider's requests and accepts per bucket (the origin is a `Clock.now` reading)."""

    window: WindowRecord


class AdaptiveThrottle:
    """One provider's throttle: `should_reject()` before sending, `record(accepted)` after.

    `accepted` is whether the provider *processed* the request: successes and client-fault 4xx are
    accepted; 429, 529, 5xx, timeouts and connection failures are not (`ErrorClass.provider_health`).
    Calls the engine abandons for its own reasons (client cancel) should not be recorded. A facade:
    `ThrottlePolicy` steps a `ThrottleRecord` (pass `record` to step an existing one).
    """

    __slots__ = ("_clock", "_on_change", "_policy", "_rec", "_rng", "last_probability")

    def __init__(
        self,
        clock: Clock,
        policy: ThrottlePolicy | None = None,
        *,
        rng: random.Random | None = None,
        record: ThrottleRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._policy = policy or ThrottlePolicy()
        self._rec = record or self._policy.new_record(clock.now())
        self.last_probability = 0.0
        self._rng = rng or random.Random()
        self._on_change = on_change

    @property
    def state_record(self) -> ThrottleRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    def probability(self) -> float:
        """The current probability of rejecting a request locally."""
        return self._policy.probability(self._rec, self._clock.now())

    def should_reject(self) -> bool:
        """Draw once: `True` means do not send (a local rejection, counted as a request). The
        probability drawn against is kept in `last_probability`."""
        draw = self._rng.random()
        rejected, self.last_probability = self._policy.decide(self._rec, self._clock.now(), draw)
        if not rejected:
            return False
        if self._on_change is not None:
            self._on_change()
        return True

    def record(self, accepted: bool) -> None:
        """Record the outcome of one request that was sent."""
        self._policy.observe(self._rec, self._clock.now(), accepted)
        if self._on_change is not None:
            self._on_change()
