"""Clocks: the only place Seawall reads time.

Policy objects (`seawall.resilience`) never call `time` themselves; they take a `Clock`. Production
code uses `MonotonicClock`; tests drive a `ManualClock` so time-dependent behaviour is deterministic.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic time source, in seconds."""

    def now(self) -> float: ...


class MonotonicClock:
    """The real clock: `time.monotonic()`."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (for tests and simulations)."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    def set(self, value: float) -> None:
        if value < self._now:
            raise ValueError("a clock cannot go backwards")
        self._now = value
