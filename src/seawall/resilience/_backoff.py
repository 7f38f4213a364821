"""Per-request retry policy: how many attempts, how long to wait between them, and whether a wait fits.

Pure arithmetic over its inputs: randomness comes in as a `random.Random`, "now" for HTTP dates as
a number. It must not sleep, read a clock, or decide *whether* an error is retryable (that is
`ErrorClass.retryable`) or whether the target's budget allows it (that is `RetryBudget`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from seawall.errors import ErrorClass
from seawall.resilience._headers import decimal, lowered


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one request retries. Attempts count retries *and* fallbacks to other targets."""

    # SRE book "Handling Overload", botocore standard mode and the OpenAI SDK (2 retries) all use 3.
    max_attempts: int = 3
    # OpenAI SDK INITIAL_RETRY_DELAY 0.5 s; used for timeouts, connection errors, 5xx and 529.
    base_delay_s: float = 0.5
    # AWS "new retries 2026": throttling base 1 s; a 429 means our quota is spent, so back off longer.
    throttle_base_delay_s: float = 1.0
    # OpenAI SDK MAX_RETRY_DELAY 8 s (botocore caps at 20 s, which is a long time in a chat request).
    max_delay_s: float = 8.0
    # OpenAI SDK honours Retry-After only up to 60 s; longer asks mean "not this target" (see delay_for).
    max_retry_after_s: float = 60.0
    # Wait U(t, 1.1·t) for a server's Retry-After t: never earlier than asked, and spread out so the
    # clients told the same t do not return together (Envoy uses U(t, 1.5·t); 10% is enough to spread).
    retry_after_jitter: float = 0.1
    # Shortest attempt worth starting when nothing better is known (the engine should pass the
    # target's observed p50 instead); about one time-to-first-token for a hosted chat model.
    min_attempt_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("base_delay_s", "throttle_base_delay_s", "max_delay_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not self.max_retry_after_s >= 0:
            raise ValueError(f"max_retry_after_s must be >= 0, got {self.max_retry_after_s!r}")
        if not 0 <= self.retry_after_jitter <= 1:
            raise ValueError(f"retry_after_jitter must be in [0, 1], got {self.retry_after_jitter!r}")
        if not self.min_attempt_s >= 0:
            raise ValueError(f"min_attempt_s must be >= 0, got {self.min_attempt_s!r}")

    def backoff_cap(self, attempt_index: int, *, throttled: bool) -> float:
        """The upper end of the backoff range for retry number `attempt_index` (0 = first retry)."""
        if attempt_index < 0:
            raise ValueError(f"attempt_index must be >= 0, got {attempt_index}")
        base = self.throttle_base_delay_s if throttled else self.base_delay_s
        return min(self.max_delay_s, base * 2.0 ** min(attempt_index, 64))

    def backoff(self, attempt_index: int, *, throttled: bool, rng: random.Random) -> float:
        """Full jitter (AWS Architecture blog): `U(0, min(cap, base·2^n))` seconds."""
        return rng.uniform(0.0, self.backoff_cap(attempt_index, throttled=throttled))

    def delay_for(
        self,
        attempt_index: int,
        *,
        error_class: ErrorClass,
        retry_after_s: float | None,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait before retry `attempt_index` at the same target, or `None`: do not retry there.

        A server's Retry-After is honoured (slightly jittered upwards) instead of backoff. When it
        asks for more than `max_retry_after_s` the answer is `None`: retrying sooner than asked is
        pointless, so the engine should fall back or fail with that Retry-After.
        """
        if retry_after_s is not None:
            if retry_after_s > self.max_retry_after_s:
                return None
            return rng.uniform(retry_after_s, retry_after_s * (1.0 + self.retry_after_jitter))
        throttled = error_class is ErrorClass.RATE_LIMITED
        return self.backoff(attempt_index, throttled=throttled, rng=rng)

    def fits(self, remaining_s: float, delay_s: float, min_attempt_s: float | None = None) -> bool:
        """Whether waiting `delay_s` still leaves time for an attempt before the deadline.

        Never start an attempt that cannot finish: `delay + min_attempt ≤ remaining`.
        """
        needed = self.min_attempt_s if min_attempt_s is None else min_attempt_s
        return delay_s + needed <= remaining_s


def parse_retry_after(headers: Mapping[str, str], *, now_epoch: float | None = None) -> float | None:
    """The server's requested wait in seconds, unclamped, or `None` if it sent none we can read.

    `retry-after-ms` (OpenAI) wins over `Retry-After`, which may be seconds or an HTTP date; a date
    is only read when `now_epoch` (the wall-clock time, `time.time()`) is given, and one in the past
    means "now" (0). Negative, non-numeric and non-finite values are ignored. Clamping is policy:
    see `RetryPolicy.delay_for`.
    """
    names = lowered(headers)
    ms = decimal(names.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    value = names.get("retry-after")
    if value is None:
        return None
    seconds = decimal(value)
    if seconds is not None:
        return seconds
    if now_epoch is None:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    wait = when.timestamp() - now_epoch
    return max(0.0, wait) if math.isfinite(wait) else None
