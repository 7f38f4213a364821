"""The in-memory state backend: one process, today's behaviour.

Records are plain dict entries handed out as they are; nothing is shared, so `changed()` does
nothing and `shares()` is always `False`. The exact primitives are dicts whose entries expire by
the injected clock (a heap of expiry times keeps them from piling up). Everything runs on the
event loop: a primitive never awaits, so each is atomic for asyncio tasks. It must not do I/O,
start threads, or read the wall clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import TypeVar, cast

from seawall._clock import Clock

R = TypeVar("R")

_VALUE, _COUNTER = 0, 1


class MemoryBackend:
    """`StateBackend` for a single gateway process. `clock` times the exact primitives' TTLs."""

    __slots__ = ("_clock", "_counters", "_expiry", "_records", "_seq", "_values")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: dict[str, dict[str, object]] = {}
        self._values: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._counters: dict[tuple[str, str], list[float]] = {}  # [total, expires_at]
        self._expiry: list[tuple[float, int, int, tuple[str, str]]] = []  # (at, seq, store, key)
        self._seq = 0

    # -- records -----------------------------------------------------------------------------------
    def record(self, kind: str, key: str, factory: Callable[[], R]) -> R:
        records = self._records.get(kind)
        if records is None:
            records = self._records[kind] = {}
        found = records.get(key)
        if found is None:
            found = records[key] = factory()
        return cast(R, found)

    def changed(self, kind: str, key: str, record: object) -> None:
        return None

    def shares(self, kind: str) -> bool:
        return False

    def keys(self, kind: str) -> list[str]:
        return sorted(self._records.get(kind, ()))

    # -- exact primitives ------------------------------------------------------------------------------
    async def set_if_absent(
        self, namespace: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> bytes | None:
        expires_at = self._expires_at(ttl_s)
        now = self._sweep()
        k = (namespace, key)
        found = self._values.get(k)
        if found is not None and found[1] > now:
            return found[0]
        self._values[k] = (bytes(value), expires_at)
        self._schedule(expires_at, _VALUE, k)
        return None

    async def get(self, namespace: str, key: str) -> bytes | None:
        found = self._values.get((namespace, key))
        return found[0] if found is not None and found[1] > self._clock.now() else None

    async def add(
        self,
        namespace: str,
        key: str,
        amount: float,
        *,
        limit: float | None = None,
        ttl_s: float | None = None,
    ) -> tuple[bool, float]:
        if not math.isfinite(amount):
            raise ValueError(f"amount must be finite, got {amount!r}")
        if limit is not None and math.isnan(limit):
            raise ValueError("limit must be a number")
        expires_at = self._expires_at(ttl_s)
        now = self._sweep()
        k = (namespace, key)
        counter = self._counters.get(k)
        if counter is not None and counter[1] <= now:
            del self._counters[k]
            counter = None
        total = 0.0 if counter is None else counter[0]
        if amount > 0 and limit is not None and total + amount > limit:
            return False, total
        if counter is None:
            if amount == 0:
                return True, 0.0
            self._counters[k] = [amount, expires_at]
            self._schedule(expires_at, _COUNTER, k)
            return True, amount
        counter[0] = total + amount
        return True, counter[0]

    async def delete(self, namespace: str, key: str) -> None:
        self._values.pop((namespace, key), None)
        self._counters.pop((namespace, key), None)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # -- expiry ------------------------------------------------------------------------------------------
    def _expires_at(self, ttl_s: float | None) -> float:
        if ttl_s is None:
            return math.inf
        if not 0.0 < ttl_s < math.inf:
            raise ValueError(f"ttl_s must be > 0 and finite, got {ttl_s!r}")
        return self._clock.now() + ttl_s

    def _schedule(self, expires_at: float, store: int, key: tuple[str, str]) -> None:
        if expires_at < math.inf:
            self._seq += 1
            heapq.heappush(self._expiry, (expires_at, self._seq, store, key))

    def _sweep(self) -> float:
        """Drop entries whose time has come (so keys written once and never read do not pile up)."""
        now = self._clock.now()
        heap = self._expiry
        while heap and heap[0][0] <= now:
            at, _seq, store, key = heapq.heappop(heap)
            if store == _VALUE:
                value = self._values.get(key)
                if value is not None and value[1] == at:
                    del self._values[key]
            else:
                counter = self._counters.get(key)
                if counter is not None and counter[1] == at:
                    del self._counters[key]
        return now
