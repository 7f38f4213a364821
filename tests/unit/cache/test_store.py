"""MemoryCache: LRU order, the entry and byte bounds, TTL on a manual clock, counters."""

from __future__ import annotations

import pytest

from seawall._clock import ManualClock
from seawall.cache import ENTRY_OVERHEAD, CacheBackend, CacheKey, Entry, MemoryCache, cache_key

TARGET = "openai/gpt-4o"
IDENTITY = ("gpt-4o-2024-08-06", "fp_1")


def key(i: int, *, target: str = TARGET) -> CacheKey:
    body = {"model": "m", "messages": [{"role": "user", "content": f"question {i}"}]}
    return cache_key(normalized=body, target=target, identity=IDENTITY, snapshot=None, tenant="-")


def entry(size: int = 100, *, ttl_s: float = 60.0, target: str = TARGET) -> Entry:
    body = b"x" * size
    return Entry(body, "application/json", target, IDENTITY, 1.0, ttl_s, "gpt-4o", {"total_tokens": 3})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_memory_cache_is_a_backend(clock: ManualClock) -> None:
    backend: CacheBackend = MemoryCache(clock=clock)
    assert backend.stats()["entries"] == 0


async def test_get_put_delete(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    assert await cache.get(key(1)) is None
    stored = entry()
    assert await cache.put(key(1), stored)
    assert await cache.get(key(1)) is stored
    assert await cache.delete(key(1))
    assert not await cache.delete(key(1))
    assert await cache.get(key(1)) is None
    assert cache.stats() | {"max_entries": 0, "max_bytes": 0} == {
        "hits": 1,
        "misses": 2,
        "stores": 1,
        "rejected": 0,
        "evictions": 0,
        "expirations": 0,
        "deletes": 1,
        "entries": 0,
        "bytes": 0,
        "max_entries": 0,
        "max_bytes": 0,
    }


async def test_least_recently_used_goes_first(clock: ManualClock) -> None:
    cache = MemoryCache(max_entries=3, clock=clock)
    for i in range(3):
        await cache.put(key(i), entry())
    assert await cache.get(key(0)) is not None  # 0 is now the most recent: 1 is the oldest
    await cache.put(key(3), entry())
    assert [await cache.get(key(i)) is not None for i in range(4)] == [True, False, True, True]
    assert cache.stats()["evictions"] == 1
    assert cache.stats()["entries"] == 3


async def test_replacing_an_entry_counts_its_bytes_once(clock: ManualClock) -> None:
    cache = MemoryCache(max_entries=3, clock=clock)
    await cache.put(key(1), entry(100))
    await cache.put(key(1), entry(300))
    assert cache.stats()["bytes"] == 300 + ENTRY_OVERHEAD
    assert cache.stats()["entries"] == 1


async def test_one_big_entry_evicts_several(clock: ManualClock) -> None:
    cache = MemoryCache(max_bytes=10 * (1000 + ENTRY_OVERHEAD), clock=clock)
    for i in range(10):
        assert await cache.put(key(i), entry(1000))
    assert cache.stats()["bytes"] == 10 * (1000 + ENTRY_OVERHEAD)
    small = 1000 + ENTRY_OVERHEAD
    big = 3 * small + 1 - ENTRY_OVERHEAD  # one byte more than three small entries free
    assert await cache.put(key(99), entry(big))
    stats = cache.stats()
    assert stats["evictions"] == 4
    assert stats["bytes"] <= cache.max_bytes
    assert stats["bytes"] == 6 * small + big + ENTRY_OVERHEAD
    assert [await cache.get(key(i)) is not None for i in range(10)] == [False] * 4 + [True] * 6


async def test_an_entry_larger_than_the_cache_is_declined(clock: ManualClock) -> None:
    cache = MemoryCache(max_bytes=4096, clock=clock)
    await cache.put(key(1), entry(10))
    assert not await cache.put(key(2), entry(4096))
    assert await cache.get(key(1)) is not None  # nothing was evicted for it
    assert cache.stats()["rejected"] == 1


async def test_ttl_expiry(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.put(key(1), entry(ttl_s=10))
    await cache.put(key(2), entry(ttl_s=30))
    clock.advance(9.999)
    assert await cache.get(key(1)) is not None
    clock.advance(0.001)
    assert await cache.get(key(1)) is None
    assert await cache.get(key(2)) is not None
    stats = cache.stats()
    assert (stats["expirations"], stats["hits"], stats["misses"], stats["entries"]) == (1, 2, 1, 1)
    assert stats["bytes"] == 100 + ENTRY_OVERHEAD


async def test_expired_entries_evicted_by_bounds_count_as_expired(clock: ManualClock) -> None:
    cache = MemoryCache(max_entries=2, clock=clock)
    await cache.put(key(1), entry(ttl_s=1))
    await cache.put(key(2), entry(ttl_s=100))
    clock.advance(5)
    await cache.put(key(3), entry())
    assert cache.stats()["expirations"] == 1
    assert cache.stats()["evictions"] == 0


async def test_a_zero_ttl_is_declined(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    assert not await cache.put(key(1), entry(ttl_s=0))
    assert cache.stats()["entries"] == 0


async def test_an_entry_is_stored_only_under_the_target_and_identity_that_produced_it(
    clock: ManualClock,
) -> None:
    cache = MemoryCache(clock=clock)
    with pytest.raises(ValueError, match="azure/gpt-4o"):
        await cache.put(key(1), entry(target="azure/gpt-4o"))
    other = Entry(b"{}", "application/json", TARGET, ("gpt-4o-2024-11-20", "fp_9"), 1.0, 60.0)
    with pytest.raises(ValueError, match="fp_9"):
        await cache.put(key(1), other)
    fallback = key(1).under("azure/gpt-4o", IDENTITY)
    assert await cache.put(fallback, entry(target="azure/gpt-4o"))
    assert await cache.get(key(1)) is None  # the primary's key does not see the fallback's answer


async def test_clear(clock: ManualClock) -> None:
    cache = MemoryCache(clock=clock)
    for i in range(5):
        await cache.put(key(i), entry())
    await cache.clear()
    assert (cache.stats()["entries"], cache.stats()["bytes"], cache.stats()["stores"]) == (0, 0, 5)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"max_entries": 0}, "max_entries"), ({"max_bytes": 10}, "max_bytes")]
)
def test_bounds_are_validated(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MemoryCache(**kwargs)  # type: ignore[arg-type]
