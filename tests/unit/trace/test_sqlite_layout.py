"""Store layouts: a store written before layouts were numbered (version 1 records, or today's
before this layout) opens, lists, and has its rows indexed afterwards; blobs stay while named."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from seawall.errors import ConfigError
from seawall.trace._codec import encode, to_stored
from seawall.trace._query import TraceQuery
from seawall.trace._schema import RequestPart, ResponsePart, TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from seawall.trace._sqlite_schema import LAYOUT
from tests.unit.trace.records import attempt, record

FIXTURES = Path(__file__).parent / "fixtures"
# what `SQLiteTraceStore` created before layouts were numbered (commit 4404bd1 and earlier)
LAYOUT_0 = """
CREATE TABLE IF NOT EXISTS traces (
  id TEXT PRIMARY KEY,
  ts REAL NOT NULL,
  model TEXT,
  status INTEGER,
  stream INTEGER,
  duration_ms REAL,
  attempts INTEGER,
  answered_by TEXT,
  error_class TEXT,
  record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
"""
PROMPT = "Tell me everything about ORD-4242. " * 40  # 1400 characters: a blob
CONFIG = b'{"providers": "the config these ran under"}'
CONFIG_HASH = hashlib.sha256(CONFIG).hexdigest()


def _layout_0_store(path: Path, records: list[TraceRecord], extra_blobs: dict[str, bytes]) -> None:
    """A store as the code before layout 1 wrote it: same tables, same rows."""
    db = sqlite3.connect(path)
    db.executescript(LAYOUT_0)
    for rec in records:
        stored = to_stored(rec, encode(rec))
        s = stored.summary
        db.execute(
            "INSERT INTO traces VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                s.id,
                s.ts,
                s.model,
                s.status,
                int(s.stream),
                s.duration_ms,
                s.attempts,
                s.answered_by,
                s.error_class,
                stored.data,
            ),
        )
        db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", list(stored.blobs.items()))
    db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?)", list(extra_blobs.items()))
    db.commit()
    db.close()


def _old(trace_id: str, ts: float, **fields: object) -> TraceRecord:
    return record(
        trace_id,
        ts=ts,
        attempts=(attempt(provider="old", model="m"),),
        answered_by="old/m",
        config_hash=CONFIG_HASH,
        response=ResponsePart(body='{"choices":[{"message":{"content":"an old answer"}}]}'),
        **fields,  # type: ignore[arg-type]
    )


OLD = [
    _old("0001", 1.0, request=RequestPart(headers={"x-seawall-conversation-id": "conv-old"}, body=PROMPT)),
    _old("0002", 2.0),
    _old("0003", 3.0, request=RequestPart(headers={}, body=PROMPT)),  # the same prompt: one blob
]
ORPHAN = {"f" * 64: b"a body no trace points to"}


def _index_all(store: SQLiteTraceStore) -> int:
    steps = 0
    while store.maintain(max_rows=2):
        steps += 1
    return steps


def test_a_layout_0_store_migrates_lists_at_once_and_is_indexed_afterwards(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _layout_0_store(path, OLD, {CONFIG_HASH: CONFIG, **ORPHAN})
    store = SQLiteTraceStore(str(path))
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == LAYOUT
    assert [r.id for r in store.list()] == ["0003", "0002", "0001"]
    assert store.get("0001") == OLD[0]
    # not indexed yet: the side tables hold nothing of the old rows
    assert store.unindexed() == 3
    assert store._db.execute("SELECT COUNT(*) FROM trace_targets").fetchone()[0] == 0
    # written after the migration: stored with its blob references, indexed later too
    new = record("0004", ts=4.0, attempts=(attempt(provider="new", model="m"),), body="new words")
    store.write_batch([to_stored(new, encode(new))])
    assert store.unindexed() == 4
    assert store._db.execute("SELECT COUNT(*) FROM trace_targets").fetchone()[0] == 0
    # two steps of two old rows (newest first), then the sweep and the new row
    assert _index_all(store) == 2
    assert store.unindexed() == 0
    assert [r.id for r in store.list(TraceQuery(status=((200, 200),), model="m"))] == [
        "0004",
        "0003",
        "0002",
        "0001",
    ]
    assert [r.id for r in store.list(TraceQuery(text="new words"))] == ["0004"]
    assert [r.id for r in store.list(TraceQuery(target="old/m"))] == ["0003", "0002", "0001"]
    assert [r.id for r in store.list(TraceQuery(text="ORD-4242"))] == ["0003", "0001"]
    assert [r.id for r in store.list(TraceQuery(text="old answer"))] == ["0003", "0002", "0001"]
    (row,) = store.list(TraceQuery(conversation_id="conv-old"))
    assert row.id == "0001" and row.conversation_id == "conv-old"
    # the sweep kept every blob a trace names (the shared prompt, the config) and nothing else
    blobs = {h for (h,) in store._db.execute("SELECT hash FROM blobs")}
    assert blobs == {hashlib.sha256(PROMPT.encode()).hexdigest(), CONFIG_HASH}
    store.close()
    reopened = SQLiteTraceStore(str(path))  # nothing left to do
    assert reopened.unindexed() == 0 and not reopened.maintain()
    reopened.close()


def test_a_listing_that_needs_the_index_indexes_first(tmp_path: Path) -> None:
    """The maintenance thread indexes in the background; a filter on what it indexes (target,
    error class, text) never misses a trace it has not reached: the listing indexes them first."""
    path = tmp_path / "old.db"
    _layout_0_store(path, OLD, {CONFIG_HASH: CONFIG, **ORPHAN})
    store = SQLiteTraceStore(str(path))
    new = record("0004", ts=4.0, attempts=(attempt(provider="old", model="m"),), body="new words")
    store.write_batch([to_stored(new, encode(new))])
    assert store.unindexed() == 4
    assert [r.id for r in store.list(TraceQuery(target="old/m"))] == ["0004", "0003", "0002", "0001"]
    assert store.unindexed() == 0
    store.close()


def test_the_version_1_fixture_migrates_and_is_indexed(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    shutil.copy(FIXTURES / "v1_store.db", path)
    store = SQLiteTraceStore(str(path))
    rows = store.list()
    assert len(rows) == 3 and all(row.conversation_id is None for row in rows)
    blobs_before = {h for (h,) in store._db.execute("SELECT hash FROM blobs")}
    _index_all(store)
    assert [r.id for r in store.list(TraceQuery(target="sim-claude/claude-sim"))] == [
        "01a251d3778f68fc14253391"
    ]
    # a v1 Anthropic stream's answer text, and a 2 KiB prompt kept in blobs
    assert [r.id for r in store.list(TraceQuery(text="quick brown fox lazy"))] != []
    assert len(store.list(TraceQuery(target="sim-primary/sim-large"))) == 2
    assert {h for (h,) in store._db.execute("SELECT hash FROM blobs")} == blobs_before  # all named
    assert store.get("01a251d387070dc571560e53") is not None
    store.close()


def test_deleting_before_the_rows_are_indexed_keeps_blobs_until_the_sweep(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _layout_0_store(path, OLD, {CONFIG_HASH: CONFIG})
    store = SQLiteTraceStore(str(path))
    assert store.delete_oldest(2) == 2  # 0001, 0002: not indexed, references unknown
    prompt = hashlib.sha256(PROMPT.encode()).hexdigest()
    assert store.blob(prompt) is not None  # still named by 0003
    assert store.collect_garbage() == 0  # configs wait for the sweep too
    _index_all(store)
    assert store.blob(prompt) is not None and store.blob(CONFIG_HASH) is not None
    assert store.delete_oldest(5) == 1
    assert store.blob(prompt) is None  # the last trace naming it went
    assert store.collect_garbage() == 1 and store.blob(CONFIG_HASH) is None
    store.close()


def test_a_store_of_a_newer_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteTraceStore(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {LAYOUT + 1}")
    db.close()
    with pytest.raises(ConfigError, match="written by a newer Seawall"):
        SQLiteTraceStore(str(path))


def test_an_index_of_another_text_version_is_built_again(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteTraceStore(str(path))
    recs = [record(f"000{i}", ts=float(i), body=f"word{i} shared") for i in range(1, 4)]
    store.write_batch([to_stored(r, encode(r)) for r in recs])
    store._db.execute("UPDATE meta SET value = 0 WHERE key = 'text_version'")
    store.close()
    store = SQLiteTraceStore(str(path))
    assert store.unindexed() == 3  # the old version's text cannot be deleted: all indexed again
    _index_all(store)
    assert [r.id for r in store.list(TraceQuery(text="shared"))] == ["0003", "0002", "0001"]
    assert store.delete_oldest(3) == 3 and store.list(TraceQuery(text="shared")) == []
    store.close()


def test_a_new_store_gives_free_pages_back(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    assert store._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_layout_1_store_moves_its_model_index_to_the_side_table(tmp_path: Path) -> None:
    """Layout 1 indexed `traces.model` as each row was written; layout 2 keeps the model in
    `trace_models`, which the maintenance thread fills: migrating fills it for every row."""
    path = tmp_path / "t.db"
    store = SQLiteTraceStore(str(path))
    recs = [record(f"000{i}", ts=float(i), model="a" if i % 2 else "b") for i in range(1, 4)]
    store.write_batch([to_stored(r, encode(r)) for r in recs[:2]])
    _index_all(store)
    store.write_batch([to_stored(recs[2], encode(recs[2]))])  # stored, not indexed yet
    store.close()
    db = sqlite3.connect(path)  # as layout 1 left it: an index on model, no side table
    db.executescript(
        "DROP TABLE trace_models; CREATE INDEX traces_model ON traces (model, id); PRAGMA user_version = 1;"
    )
    db.close()
    store = SQLiteTraceStore(str(path))
    db = store._db
    assert db.execute("PRAGMA user_version").fetchone()[0] == LAYOUT == 2
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'traces_model'").fetchone() is None
    assert set(db.execute("SELECT model, id FROM trace_models")) == {
        ("a", "0001"),
        ("b", "0002"),
        ("a", "0003"),
    }
    assert store.unindexed() == 1
    assert [r.id for r in store.list(model="a")] == ["0003", "0001"]
    assert store.unindexed() == 0
    assert store.delete_oldest(1) == 1
    assert set(db.execute("SELECT model, id FROM trace_models")) == {("b", "0002"), ("a", "0003")}
    new = record("0004", ts=4.0, model="b")
    store.write_batch([to_stored(new, encode(new))])
    assert [r.id for r in store.list(model="b")] == ["0004", "0002"]
    store.close()


def test_deleting_a_row_whose_record_cannot_be_read_takes_its_model_out_too(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    recs = [
        record("0001", model="a", attempts=(attempt(provider="p", model="x"),)),
        record("0002", model="a"),
    ]
    store.write_batch([to_stored(r, encode(r)) for r in recs])
    _index_all(store)
    store._db.execute("UPDATE traces SET record = x'7b' WHERE id = '0001'")  # written by who knows what
    assert store.delete_oldest(1) == 1
    assert list(store._db.execute("SELECT model, id FROM trace_models")) == [("a", "0002")]
    assert list(store._db.execute("SELECT id FROM trace_targets")) == []
    assert [r.id for r in store.list(model="a")] == ["0002"]
    store.close()
