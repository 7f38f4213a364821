"""Snapshot stores: what every store does, then the memory store's and the SQLite store's own rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seawall._clock import ManualClock
from seawall.context import MemorySnapshotStore, SnapshotStats, SnapshotStore, content_hash
from seawall.context._sqlite import SQLiteSnapshotStore


def blob(n: int, size: int = 100) -> tuple[bytes, str]:
    """Canonical bytes of `size` bytes, and their hash."""
    value = {"documents": [], "n": n, "pad": ""}
    pad = size - len(f'{{"documents":[],"n":{n},"pad":""}}')
    value["pad"] = "p" * pad
    from seawall.context import canonical_json

    data = canonical_json(value)
    assert len(data) == size
    return data, content_hash(value)


Factory = Callable[..., SnapshotStore]


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    opened: list[SnapshotStore] = []

    def factory(**kwargs: object) -> SnapshotStore:
        store: SnapshotStore
        if request.param == "memory":
            store = MemorySnapshotStore(**kwargs)  # type: ignore[arg-type]
        else:
            store = SQLiteSnapshotStore(str(tmp_path / "snapshots.db"), touch_s=0, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def test_put_then_get(make: Factory) -> None:
    store = make()
    data, digest = blob(1)
    assert store.get(digest) is None
    assert store.put(data, digest) is True
    assert store.put(data, digest) is False
    assert store.get(digest) == data
    assert store.stats() == SnapshotStats(entries=1, bytes=100)


def test_the_byte_cap_drops_the_least_recently_used(make: Factory) -> None:
    clock = ManualClock()
    store = make(max_bytes=250, clock=clock)
    (a, ha), (b, hb), (c, hc) = blob(1), blob(2), blob(3)
    store.put(a, ha)
    clock.advance(1)
    store.put(b, hb)
    clock.advance(1)
    assert store.get(ha) == a  # a is now more recently used than b
    clock.advance(1)
    store.put(c, hc)
    assert store.get(hb) is None
    assert store.get(ha) == a
    assert store.get(hc) == c
    stats = store.stats()
    assert (stats.entries, stats.bytes, stats.evicted) == (2, 200, 1)


def test_a_snapshot_larger_than_the_store_is_refused(make: Factory) -> None:
    store = make(max_bytes=99)
    with pytest.raises(ValueError, match="cannot fit"):
        store.put(*blob(1))


def test_retention_counts_from_the_last_use(make: Factory) -> None:
    clock = ManualClock()
    store = make(retention_s=10.0, clock=clock)
    (a, ha), (b, hb) = blob(1), blob(2)
    store.put(a, ha)
    store.put(b, hb)
    clock.advance(6)
    assert store.get(ha) == a  # used again: 10 s from now
    clock.advance(6)
    assert store.get(hb) is None  # 12 s unused
    assert store.get(ha) == a
    clock.advance(10)
    assert store.prune() == 1
    assert store.stats() == SnapshotStats(entries=0, bytes=0, expired=2)
    assert store.put(a, ha) is True  # gone, so stored afresh


def test_concurrent_puts_from_threads_store_each_snapshot_once(make: Factory) -> None:
    store = make()
    blobs = [blob(i) for i in range(40)]
    created: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        start.wait()
        mine = []
        for i in range(len(blobs)):
            data, digest = blobs[(i * 7 + seed) % len(blobs)]
            mine.append(store.put(data, digest))
            assert store.get(digest) == data
        with lock:
            created.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created.count(True) == len(blobs)
    assert len(created) == 8 * len(blobs)
    assert store.stats().entries == len(blobs)


# -- memory ------------------------------------------------------------------------------------------


def test_memory_store_is_bounded_by_entries() -> None:
    store = MemorySnapshotStore(max_entries=3)
    blobs = [blob(i) for i in range(5)]
    for data, digest in blobs[:3]:
        store.put(data, digest)
    store.get(blobs[0][1])
    store.put(*blobs[3])
    store.put(*blobs[4])
    assert [store.get(d) is not None for _, d in blobs] == [True, False, False, True, True]
    assert store.stats().evicted == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_entries": 0}, "max_entries"),
        ({"max_bytes": 0}, "max_bytes"),
        ({"retention_s": 0}, "retention_s"),
    ],
)
def test_memory_store_settings_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MemorySnapshotStore(**kwargs)  # type: ignore[arg-type]


# -- SQLite ------------------------------------------------------------------------------------------


def test_sqlite_snapshots_outlive_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "s.db")
    data, digest = blob(1)
    first = SQLiteSnapshotStore(path)
    assert first.put(data, digest)
    first.close()
    first.close()
    again = SQLiteSnapshotStore(path)
    assert again.get(digest) == data
    assert again.put(data, digest) is False
    again.close()
    with pytest.raises(RuntimeError, match="closed"):
        again.get(digest)


def test_sqlite_stores_sharing_a_file_store_once(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    one, two = SQLiteSnapshotStore(path), SQLiteSnapshotStore(path)
    data, digest = blob(1)
    assert [one.put(data, digest), two.put(data, digest)] == [True, False]
    assert two.get(digest) == data
    one.close()
    two.close()


def test_sqlite_reads_refresh_last_used_only_after_touch_s(tmp_path: Path) -> None:
    clock = ManualClock()
    store = SQLiteSnapshotStore(str(tmp_path / "s.db"), retention_s=100.0, touch_s=30.0, clock=clock)
    data, digest = blob(1)
    store.put(data, digest)
    clock.advance(20)
    assert store.get(digest) == data  # 20 s old: not rewritten
    clock.advance(81)
    assert store.get(digest) is None  # 101 s since the last write of last_used
    store.put(data, digest)
    clock.advance(40)
    assert store.get(digest) == data  # 40 s old: rewritten
    clock.advance(90)
    assert store.get(digest) == data
    store.close()


def test_sqlite_in_memory(tmp_path: Path) -> None:
    store = SQLiteSnapshotStore(":memory:", max_bytes=1000)
    data, digest = blob(1)
    assert store.put(data, digest)
    assert store.get(digest) == data
    store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_bytes": 0}, "max_bytes"), ({"retention_s": -1.0}, "retention_s"), ({"touch_s": -1.0}, "touch_s")],
)
def test_sqlite_settings_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SQLiteSnapshotStore(":memory:", **kwargs)  # type: ignore[arg-type]
