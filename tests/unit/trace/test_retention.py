"""Retention: what a pass deletes (by age, then by size), the blobs it collects, the space it gives
back, and that it runs on its own thread: a request never waits for it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from seawall import Gateway
from seawall._clock import ManualClock
from seawall.providers import MockResponse, MockTransport
from seawall.trace._codec import encode, to_stored
from seawall.trace._query import TraceQuery
from seawall.trace._retention import Maintenance, RetentionPolicy, run_pass
from seawall.trace._schema import RequestPart, ResponsePart, TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from tests.unit.trace.records import attempt, record

DAY = 86400.0
NOW = 1_800_000_000.0
PROMPT_A = "Summarise the attached contract, clause by clause. " * 30  # a blob (1500 characters)
PROMPT_B = "Translate this manual into French, keeping the tables. " * 30
CONFIG_OLD, CONFIG_NEW = b'{"config": "old"}', b'{"config": "new"}'


def sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def trace(n: int, age_days: float, prompt: str = "short", config: bytes = CONFIG_NEW) -> TraceRecord:
    return record(
        f"{n:04d}",
        ts=NOW - age_days * DAY,
        request=RequestPart(headers={}, body=prompt),
        attempts=(attempt(provider="p", model=f"m{n % 2}"),),
        answered_by=f"p/m{n % 2}",
        response=ResponsePart(body=f'{{"choices":[{{"message":{{"content":"answer number{n}"}}}}]}}'),
        config_hash=sha(config),
    )


def store_with(path: Path, records: list[TraceRecord]) -> SQLiteTraceStore:
    store = SQLiteTraceStore(str(path))
    store.put_blob(sha(CONFIG_OLD), CONFIG_OLD)
    store.put_blob(sha(CONFIG_NEW), CONFIG_NEW)
    store.write_batch([to_stored(r, encode(r)) for r in records])
    return store


def ids(store: SQLiteTraceStore, **filters: object) -> list[str]:
    return [r.id for r in store.list(TraceQuery(limit=1000, **filters))]  # type: ignore[arg-type]


def test_a_pass_deletes_what_is_older_than_max_age_and_what_named_only_it(tmp_path: Path) -> None:
    records = [
        trace(1, 10, PROMPT_A, CONFIG_OLD),  # old: its prompt, its config go with it
        trace(2, 9, PROMPT_B, CONFIG_OLD),  # old, but its prompt is also sent by a recent trace
        trace(3, 8),
        trace(4, 6, PROMPT_B),
        trace(5, 1),
    ]
    store = store_with(tmp_path / "t.db", records)
    report = run_pass(store, RetentionPolicy(max_age_s=7 * DAY), NOW, chunk=2)
    assert report.by_age == 3 and report.by_size == 0
    assert ids(store) == ["0005", "0004"]
    # every index of a deleted trace went with it
    assert ids(store, target="p/m1") == ["0005"]
    assert ids(store, text="number1") == [] and ids(store, text="number4") == ["0004"]
    assert store._db.execute("SELECT COUNT(*) FROM trace_targets").fetchone()[0] == 2
    assert store._db.execute("SELECT hash FROM trace_blobs").fetchall() == [(sha(PROMPT_B),)]
    # blobs: the prompt only deleted traces sent is gone; the shared one stays; so do configs in use
    assert store.blob(sha(PROMPT_A)) is None
    assert store.blob(sha(PROMPT_B)) is not None
    assert report.blobs == 1  # the old config: no remaining trace ran under it
    assert store.blob(sha(CONFIG_OLD)) is None and store.blob(sha(CONFIG_NEW)) is not None
    assert store.get("0004") == records[3]  # what remains reads back whole
    # nothing more to do
    assert run_pass(store, RetentionPolicy(max_age_s=7 * DAY), NOW) == run_pass(
        store, RetentionPolicy(max_age_s=7 * DAY), NOW
    )
    store.close()


def test_a_collected_config_is_stored_again_by_the_next_trace_that_names_it(tmp_path: Path) -> None:
    store = store_with(tmp_path / "t.db", [trace(1, 10)])
    run_pass(store, RetentionPolicy(max_age_s=DAY), NOW)
    assert ids(store) == [] and store.blob(sha(CONFIG_NEW)) is None  # an idle gateway's config
    again = trace(2, 0)
    store.write_batch([to_stored(again, encode(again))])
    assert store.blob(sha(CONFIG_NEW)) == CONFIG_NEW
    store.close()


def test_a_pass_deletes_the_oldest_until_the_store_is_under_max_bytes_and_gives_the_space_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    answer = "x" * 6000
    records = [
        record(
            f"{n:04d}",
            ts=NOW - (400 - n),
            attempts=(attempt(provider="p", model="m"),),
            response=ResponsePart(body=f'{{"content":"{answer} {n}"}}'),
        )
        for n in range(400)
    ]
    store = store_with(path, records)
    full = store.size_bytes()
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    file_before = os.path.getsize(path)
    limit = full // 2
    report = run_pass(store, RetentionPolicy(max_bytes=limit), NOW)
    assert 150 <= report.by_size <= 260 and report.by_age == 0
    # under the limit, and not by much: once a chunk showed what a trace gives back, the rest is sized
    assert limit - 4 * 8192 < store.size_bytes() <= limit
    remaining = ids(store)
    assert remaining == [f"{n:04d}" for n in range(399, 399 - len(remaining), -1)]  # the newest kept
    assert report.reclaimed_bytes > 0
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert os.path.getsize(path) <= file_before - report.reclaimed_bytes + 4096
    assert os.path.getsize(path) <= limit * 1.1
    store.close()


def test_age_then_size(tmp_path: Path) -> None:
    store = store_with(tmp_path / "t.db", [trace(n, 10 - n) for n in range(10)])
    report = run_pass(store, RetentionPolicy(max_age_s=5.5 * DAY, max_bytes=1), NOW)
    assert (report.by_age, report.by_size) == (5, 5)  # max_bytes smaller than an empty store: all go
    assert ids(store) == []
    store.close()


class Gate:
    """A store whose deletes wait for a signal: a retention pass held mid-transaction."""

    def __init__(self, store: SQLiteTraceStore) -> None:
        self.store = store
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def delete_oldest(self, limit: int, before_ts: float | None = None) -> int:
        self.threads.append(threading.current_thread().name)
        with self.store._lock:  # as a slow transaction would: the write lock is held
            self.entered.set()
            assert self.release.wait(10)
        return self.store.delete_oldest(limit, before_ts)


def test_passes_run_on_the_maintenance_thread_with_an_injected_clock(tmp_path: Path) -> None:
    store = store_with(tmp_path / "t.db", [trace(1, 10), trace(2, 0)])
    gate = Gate(store)
    maintenance = Maintenance(gate, RetentionPolicy(max_age_s=DAY, interval_s=3600), clock=lambda: NOW)  # type: ignore[arg-type]
    maintenance.start()
    assert gate.entered.wait(10)
    gate.release.set()
    maintenance.close()
    assert set(gate.threads) == {"seawall-trace-maintenance"}
    assert maintenance.passes == 1 and maintenance.deleted == 1
    assert ids(store) == ["0002"]
    store.close()


def test_the_thread_indexes_only_while_the_recorder_is_not_busy(tmp_path: Path) -> None:
    """Structure, not timing: the thread asks `busy()` before each indexing step; while it is told
    busy it indexes nothing, however often it asks; once not, it indexes every stored trace."""
    store = store_with(tmp_path / "t.db", [trace(1, 1), trace(2, 2)])
    assert store.unindexed() == 2  # the writer stores traces; indexing them is the thread's
    asked = threading.Event()
    calls: list[bool] = []
    busy = [True]

    def is_busy() -> bool:
        calls.append(busy[0])
        if len(calls) >= 5:
            asked.set()
        return busy[0]

    maintenance = Maintenance(store, None, busy=is_busy, idle_pause_s=0.001)
    maintenance.start()
    assert asked.wait(10)
    assert store.unindexed() == 2  # asked five times, told busy each time: nothing indexed
    busy[0] = False
    deadline = time.monotonic() + 10
    while store.unindexed() and time.monotonic() < deadline:
        time.sleep(0.01)
    maintenance.close()
    assert store.unindexed() == 0 and maintenance.passes == 0
    assert [row.id for row in store.list(TraceQuery(target="p/m1"))] == ["0001"]
    store.close()


async def test_requests_are_served_while_a_retention_pass_holds_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Structure, not timing: a pass stuck inside a delete (holding the store's write lock) on the
    maintenance thread; requests still finish, their records wait in the journal, then are stored."""
    path = tmp_path / "traces.db"
    old = trace(1, 30)
    seed = SQLiteTraceStore(str(path))
    seed.write_batch([to_stored(old, encode(old))])
    seed.close()
    entered, release, threads = threading.Event(), threading.Event(), []
    real_delete = SQLiteTraceStore.delete_oldest

    def held_delete(self: SQLiteTraceStore, limit: int, before_ts: float | None = None) -> int:
        threads.append(threading.current_thread().name)
        with self._lock:  # as a slow transaction would: the write lock is held
            entered.set()
            assert release.wait(10)
        return real_delete(self, limit, before_ts)

    monkeypatch.setattr(SQLiteTraceStore, "delete_oldest", held_delete)
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "42"}}], "usage": {}}
    config = {
        "providers": [{"name": "up", "kind": "openai", "base_url": "https://up.example/v1", "api_key": "k"}],
        "models": [{"name": "chat", "targets": [{"provider": "up", "model": "m"}]}],
        "traces": {"store": f"sqlite:///{path}", "retention": {"max_age": "7d", "interval": "1h"}},
    }
    gateway = Gateway.from_config(
        config,
        clock=ManualClock(wall_start=NOW),
        transports=lambda pc: MockTransport(lambda r: MockResponse.json(answer)),
    )
    async with gateway as gw:
        assert await asyncio.to_thread(entered.wait, 10)  # the first pass is under way, stuck
        for _ in range(5):
            reply = await asyncio.wait_for(
                gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}]), 5
            )
            assert reply["choices"][0]["message"]["content"] == "42"
        assert gw.recorder.stats()["backlog"] == 5  # journaled; the writer waits for the store, not them
        release.set()
        assert await asyncio.to_thread(gw.recorder.flush, 10)
        assert gw.store is not None
        rows = gw.store.list(TraceQuery())
    assert threads == ["seawall-trace-maintenance"]
    assert len(rows) == 5 and old.id not in [r.id for r in rows]  # the pass went on: the old trace went
