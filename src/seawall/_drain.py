"""Waiting for a background worker thread to catch up (the OTLP exporter, the online-signal feed).

Both hand records from the event loop to a daemon thread through a deque, count what they queued
and what the thread has handled, and let tests and shutdown wait until the second reaches the first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_handled(
    done: threading.Condition,
    wake: threading.Event,
    handled: Callable[[], int],
    target: int,
    *,
    running: Callable[[], bool],
    timeout_s: float,
) -> bool:
    """Block until `handled()` reaches `target`, waking the worker as it goes; False when
    `timeout_s` passes first or the worker is not running."""
    deadline = time.monotonic() + timeout_s
    with done:
        while handled() < target:
            left = deadline - time.monotonic()
            if left <= 0 or not running():
                return False
            wake.set()
            done.wait(left)
    return True


__all__ = ["wait_handled"]
