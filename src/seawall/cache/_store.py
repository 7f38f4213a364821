"""Cache entries and the backends that keep them: the `CacheBackend` seam and `MemoryCache`.

A backend maps a `CacheKey` to one `Entry` (a completed answer) and forgets it after the entry's TTL,
or sooner when bounds force it. It knows nothing of requests, targets or HTTP. The interface is async
because a shared backend (Redis, with the scale-out work) answers over the network; `MemoryCache`
answers at once.

`MemoryCache` is bounded twice, by entries and by bytes (an entry's size is its answer's length plus a
fixed overhead), evicts the least recently used entry first, and expires entries lazily against an
injected `Clock` (a read of an expired entry removes it; eviction takes expired entries first in LRU
order like any other). Every operation is O(1) (one `OrderedDict`). It is not thread-safe: use it from
one event loop, like the rest of the request path.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Protocol

import msgspec

from seawall._clock import Clock, MonotonicClock
from seawall._types import JSONDict
from seawall.cache._key import CacheKey, Identity

ENTRY_OVERHEAD: Final = 1024
"""Bytes counted for an entry beyond its answer: the key, the entry's fields and usage, the index slot
(measured with tracemalloc: ~870 bytes for an entry whose `usage` has the detail objects, plus ~120 for
the key's digest)."""


class Entry(msgspec.Struct, frozen=True, gc=False):
    """One stored answer: the completed answer's bytes and what produced it.

    `target` and `identity` must be those of the key it is stored under (`CacheBackend.put` refuses
    anything else), so an entry cannot be served for another target or model identity."""

    body: bytes
    """The answer (for chat completions: a canonical `chat.completion` JSON object)."""
    content_type: str
    target: str
    """`provider/model` that produced the answer."""
    identity: Identity | None
    """The model identity (response model, system_fingerprint) that produced it."""
    created: float
    """Wall-clock seconds (`Clock.wall`) when the answer was stored (for `age` and traces)."""
    ttl_s: float
    model: str | None = None
    """The response `model` as the upstream reported it."""
    usage: JSONDict | None = None
    """The upstream's token usage for the answer (what the hit saved)."""

    @property
    def size(self) -> int:
        """Bytes this entry counts against a byte bound."""
        return len(self.body) + ENTRY_OVERHEAD


class CacheBackend(Protocol):
    """Where cache entries live (see the module docstring)."""

    async def get(self, key: CacheKey) -> Entry | None:
        """The live entry under `key`, or None (absent or expired)."""
        ...

    async def put(self, key: CacheKey, entry: Entry) -> bool:
        """Store `entry` under `key`, replacing any entry there; False when the backend declined it
        (too large, no TTL). Raises `ValueError` when the entry's target or identity is not the key's."""
        ...

    async def delete(self, key: CacheKey) -> bool:
        """Forget the entry under `key`; True if there was one."""
        ...

    async def clear(self) -> None:
        """Forget every entry (the counters are kept)."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters and gauges: at least hits, misses, stores, rejected, evictions, expirations,
        entries and bytes."""
        ...


def check_entry(key: CacheKey, entry: Entry) -> None:
    """Raise `ValueError` unless `entry` was produced by the key's target and model identity: an
    answer is stored only under what produced it (a fallback's answer under the fallback)."""
    if entry.target != key.target or entry.identity != key.identity:
        raise ValueError(
            f"cache entry from {entry.target} {entry.identity} cannot be stored under a key for "
            f"{key.target} {key.identity}"
        )


class MemoryCache:
    """An in-process `CacheBackend`: LRU within `max_entries` and `max_bytes`, per-entry TTL on `clock`."""

    __slots__ = (
        "_bytes",
        "_clock",
        "_counts",
        "_items",
        "max_bytes",
        "max_entries",
    )

    def __init__(self, *, max_entries: int = 10_000, max_bytes: int = 64 << 20, clock: Clock | None = None):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if max_bytes < ENTRY_OVERHEAD:
            raise ValueError(f"max_bytes must be at least {ENTRY_OVERHEAD}, got {max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock: Clock = clock or MonotonicClock()
        self._items: OrderedDict[str, tuple[Entry, float]] = OrderedDict()
        """digest → (entry, expiry on `clock.now()`); least recently used first."""
        self._bytes = 0
        self._counts = dict.fromkeys(
            ("hits", "misses", "stores", "rejected", "evictions", "expirations", "deletes"), 0
        )

    async def get(self, key: CacheKey) -> Entry | None:
        found = self._items.get(key.digest)
        if found is None:
            self._counts["misses"] += 1
            return None
        entry, expires = found
        if self._clock.now() >= expires:
            self._drop(key.digest, entry)
            self._counts["expirations"] += 1
            self._counts["misses"] += 1
            return None
        self._items.move_to_end(key.digest)
        self._counts["hits"] += 1
        return entry

    async def put(self, key: CacheKey, entry: Entry) -> bool:
        check_entry(key, entry)
        size = entry.size
        if size > self.max_bytes or entry.ttl_s <= 0:
            self._counts["rejected"] += 1
            return False
        old = self._items.pop(key.digest, None)
        if old is not None:
            self._bytes -= old[0].size
        self._items[key.digest] = (entry, self._clock.now() + entry.ttl_s)
        self._bytes += size
        self._counts["stores"] += 1
        self._evict()
        return True

    async def delete(self, key: CacheKey) -> bool:
        found = self._items.get(key.digest)
        if found is None:
            return False
        self._drop(key.digest, found[0])
        self._counts["deletes"] += 1
        return True

    async def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def stats(self) -> dict[str, int]:
        return {
            **self._counts,
            "entries": len(self._items),
            "bytes": self._bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
        }

    def _drop(self, digest: str, entry: Entry) -> None:
        del self._items[digest]
        self._bytes -= entry.size

    def _evict(self) -> None:
        """Drop least recently used entries until both bounds hold (an expired one counts as expired)."""
        now = self._clock.now()
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, (entry, expires) = self._items.popitem(last=False)
            self._bytes -= entry.size
            self._counts["expirations" if now >= expires else "evictions"] += 1


__all__ = ["ENTRY_OVERHEAD", "CacheBackend", "Entry", "MemoryCache", "check_entry"]
