"""`OnlineFeed`: finished requests become online signals off the event loop.

The event loop does one thing per request: `submit(record)` decides by `sample` whether the record
is looked at, then appends it to a bounded `deque` (or, when it is full, counts it dropped). It
never blocks, takes no lock and wakes nobody. A daemon thread drains the deque every `interval_s`:
it reads each record's `Signals` (`signals_of`: parsing the answer, validating JSON and tool
arguments) and hands them to the sink, the quality monitor, which is thread-safe. Requests that
were no answer (`signals_of` gives None) reach the sink as nothing.

An exception in the extraction (a bug) or in the sink loses that record's signals, is counted in
`errors`, and is logged the first time for each of the two; the thread goes on. Counters
(`stats()`) feed `/metrics`.

Must not: block `submit`, or let one record stop the thread.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

from seawall._drain import wait_handled
from seawall.quality._signals import Signals, signals_of
from seawall.trace._schema import TraceRecord

log = logging.getLogger("seawall.quality")

Sink = Callable[[Signals], None]
"""Receives each answer's `Signals` on the feed's thread."""


class OnlineFeed:
    """Reads online signals from finished requests on its own thread; see the module docstring.

    Threading: only the event-loop thread calls `submit()` and writes `submitted`, `skipped` and
    `dropped`; only the feed's thread writes `taken`, `processed`, `discarded` and `errors`. They
    share a `deque` (thread-safe `append`/`popleft`), so the hot path takes no lock.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        capacity: int = 10_000,
        sample: float = 1.0,
        rng: random.Random | None = None,
        interval_s: float = 0.05,
    ) -> None:
        """`capacity`: records waiting at most (more are dropped); `sample`: the share of records
        looked at (0 < sample ≤ 1), each decided by a draw from `rng`."""
        if capacity < 1:
            raise ValueError(f"capacity: expected at least 1, got {capacity}")
        if not 0 < sample <= 1:
            raise ValueError(f"sample: expected 0 < sample <= 1, got {sample}")
        self._sink = sink
        self._capacity = capacity
        self._sample = sample
        self._rng = rng if rng is not None else random.Random()
        self._interval = interval_s
        self._queue: deque[TraceRecord] = deque()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stop = False
        self._closed = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._logged: set[str] = set()
        self.submitted = 0  # event-loop thread: records queued
        self.skipped = 0  # event-loop thread: records sampled out
        self.dropped = 0  # event-loop thread: records refused (the queue was full, or closed)
        self.taken = 0  # feed thread: records taken off the queue
        self.processed = 0  # feed thread: records handled (their signals read and sunk, or failed)
        self.discarded = 0  # feed thread: records left unhandled at close (its timeout passed)
        self.errors = 0  # feed thread: records whose extraction or sink raised

    # -- hot path (event loop) -----------------------------------------------------------------------
    def submit(self, record: TraceRecord) -> None:
        """Queue one finished record (if sampled), or count it dropped when the queue is full."""
        if self._sample < 1.0 and self._rng.random() >= self._sample:
            self.skipped += 1
            return
        queue = self._queue
        if self._closed or len(queue) >= self._capacity:
            self.dropped += 1
            return
        queue.append(record)
        self.submitted += 1

    def stats(self) -> dict[str, int]:
        """For metrics: records queued, handled, sampled out, dropped (a full queue, a submit after
        `close()`, or left at close's timeout) and failed (`errors`, also counted in `processed`)."""
        return {
            "submitted": self.submitted,
            "processed": self.processed,
            "skipped": self.skipped,
            "dropped": self.dropped + self.discarded,
            "errors": self.errors,
        }

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the feed's thread (once)."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="seawall-online-signals", daemon=True)
            self._thread.start()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Block until every record queued so far is handled (tests, shutdown); False on timeout."""
        return wait_handled(
            self._done,
            self._wake,
            lambda: self.taken,
            self.submitted,
            running=lambda: self._thread is not None,
            timeout_s=timeout_s,
        )

    def close(self, timeout_s: float = 5.0) -> None:
        """Handle what is queued (for at most `timeout_s`; what is left then is counted dropped),
        then stop the thread. Later submits are dropped. Idempotent."""
        self._closed = True
        thread = self._thread
        if thread is None:
            return
        self._deadline = time.monotonic() + timeout_s
        self._stop = True
        self._wake.set()
        thread.join(timeout_s)
        self._thread = None

    # -- feed thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stop = self._stop
            self._drain()
            if stop:
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            record = queue.popleft()
            if self._stop and time.monotonic() >= self._deadline:
                self.discarded += 1
            else:
                self._handle(record)
                self.processed += 1
            with self._done:
                self.taken += 1
                self._done.notify_all()
            # Hand the GIL back between records: the event loop may be waiting for it, and would
            # otherwise wait up to the interpreter's switch interval (5 ms).
            time.sleep(0)

    def _handle(self, record: TraceRecord) -> None:
        try:
            signals = signals_of(record)
        except Exception:  # a bug: this record's signals are lost, the thread goes on
            self._failed("extraction", f"online signals of trace {record.id} could not be read")
            return
        if signals is None:
            return
        try:
            self._sink(signals)
        except Exception:
            self._failed("sink", f"the quality monitor raised on the signals of trace {record.id}")

    def _failed(self, kind: str, message: str) -> None:
        self.errors += 1
        if kind not in self._logged:
            self._logged.add(kind)
            log.exception("%s (logged once; counted in errors)", message)


__all__ = ["OnlineFeed", "Sink"]
