"""Clocks and id sources: the only places Seawall reads time or draws trace ids.

Policy objects (`seawall.resilience`), the engine, traces and the upstream client never call `time`
themselves; they take a `Clock`. Production code uses `MonotonicClock`; tests drive a `ManualClock`
so time-dependent behaviour is deterministic (and a replay can drive one from a recording).

A clock has two readings: `now()`, monotonic seconds for every duration, deadline and window, and
`wall()`, seconds since the epoch for timestamps a human or another machine reads (trace start,
HTTP dates, `created` fields). Trace ids come from an `IdSource`, which is injected the same way.
"""

from __future__ import annotations

import os
import random
import time
from typing import Protocol


class Clock(Protocol):
    """A time source: monotonic seconds (`now`) and the wall clock (`wall`)."""

    def now(self) -> float: ...

    def wall(self) -> float: ...


class MonotonicClock:
    """The real clock: `time.monotonic()` and `time.time()`."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (for tests and simulations). The wall clock moves with
    it, from `wall_start` (1 January 2026 by default)."""

    __slots__ = ("_now", "_offset")

    def __init__(self, start: float = 1000.0, *, wall_start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._offset = wall_start - start

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    def set(self, value: float) -> None:
        if value < self._now:
            raise ValueError("a clock cannot go backwards")
        self._now = value


class IdSource(Protocol):
    """Where trace ids come from."""

    def trace_id(self) -> str:
        """A new id: unique, and ordered by creation time when compared as strings."""
        ...


class RandomIds:
    """Time-ordered ids: 12 hex digits of wall-clock milliseconds + 48 random bits.

    The generator is seeded once (no syscall per id). Ids are not secrets: the admin API that
    serves traces is what must be protected. Pass `rng` for reproducible ids (tests, replay)."""

    __slots__ = ("_clock", "_rng")

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._rng = rng or random.Random(int.from_bytes(os.urandom(16), "big"))

    def trace_id(self) -> str:
        return f"{int(self._clock.wall() * 1000):012x}{self._rng.getrandbits(48):012x}"


__all__ = ["Clock", "IdSource", "ManualClock", "MonotonicClock", "RandomIds"]
