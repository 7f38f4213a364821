"""Capture: what one request's execution reads from outside, kept so replay can hand it back.

An execution is reproducible when everything nondeterministic it consumed is recorded: the bytes
from upstream (adapters record those in `AttemptInfo`), the answers of the resilience state (the
engine records them as events), and — here — every reading of the clock and every random draw.
`CapturingClock` and `CapturingRandom` wrap the real ones and append what they return to the
`Reading` of the request running in the current task (a context variable), which the request's
trace carries into its record. Outside a request (background tasks, start-up) nothing is kept.

The request lifecycle opens a reading (`begin`) before its trace reads the clock and closes it
(`end`) once the record is final. Background tasks that a request starts must not inherit it:
create them with an empty context (`detached()`).

Must not: decide anything, or cost more than an append per reading.
"""

from __future__ import annotations

import contextvars
import random
import time

from seawall._clock import Clock, MonotonicClock


class Reading:
    """One execution's clock readings (`now`, `wall`) and random draws, in the order taken."""

    __slots__ = ("draws", "now", "wall")

    def __init__(self) -> None:
        self.now: list[float] = []
        self.wall: list[float] = []
        self.draws: list[float] = []


_CURRENT: contextvars.ContextVar[Reading | None] = contextvars.ContextVar("seawall_reading", default=None)
_current = _CURRENT.get  # bound once: read on every clock reading


def begin(reading: Reading) -> contextvars.Token[Reading | None]:
    """Make `reading` the current task's (until `end(token)`)."""
    return _CURRENT.set(reading)


def end(token: contextvars.Token[Reading | None]) -> None:
    """Stop capturing into the reading `begin` set (a no-op outside the context that set it)."""
    try:
        _CURRENT.reset(token)
    except ValueError:  # reset from another context (a library stream consumed elsewhere)
        _CURRENT.set(None)


def current() -> Reading | None:
    return _CURRENT.get()


def detached() -> contextvars.Context:
    """An empty context for a background task started from inside a request (so the task's clock
    readings are not taken as the request's): `loop.create_task(coro, context=detached())`."""
    return contextvars.Context()


class CapturingClock:
    """A `Clock` that keeps every reading it gives inside a request (see the module docstring)."""

    __slots__ = ("_clock", "_now", "_wall")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # the real clock's readings are taken straight from `time` (one Python call per reading)
        real = type(clock) is MonotonicClock
        self._now = time.monotonic if real else clock.now
        self._wall = time.time if real else clock.wall

    def now(self) -> float:
        value = self._now()
        reading = _current()
        if reading is not None:
            reading.now.append(value)
        return value

    def wall(self) -> float:
        value = self._wall()
        reading = _current()
        if reading is not None:
            reading.wall.append(value)
        return value


class CapturingRandom(random.Random):
    """A `random.Random` that keeps every `random()` draw taken inside a request (`uniform` and the
    other float helpers draw through it)."""

    def random(self) -> float:
        value = super().random()
        reading = _current()
        if reading is not None:
            reading.draws.append(value)
        return value


__all__ = ["CapturingClock", "CapturingRandom", "Reading", "begin", "current", "detached", "end"]
