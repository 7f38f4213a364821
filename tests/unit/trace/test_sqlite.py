"""The SQLite store keeps what the codec hands it and reads records back through the codec."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.trace._codec import encode, summary, to_stored
from seawall.trace._schema import ErrorInfo, RequestPart, ResponsePart, StoredTrace, TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore, _chunks
from seawall.trace._store import open_store
from tests.unit.trace.records import ANSWER, attempt, record


def _stored(rec: TraceRecord) -> StoredTrace:
    return to_stored(rec, encode(rec))


def _failed(trace_id: str, model: str = "m") -> TraceRecord:
    return record(
        trace_id,
        model=model,
        status=503,
        error=ErrorInfo(type="upstream_error", message="down", status=503, error_class="server_error"),
    )


def test_records_are_read_back_whole(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    big = "b" * 4000
    rec = record(
        body=big,
        attempts=(attempt(request_body=big, response_body=ANSWER),),
        response=ResponsePart(body=ANSWER),
    )
    store.write_batch([_stored(rec)])
    assert store.get(rec.id) == rec
    assert store._db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
    store.close()


def test_writes_are_idempotent_by_id(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    rec = record()
    store.write_batch([_stored(rec), _stored(rec)])
    store.write_batch([_stored(rec)])
    assert [r.id for r in store.list()] == [rec.id]
    store.close()


def test_blob_and_config_references_name_the_rows_that_were_written(tmp_path: Path) -> None:
    """Rowids of a batch's rows come from the insert itself (consecutive when every row is new) or
    are looked up (when some were stored before): either way each reference names its own row."""
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    old = record("0001aa", config_hash="a" * 64)
    store.write_batch([_stored(old)])
    big = [record(f"000{n}bb", body=f"prompt {n} " + "x" * 2000, config_hash="b" * 64) for n in (2, 3)]
    store.write_batch([_stored(big[0])])  # consecutive rowids
    store.write_batch([_stored(old), _stored(big[1])])  # `old` is ignored: looked up
    db = store._db
    rowid = dict(db.execute("SELECT id, rowid FROM traces"))
    refs = {(h, t) for h, t in db.execute("SELECT hash, trace FROM trace_blobs")}
    assert refs == {(next(iter(_stored(r).blobs)), rowid[r.id]) for r in big}
    configs = {h: (first, last) for h, first, last in db.execute("SELECT * FROM trace_configs")}
    assert configs == {"a" * 64: (rowid[old.id],) * 2, "b" * 64: (rowid[big[0].id], rowid[big[1].id])}
    store.close()


def test_list_is_newest_first_and_filters(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    store.write_batch(
        [
            _stored(record("0001aa", model="a")),
            _stored(_failed("0002bb", model="a")),
            _stored(record("0003cc", model="b", stream=True)),
        ]
    )
    assert [r.id for r in store.list()] == ["0003cc", "0002bb", "0001aa"]
    assert [r.id for r in store.list(limit=1)] == ["0003cc"]
    assert [r.id for r in store.list(model="a")] == ["0002bb", "0001aa"]
    assert [r.id for r in store.list(errors_only=True)] == ["0002bb"]
    (failed,) = store.list(errors_only=True)
    assert failed.error_class == "server_error" and failed.status == 503 and not failed.stream
    assert store.list(model="b")[0].stream
    store.close()


def test_the_listing_row_reads_back_as_written(tmp_path: Path) -> None:
    """Summary columns without a value are NULL and read back as None, those with one read back as
    they were; the record (bound as a bytearray) is a BLOB."""
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    ok = record("0001aa", answered_by="p/x")
    failed = _failed("0002bb")
    talk = record("0003cc", request=RequestPart(headers={"x-seawall-conversation-id": "c-1"}, body="hi"))
    store.write_batch([_stored(rec) for rec in (ok, failed, talk)])
    assert {s.id: s for s in store.list()} == {rec.id: summary(rec) for rec in (ok, failed, talk)}
    nulls = store._db.execute(
        "SELECT COUNT(*) FROM traces WHERE answered_by IS NULL AND error_class IS NULL"
    ).fetchone()[0]
    assert nulls == 1  # talk: no answerer recorded, no error
    assert {t for (t,) in store._db.execute("SELECT typeof(record) FROM traces")} == {"blob"}
    store.close()


def test_a_unique_prefix_of_six_or_more_finds_a_trace(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    store.write_batch([_stored(record("abcdef1111")), _stored(record("abcdef2222"))])
    assert store.get("abcdef1") is not None
    assert store.get("abcdef") is None  # two match
    assert store.get("abcde") is None  # too short to guess
    assert store.get("nope12") is None
    store.close()


def test_open_store(tmp_path: Path) -> None:
    assert open_store("none") is None
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(store, SQLiteTraceStore)
    store.close()


@pytest.mark.parametrize("n", [0, 1, 3, 100, 127, 128, 257, 600])
def test_a_batch_is_stored_by_inserts_of_a_few_sizes(n: int) -> None:
    """Whatever a batch's size, its rows go in consecutive INSERTs of a power of two rows each (at
    most 256), so a handful of prepared statements serve every batch."""
    chunks = list(_chunks(n))
    assert [start for start, _end in chunks] == [0, *(end for _start, end in chunks)][: len(chunks)]
    assert sum(end - start for start, end in chunks) == n
    assert all((end - start) in {2**k for k in range(9)} for start, end in chunks)


def test_batches_of_any_size_store_every_row_with_its_references(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    recs = [record(f"{n:06x}aa", config_hash="c" * 64) for n in range(1, 102)]
    store.write_batch([_stored(r) for r in recs[:3]])
    store.write_batch([_stored(r) for r in recs[3:]])
    assert [s.id for s in store.list(limit=200)] == [r.id for r in reversed(recs)]
    rowids = [rowid for (rowid,) in store._db.execute("SELECT rowid FROM traces ORDER BY rowid")]
    assert store._db.execute("SELECT first, last FROM trace_configs").fetchone() == (rowids[0], rowids[-1])
    store.close()


def test_rows_lacking_different_columns_keep_their_own_references(tmp_path: Path) -> None:
    """A batch's rows are inserted in groups by which optional columns they lack (NULL written in
    the statement, not bound): every row still gets its own values, blob references and config range."""
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    conversation = {"x-seawall-conversation-id": "c-1"}
    recs = [
        record("0001aa", answered_by="p/x", body="one " + "x" * 2000, config_hash="c" * 64),
        _failed("0002bb"),
        record(
            "0003cc", answered_by="p/x", request=RequestPart(headers=conversation, body="two " + "y" * 2000)
        ),
        record("0004dd", answered_by="p/x", config_hash="c" * 64),
    ]
    store.write_batch([_stored(r) for r in recs])
    assert {s.id: s for s in store.list()} == {r.id: summary(r) for r in recs}
    db = store._db
    rowid = dict(db.execute("SELECT id, rowid FROM traces"))
    refs = set(db.execute("SELECT hash, trace FROM trace_blobs"))
    assert refs == {(next(iter(_stored(r).blobs)), rowid[r.id]) for r in (recs[0], recs[2])}
    low, high = sorted((rowid["0001aa"], rowid["0004dd"]))
    assert db.execute("SELECT first, last FROM trace_configs").fetchone() == (low, high)
    assert [store.get(r.id) for r in recs] == recs
    store.close()
