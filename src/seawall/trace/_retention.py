"""Retention (`traces.retention`) and the store's other background upkeep, on their own thread.

A pass deletes, oldest first, every trace older than `max_age`, then more of the oldest until the
store holds no more than `max_bytes`; then the blobs no trace names any more, and gives free space
back (`TraceStore.reclaim`). Every step is one short transaction, so the recorder's writer waits
for one step at most; requests never wait for any of it (they only journal their record).

Between passes the same thread indexes what finds a trace (targets, error classes, text: the
writer stores only the trace and its blob references), and the rows a migrated store has not
indexed yet, a few hundred at a time, whenever the recorder is not busy. The thread's clock is
injectable; `run_pass` is the pass itself, for tests and tools.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import msgspec

log = logging.getLogger("seawall.trace")

CHUNK = 128
"""Traces deleted per transaction."""
INDEX_STEP = 256
"""Older rows indexed per transaction."""
_RETRY_S = 5.0


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What to keep (None: no limit) and how often to check, in seconds and bytes."""

    max_age_s: float | None = None
    max_bytes: int | None = None
    interval_s: float = 60.0


class RetentionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one pass did."""

    by_age: int = 0
    by_size: int = 0
    blobs: int = 0
    reclaimed_bytes: int = 0
    size_bytes: int = 0


class MaintainedStore(Protocol):
    """What retention needs of a store (see `TraceStore`)."""

    def delete_oldest(self, limit: int, before_ts: float | None = None) -> int: ...

    def size_bytes(self) -> int: ...

    def collect_garbage(self) -> int: ...

    def reclaim(self) -> int: ...

    def maintain(self, max_rows: int = 128) -> bool: ...


def run_pass(
    store: MaintainedStore,
    policy: RetentionPolicy,
    now: float,
    *,
    chunk: int = CHUNK,
    between: Callable[[], bool] = lambda: True,
) -> RetentionReport:
    """One retention pass at wall-clock time `now`. `between()` runs between transactions; when it
    returns False (the thread is stopping) the pass ends early."""
    by_age = by_size = 0
    if policy.max_age_s is not None:
        cutoff = now - policy.max_age_s
        while True:
            deleted = store.delete_oldest(chunk, cutoff)
            by_age += deleted
            if deleted < chunk or not between():
                break
    if policy.max_bytes is not None:
        per_trace: float | None = None  # bytes a deleted trace gave back, as measured
        size = store.size_bytes()
        while size > policy.max_bytes:
            excess = size - policy.max_bytes
            want = chunk if per_trace is None else max(1, min(chunk, math.ceil(excess / per_trace)))
            deleted = store.delete_oldest(want)
            by_size += deleted
            if deleted == 0 or not between():
                break
            after = store.size_bytes()
            if after < size:
                per_trace = (size - after) / deleted
            size = after
    blobs = store.collect_garbage()
    reclaimed = store.reclaim()
    size = store.size_bytes()
    if policy.max_bytes is not None and size > policy.max_bytes and by_size:
        log.warning(
            "trace retention: the store holds %d bytes with every trace deleted (max_bytes %d)",
            size,
            policy.max_bytes,
        )
    return RetentionReport(
        by_age=by_age, by_size=by_size, blobs=blobs, reclaimed_bytes=reclaimed, size_bytes=size
    )


class Maintenance:
    """The thread that runs retention passes (when a policy is given) and indexes stored traces
    (while `busy()` is false: the recorder's writer is not under load)."""

    def __init__(
        self,
        store: MaintainedStore,
        policy: RetentionPolicy | None,
        *,
        clock: Callable[[], float] = time.time,
        busy: Callable[[], bool] = lambda: False,
        index_pause_s: float = 0.01,
        idle_pause_s: float = 1.0,
    ) -> None:
        self.store = store
        self.policy = policy
        self._clock = clock
        self._busy = busy
        self._index_pause = index_pause_s
        self._idle_pause = idle_pause_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.last: RetentionReport | None = None
        self.deleted = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="seawall-trace-maintenance", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def stats(self) -> dict[str, int]:
        """For metrics: traces deleted by retention, and the store's size at the last pass."""
        last = self.last
        return {"deleted": self.deleted, "store_bytes": 0 if last is None else last.size_bytes}

    def run_pass(self) -> RetentionReport | None:
        """One retention pass now (None without a policy)."""
        if self.policy is None:
            return None
        report = run_pass(self.store, self.policy, self._clock(), between=self._between)
        self.passes += 1
        self.deleted += report.by_age + report.by_size
        self.last = report
        if report.by_age or report.by_size:
            log.info(
                "trace retention: deleted %d traces by age, %d by size, %d blobs; store %d bytes",
                report.by_age,
                report.by_size,
                report.blobs,
                report.size_bytes,
            )
        return report

    def _between(self) -> bool:
        time.sleep(0)  # let the writer and the event loop have the GIL between transactions
        return not self._stop.is_set()

    def _run(self) -> None:
        next_pass = 0.0
        while not self._stop.is_set():
            try:
                if self.policy is not None and time.monotonic() >= next_pass:
                    next_pass = time.monotonic() + self.policy.interval_s
                    self.run_pass()
                # indexing (what finds traces) waits while the recorder is busy: under a load that
                # saturates the core it would take CPU from requests; it catches up when the load
                # falls (a listing that needs the index indexes first, so nothing is missed)
                more = not self._busy() and self.store.maintain(INDEX_STEP)
                pause = self._index_pause if more else self._idle_pause
            except Exception:  # a store error (locked by another process, disk full): try again later
                log.exception("trace store maintenance failed; trying again")
                pause = _RETRY_S
            if self.policy is not None:
                pause = min(pause, max(0.0, next_pass - time.monotonic()))
            self._stop.wait(pause)


__all__ = ["CHUNK", "MaintainedStore", "Maintenance", "RetentionPolicy", "RetentionReport", "run_pass"]
