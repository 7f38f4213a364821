"""MemoryBackend: the backend contract, and what is particular to one process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from seawall import state
from seawall._clock import ManualClock
from seawall.state import MemoryBackend, StateBackend

from .contract import BackendContract, Cluster


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    async def cluster(self) -> AsyncIterator[Cluster]:  # type: ignore[override]
        clock = ManualClock()
        backend = MemoryBackend(clock)  # "replicas" of one process share the one backend
        await backend.start()

        async def replica() -> StateBackend:
            return backend

        async def settle() -> None:
            return None

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        yield Cluster(clock, replica, settle, advance)
        await backend.aclose()


def test_it_shares_nothing_and_hears_nothing() -> None:
    backend = MemoryBackend(ManualClock())
    record = backend.record("kind", "k", list)
    backend.changed("kind", "k", record)
    assert not backend.shares("kind")


async def test_expired_entries_do_not_pile_up() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock)
    for i in range(1000):
        await backend.set_if_absent("cache", f"k{i}", b"v", ttl_s=1.0)
        await backend.add("quota", f"k{i}", 1.0, ttl_s=1.0)
    await backend.set_if_absent("cache", "kept", b"v")
    clock.advance(1.0)
    await backend.add("quota", "new", 1.0)  # any write sweeps what has expired
    assert len(backend._values) == 1
    assert len(backend._counters) == 1
    assert backend._expiry == []


async def test_a_deleted_and_rewritten_key_keeps_its_new_expiry() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock)
    await backend.set_if_absent("ns", "k", b"old", ttl_s=1.0)
    await backend.delete("ns", "k")
    await backend.set_if_absent("ns", "k", b"new", ttl_s=5.0)
    clock.advance(2.0)
    await backend.add("ns", "other", 1.0)  # sweeps the old entry's heap slot
    assert await backend.get("ns", "k") == b"new"


@pytest.mark.parametrize("amount", [float("nan"), float("inf")])
async def test_add_refuses_amounts_that_are_not_numbers(amount: float) -> None:
    with pytest.raises(ValueError, match="amount"):
        await MemoryBackend(ManualClock()).add("ns", "k", amount)


def test_public_api_is_sorted_and_documented() -> None:
    assert state.__all__ == sorted(state.__all__)
    for name in state.__all__:
        assert (getattr(state, name).__doc__ or "").strip(), name
