"""Virtual time for replay: an event loop whose clock jumps instead of waiting.

A replay has no sockets: everything it awaits is a timer (the recorded moment an upstream answered,
a timeout, a backoff). `VirtualTimeLoop` runs asyncio unchanged except that when nothing is ready
and the next timer is due in `t` seconds, it moves its clock `t` forward at once instead of
sleeping. So `asyncio.timeout`, `asyncio.sleep` and `call_later` fire at exactly the virtual moment
they would have, a 30 s timeout takes no time, and the run is deterministic.

The loop still polls a real selector (without waiting, unless nothing at all is scheduled) so work
handed to threads (`asyncio.to_thread`) comes back. Must not: be used where real I/O is awaited.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTime:
    """The loop's clock: seconds, moved only by the loop (and by `advance_to`)."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def advance_to(self, moment: float) -> None:
        self.now = max(self.now, moment)


class _JumpingSelector(selectors.DefaultSelector):
    """Polls for real readiness without waiting; a wait for `timeout` seconds becomes a jump."""

    def __init__(self, time: VirtualTime) -> None:
        super().__init__()
        self._time = time

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # nothing scheduled: only a thread can wake us (a real wait)
            return super().select(None)
        self._time.advance_to(self._time.now + timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time (see the module docstring)."""

    def __init__(self, time: VirtualTime | None = None) -> None:
        self.virtual = time or VirtualTime()
        super().__init__(selector=_JumpingSelector(self.virtual))

    def time(self) -> float:
        return self.virtual.now


def run_virtual(coro: Coroutine[Any, Any, T], time: VirtualTime | None = None) -> T:
    """Run `coro` to completion on a fresh `VirtualTimeLoop` in this thread."""
    loop = VirtualTimeLoop(time)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


__all__ = ["VirtualTime", "VirtualTimeLoop", "run_virtual"]
