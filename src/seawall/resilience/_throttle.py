"""Client-side adaptive throttling per provider (Google SRE book, "Handling Overload").

When a provider rejects much of what we send, reject locally with probability
`max(0, (requests − K·accepts) / (requests + 1))` so we stop spending requests (and its capacity) on
answers that will be refusals. Pure: driven by an injected clock and `random.Random`; it must not
sleep, and it does not classify errors (the engine says whether the backend *accepted*).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from seawall._clock import Clock
from seawall.resilience._window import BucketWindow

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


class AdaptiveThrottle:
    """One provider's throttle: `should_reject()` before sending, `record(accepted)` after.

    `accepted` is whether the provider *processed* the request: successes and client-fault 4xx are
    accepted; 429, 529, 5xx, timeouts and connection failures are not (`ErrorClass.provider_health`).
    Calls the engine abandons for its own reasons (client cancel) should not be recorded.
    """

    __slots__ = ("_policy", "_rng", "_window")

    def __init__(
        self, clock: Clock, policy: ThrottlePolicy | None = None, *, rng: random.Random | None = None
    ) -> None:
        self._policy = policy or ThrottlePolicy()
        p = self._policy
        self._window = BucketWindow(clock, bucket_s=p.window_s / p.buckets, buckets=p.buckets, fields=2)
        self._rng = rng or random.Random()

    def probability(self) -> float:
        """The current probability of rejecting a request locally."""
        p = self._policy
        requests, accepts = self._window.totals()
        if requests < p.min_requests:
            return 0.0
        raw = (requests - p.k * accepts) / (requests + 1)
        return min(max(0.0, raw), p.max_reject_probability)

    def should_reject(self) -> bool:
        """Draw once: `True` means do not send (a local rejection, counted as a request)."""
        if self._rng.random() < self.probability():
            self._window.add(_REQUESTS)
            return True
        return False

    def record(self, accepted: bool) -> None:
        """Record the outcome of one request that was sent."""
        self._window.add(_REQUESTS)
        if accepted:
            self._window.add(_ACCEPTS)
