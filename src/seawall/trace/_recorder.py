"""The trace recorder: durable before a response is delivered, yet off the hot path.

`record()` runs on the event loop and does two cheap things: it copies the record's JSON line
(`_codec.encode`) into an append-only journal segment mapped into memory (`mmap`, shared with the
file: a process crash after that loses nothing, the kernel has the bytes), and hands record and line
to the writer thread. A memory copy, unlike `os.write`, never gives up the GIL, so the event loop is
not left waiting for it while the writer thread works. The writer thread turns each into the stored
form (`_codec.to_stored`: the line itself unless a body is large), batches them into the store and
deletes a journal segment once every record in it is committed. On start, segments left behind by
a dead process are replayed into the store (inserts are idempotent by id); their lines are read by
the codec, so journals of either schema version replay.

It must never block the event loop on the store, and never lose a record it accepted.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from seawall.trace._codec import decode, encode, to_stored
from seawall.trace._schema import StoredTrace, TraceRecord
from seawall.trace._store import TraceStore

log = logging.getLogger("seawall.trace")

SEGMENT_MAX_BYTES = 8 * 1024 * 1024
BATCH_MAX = 128
BUSY_BATCH = 32
"""A batch this large means requests arrive faster than ~600/s (the writer drains every 50 ms)."""
_ROTATE = object()


class TraceRecorder:
    """Accepts finished records; see module docstring for the durability contract.

    Threading: only the event-loop thread calls `record()`; only the writer thread writes the store.
    They share a `deque` (thread-safe append/popleft) and two single-writer counters, so the hot
    path takes no lock and wakes nobody: the writer drains the deque every `interval_s`.
    """

    def __init__(
        self,
        store: TraceStore | None,
        journal_dir: str | os.PathLike[str] | None = None,
        *,
        interval_s: float = 0.05,
    ) -> None:
        self.store = store
        self._dir = Path(journal_dir) if journal_dir is not None else None
        self._interval = interval_s
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._capacity = 0
        self._segment: Path | None = None
        self._seq = 0
        self._size = 0
        self.recorded = 0  # written only by the event-loop thread
        self.written = 0  # written only by the writer thread (records handled, stored or kept)
        self.last_batch = 0  # records in the writer's last batch (`busy`)
        self.failed_batches = 0
        # After a failed store write, journal segments are kept (replayed on the next start).
        self._keep_segments = False

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def start(self) -> int:
        """Replay orphaned journal segments, open a new one, start the writer. Returns replayed count."""
        if self.store is None:
            return 0
        replayed = 0
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            replayed = recover_journal(self.store, self._dir)
            self._open_segment()
        self._thread = threading.Thread(target=self._run, name="seawall-trace-writer", daemon=True)
        self._thread.start()
        return replayed

    # -- hot path ------------------------------------------------------------------------------
    def record(self, record: TraceRecord) -> None:
        """Journal one finished record (durable against a process crash on return) and queue it."""
        if self.store is None:
            return
        line = encode(record)
        if self._map is not None:
            start = self._size
            end = start + len(line) + 1
            if end > self._capacity:
                old = self._segment
                self._open_segment(len(line) + 1)
                self._items.append((_ROTATE, old))
                start, end = 0, len(line) + 1
            journal = self._map
            journal[start : end - 1] = line
            journal[end - 1] = 10  # "\n"
            self._size = end
        self._items.append((record, line))
        self.recorded += 1

    @property
    def busy(self) -> bool:
        """Whether the writer is keeping up with a load: its last batch was large or records wait.
        Background upkeep (indexing) holds back while it is, so it never competes with requests
        on a saturated core."""
        return self.last_batch >= BUSY_BATCH or len(self._items) >= BUSY_BATCH

    def stats(self) -> dict[str, int]:
        """For metrics: records accepted, not yet handled by the writer, and failed store batches."""
        recorded = self.recorded
        return {
            "recorded": recorded,
            "backlog": max(0, recorded - self.written),
            "failed_batches": self.failed_batches,
        }

    # -- lifecycle -----------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Block until every record accepted so far is handled by the writer (tests, shutdown, CLI)."""
        if self._thread is None:
            return self.store is None or not self._items
        target = self.recorded
        deadline = time.monotonic() + timeout
        while self.written < target:
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.002)
        return True

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None
        if self._fd is not None:
            self._close_segment()
            if self.written >= self.recorded and not self._keep_segments and self._segment is not None:
                with contextlib.suppress(OSError):
                    self._segment.unlink()
        if self.store is not None:
            self.store.close()

    # -- journal -------------------------------------------------------------------------------
    def _open_segment(self, need: int = 0) -> None:
        """A new segment, preallocated (zeros) and mapped; at least `need` bytes long."""
        assert self._dir is not None
        self._close_segment()
        self._seq += 1
        self._segment = self._dir / f"seg-{os.getpid()}-{self._seq:06d}.jsonl"
        self._fd = os.open(self._segment, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._capacity = max(SEGMENT_MAX_BYTES, need)
        os.ftruncate(self._fd, self._capacity)
        self._map = mmap.mmap(self._fd, self._capacity)
        self._size = 0

    def _close_segment(self) -> None:
        """Unmap the current segment and cut its unused zeros off."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            os.close(self._fd)
            self._fd = None

    # -- writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stop = self._stop
            self._drain()
            if stop:
                self._drain()
                return

    def _drain(self) -> None:
        items = self._items
        while items:
            batch: list[tuple[TraceRecord, bytes]] = []
            segments: list[Path] = []
            while items and len(batch) < BATCH_MAX:
                first, second = items.popleft()
                if first is _ROTATE:
                    segments.append(second)
                else:
                    batch.append((first, second))
            if batch:
                self.last_batch = len(batch)
                if not self._write(batch):
                    self.failed_batches += 1
                    self._keep_segments = True
                self.written += len(batch)
                # Hand the GIL back between batches: the event loop may be waiting for it, and
                # would otherwise wait up to the interpreter's switch interval (5 ms).
                time.sleep(0)
            if not self._keep_segments:
                for segment in segments:
                    with contextlib.suppress(OSError):
                        segment.unlink()

    def _write(self, batch: list[tuple[TraceRecord, bytes]]) -> bool:
        assert self.store is not None
        try:
            items = [to_stored(record, line) for record, line in batch]
        except Exception:  # a bug, not a store outage: retrying cannot help
            log.exception("trace records could not be prepared; %d records stay in the journal", len(batch))
            return False
        for delay in (0.05, 0.25, 1.0, None):
            try:
                self.store.write_batch(items)
                return True
            except Exception:
                if delay is None:
                    log.exception("trace store write failed; %d records stay in the journal", len(batch))
                    return False
                time.sleep(delay)  # writer thread only: never the event loop
        return False


def recover_journal(store: TraceStore, directory: Path) -> int:
    """Move records from journal segments of dead processes into the store; returns how many."""
    count = 0
    if not directory.is_dir():
        return 0
    for seg in sorted(directory.glob("seg-*.jsonl")):
        try:
            pid = int(seg.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and _alive(pid):
            continue  # another live gateway process owns it
        records: list[StoredTrace] = []
        # a segment mapped by a process that died still has its preallocated zeros at the end
        for line in seg.read_bytes().rstrip(b"\0").split(b"\n"):
            if not line:
                continue
            try:
                record = decode(line)
            except ValueError:
                log.warning("trace journal %s: skipping a torn record (crash mid-write)", seg.name)
                continue
            # re-encoded: a version 1 line is stored in the current form
            records.append(to_stored(record, encode(record)))
        for start in range(0, len(records), BATCH_MAX):
            store.write_batch(records[start : start + BATCH_MAX])
        count += len(records)
        seg.unlink()
    if count:
        log.info("trace journal: replayed %d records left by a previous process", count)
    return count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
