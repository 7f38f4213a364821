"""Deadlines: the absolute time by which a whole request (every retry and fallback) must end.

A `Deadline` is a point on an injected `Clock`, so it can be passed down and compared without
drift. This module must not sleep, read the wall clock, or decide what to do when time runs out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from seawall._clock import Clock
from seawall.resilience._headers import decimal, lowered

# Client timeout headers and their unit, in seconds per unit.
_TIMEOUT_HEADERS = (
    ("x-seawall-timeout-ms", 0.001),  # ours: a total deadline in milliseconds
    ("x-stainless-read-timeout", 1.0),  # openai SDKs: their read timeout, seconds (may be "600.0")
    ("x-stainless-timeout", 1.0),  # anthropic SDKs: their timeout, whole seconds
)


@dataclass(frozen=True, slots=True, order=True)
class Deadline:
    """An absolute expiry time on `clock`. Deadlines order by expiry, so `min(a, b)` works."""

    expires_at: float
    clock: Clock = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        if math.isnan(self.expires_at):
            raise ValueError("expires_at must be a number, not NaN")

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        """The deadline `seconds` from now."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        return cls(clock.now() + seconds, clock)

    @classmethod
    def never(cls, clock: Clock) -> Deadline:
        """A deadline that never expires (`remaining()` is `math.inf`)."""
        return cls(math.inf, clock)

    @staticmethod
    def earliest(*deadlines: Deadline) -> Deadline:
        """The first of `deadlines` to expire."""
        if not deadlines:
            raise ValueError("earliest() needs at least one deadline")
        return min(deadlines)

    @property
    def expired(self) -> bool:
        return self.clock.now() >= self.expires_at

    def remaining(self) -> float:
        """Seconds left, never negative; `math.inf` for `Deadline.never`."""
        return max(0.0, self.expires_at - self.clock.now())


def parse_client_timeout(headers: Mapping[str, str]) -> float | None:
    """The shortest valid positive timeout a client sent, in seconds, or `None`.

    Reads `x-seawall-timeout-ms`, `x-stainless-read-timeout` (openai SDKs) and
    `x-stainless-timeout` (anthropic SDKs); zero, negative and unparseable values are ignored.
    The SDK headers carry a *read* timeout: for a non-streamed call that is the whole wait, but for a
    stream it only bounds the wait for the first byte, so the engine should apply it to the first
    token rather than to the whole stream.
    """
    names = lowered(headers)
    found = [
        seconds * unit
        for name, unit in _TIMEOUT_HEADERS
        if (seconds := decimal(names.get(name))) is not None and seconds > 0
    ]
    return min(found, default=None)


def parse_stream_deadline(headers: Mapping[str, str]) -> float | None:
    """The client's deadline for a *whole* stream, in seconds: only `x-seawall-timeout-ms` says that.

    The SDK headers are read timeouts (they bound the wait for the first byte), so they are not
    applied to a stream after its first token; ours is a total deadline and is.
    """
    seconds = decimal(lowered(headers).get("x-seawall-timeout-ms"))
    return seconds * 0.001 if seconds is not None and seconds > 0 else None
