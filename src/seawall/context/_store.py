"""The snapshot store seam, and the in-memory store.

A store keeps canonical snapshot bytes by content hash. It is synchronous, thread-safe and does
not check that a hash matches its bytes (`Snapshot` computed both): the in-memory store is quick
enough to call on the event loop, the SQLite store (`_sqlite.py`) is called through
`asyncio.to_thread`. Retention is by the time since a snapshot was last stored or read
(`retention_s`) and by size (bytes and, in memory, entries), least recently used out first: a
snapshot that a live conversation keeps naming stays. A dropped snapshot is simply unknown
afterwards (a request naming it gets `UnknownSnapshot`), so retention should outlast the
conversation bindings that name snapshots.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from seawall._clock import Clock, MonotonicClock


@dataclass(frozen=True, slots=True)
class SnapshotStats:
    """What a store holds, and what it dropped since it was opened (by this process)."""

    entries: int
    bytes: int
    evicted: int = 0
    """Dropped to stay within the size caps."""
    expired: int = 0
    """Dropped because `retention_s` passed since their last use."""


class SnapshotStore(Protocol):
    """Where snapshots live, by content hash. Thread-safe; never raises for a missing snapshot."""

    def put(self, canonical: bytes, hash: str) -> bool:
        """Store `canonical` (the canonical JSON whose content hash is `hash`) and count it as used.
        True when it was not stored before (or had expired), False when it was already there."""
        ...

    def get(self, hash: str) -> bytes | None:
        """The canonical bytes stored under `hash` (counting as a use), or None."""
        ...

    def stats(self) -> SnapshotStats:
        """Entries and bytes held now, and what was dropped."""
        ...

    def prune(self) -> int:
        """Drop every snapshot unused for `retention_s`; how many were dropped. Puts and gets keep
        retention on their own; a maintenance task may call this to give memory or space back."""
        ...

    def close(self) -> None:
        """Release what the store holds open (idempotent)."""
        ...


class MemorySnapshotStore:
    """`SnapshotStore` in this process's memory, bounded by entries and bytes, LRU on every use, with an
    optional `retention_s` since last use measured on `clock`."""

    __slots__ = ("_bytes", "_clock", "_entries", "_evicted", "_expired", "_lock", "max_bytes",
                 "max_entries", "retention_s")  # fmt: skip

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        retention_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes!r}")
        if retention_s is not None and not retention_s > 0:
            raise ValueError(f"retention_s must be > 0 or None, got {retention_s!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.retention_s = retention_s
        self._clock = clock or MonotonicClock()
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # oldest use first
        self._bytes = 0
        self._evicted = 0
        self._expired = 0
        self._lock = threading.Lock()

    def put(self, canonical: bytes, hash: str) -> bool:
        if len(canonical) > self.max_bytes:
            raise ValueError(
                f"a snapshot of {len(canonical):,} bytes cannot fit a store of {self.max_bytes:,}"
            )
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            entries = self._entries
            found = entries.get(hash)
            if found is not None:
                entries[hash] = (found[0], now)
                entries.move_to_end(hash)
                return False
            entries[hash] = (bytes(canonical), now)
            self._bytes += len(canonical)
            while len(entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (data, _) = entries.popitem(last=False)
                self._bytes -= len(data)
                self._evicted += 1
            return True

    def get(self, hash: str) -> bytes | None:
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            found = self._entries.get(hash)
            if found is None:
                return None
            self._entries[hash] = (found[0], now)
            self._entries.move_to_end(hash)
            return found[0]

    def stats(self) -> SnapshotStats:
        with self._lock:
            self._expire(self._clock.now())
            return SnapshotStats(len(self._entries), self._bytes, self._evicted, self._expired)

    def prune(self) -> int:
        with self._lock:
            before = self._expired
            self._expire(self._clock.now())
            return self._expired - before

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _expire(self, now: float) -> None:
        """Drop the entries unused for `retention_s` (they are the oldest: the dict is in use order)."""
        if self.retention_s is None:
            return
        cutoff = now - self.retention_s
        entries = self._entries
        while entries:
            hash, (data, used) = next(iter(entries.items()))
            if used > cutoff:
                break
            del entries[hash]
            self._bytes -= len(data)
            self._expired += 1
