"""A stand-in for a shared backend with bounded staleness, held to the same contract.

Each `Replica` keeps its own local records, as a Redis backend will: `changed()` publishes a copy to
a `Hub`, and `settle()` applies every other replica's latest copy in place (`assign_record`, last
writer wins). The exact primitives go to one store, as they will in Redis. The memory backend passes
the contract without ever looking at `changed()`; this one passes only if `ResilienceState` reports
every step another replica must see, and if records survive being copied between processes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pytest

from seawall._clock import ManualClock
from seawall.resilience import AIMDRecord, LimiterRecord, WindowRecord
from seawall.state import MemoryBackend, StateBackend, assign_record

from .contract import BackendContract, Cluster

R = TypeVar("R")
Key = tuple[str, str]


class Hub:
    """The shared store: the last published copy of each record, and the exact primitives."""

    def __init__(self, clock: ManualClock) -> None:
        self.exact = MemoryBackend(clock)
        self.published: dict[Key, tuple[int, object, object]] = {}  # (version, copy, publisher)
        self.version = 0


class Replica:
    """One process's view of the hub (a `StateBackend`)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._records: dict[Key, object] = {}
        self._applied: dict[Key, int] = {}

    def record(self, kind: str, key: str, factory: Callable[[], R]) -> R:
        found = self._records.get((kind, key))
        if found is None:
            found = self._records[(kind, key)] = factory()
            heard = self._hub.published.get((kind, key))
            if heard is not None:
                assign_record(found, heard[1])
        return cast(R, found)

    def changed(self, kind: str, key: str, record: object) -> None:
        self._hub.version += 1
        self._hub.published[(kind, key)] = (self._hub.version, copy.deepcopy(record), self)

    def shares(self, kind: str) -> bool:
        return True

    def keys(self, kind: str) -> list[str]:
        known = set(self._records) | set(self._hub.published)
        return sorted(key for k, key in known if k == kind)

    def sync(self) -> None:
        for k, (version, published, publisher) in self._hub.published.items():
            local = self._records.get(k)
            if publisher is not self and local is not None and self._applied.get(k) != version:
                assign_record(local, published)
                self._applied[k] = version

    async def set_if_absent(
        self, namespace: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> bytes | None:
        return await self._hub.exact.set_if_absent(namespace, key, value, ttl_s=ttl_s)

    async def get(self, namespace: str, key: str) -> bytes | None:
        return await self._hub.exact.get(namespace, key)

    async def add(
        self,
        namespace: str,
        key: str,
        amount: float,
        *,
        limit: float | None = None,
        ttl_s: float | None = None,
    ) -> tuple[bool, float]:
        return await self._hub.exact.add(namespace, key, amount, limit=limit, ttl_s=ttl_s)

    async def delete(self, namespace: str, key: str) -> None:
        await self._hub.exact.delete(namespace, key)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class TestReplicatedBackend(BackendContract):
    @pytest.fixture
    def cluster(self) -> Cluster:
        clock = ManualClock()
        hub = Hub(clock)
        replicas: list[Replica] = []

        async def replica() -> StateBackend:
            replicas.append(Replica(hub))
            return replicas[-1]

        async def settle() -> None:
            for r in replicas:
                r.sync()

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        return Cluster(clock, replica, settle, advance)


def test_the_stand_in_is_a_state_backend() -> None:
    backend: StateBackend = Replica(Hub(ManualClock()))
    assert backend.shares("breaker")


def test_assign_record_keeps_nested_records_and_copies_the_rest() -> None:
    dst = LimiterRecord(AIMDRecord(10), 0)
    nested = dst.algorithm
    src = LimiterRecord(AIMDRecord(7), 3)
    assign_record(dst, src)
    assert dst == src
    assert dst.algorithm is nested  # a facade holding the nested record sees the new limit
    window = WindowRecord.empty(0.0, buckets=2, fields=1)
    other = WindowRecord.empty(1.0, buckets=2, fields=1)
    other.ring[0][0] = 5
    assign_record(window, other)
    other.ring[0][0] = 6
    assert window.ring[0][0] == 5  # no list is shared afterwards


@pytest.mark.parametrize(("dst", "src"), [(AIMDRecord(1), LimiterRecord(None)), ({"a": 1}, {"a": 2})])
def test_assign_record_refuses_other_types(dst: Any, src: Any) -> None:
    with pytest.raises(TypeError, match="cannot assign"):
        assign_record(dst, src)
