import os
import threading
from pathlib import Path
from typing import Any

from seawall.trace import TraceRecorder
from seawall.trace._recorder import recover_journal
from seawall.trace._schema import TraceRecord
from seawall.trace._sqlite import SQLiteTraceStore
from tests.unit.trace.records import attempt, record

FIXTURES = Path(__file__).parent / "trace" / "fixtures"


def rec(i: int, body: str = "x") -> TraceRecord:
    """A record whose client request and upstream answer are the same large text."""
    return record(
        f"trace{i:04d}",
        ts=1.0 + i,
        body=body * 3000,
        attempts=(attempt(request_body=body * 3000, response_body=body * 3000),),
    )


def test_records_reach_the_store_and_large_bodies_are_deduplicated(tmp_path: Path) -> None:
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    recorder = TraceRecorder(store, tmp_path / "journal")
    recorder.start()
    for i in range(20):
        recorder.record(rec(i))
    assert recorder.flush(5)
    assert [r.id for r in store.list(limit=3)] == ["trace0019", "trace0018", "trace0017"]
    assert store.get("trace0007") == rec(7)
    blobs = store._db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
    assert blobs == 1  # one body, shared by 20 records × 3 places
    recorder.close()
    assert list((tmp_path / "journal").iterdir()) == []  # clean shutdown leaves no journal


class _StuckStore(SQLiteTraceStore):
    """A store whose writes block forever: models a process that dies before the writer commits."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.gate = threading.Event()

    def write_batch(self, records: Any) -> None:
        self.gate.wait()
        super().write_batch(records)


def test_journal_survives_a_crash_before_the_store_commit(tmp_path: Path) -> None:
    db, journal = str(tmp_path / "t.db"), tmp_path / "journal"
    stuck = _StuckStore(db)
    recorder = TraceRecorder(stuck, journal)
    recorder.start()
    for i in range(5):
        recorder.record(rec(i))
    # "crash": nothing reached the store; the journal segment is named after this (live) pid,
    # so pretend it belonged to a dead process by renaming it.
    (segment,) = journal.iterdir()
    dead = journal / segment.name.replace(f"seg-{os.getpid()}-", "seg-999999999-")
    segment.rename(dead)
    with dead.open("ab") as f:
        f.write(b'{"id": "torn')  # a record cut mid-write
    fresh = SQLiteTraceStore(db)
    assert recover_journal(fresh, journal) == 5
    assert {r.id for r in fresh.list(limit=10)} == {f"trace{i:04d}" for i in range(5)}
    assert fresh.get("trace0003") == rec(3)
    assert not dead.exists()
    stuck.gate.set()
    recorder.close()


def test_failed_store_write_keeps_the_journal(tmp_path: Path) -> None:
    class Broken(SQLiteTraceStore):
        def write_batch(self, records: Any) -> None:
            raise OSError("disk full")

    journal = tmp_path / "journal"
    recorder = TraceRecorder(Broken(str(tmp_path / "t.db")), journal)
    recorder.start()
    recorder.record(rec(1))
    assert recorder.flush(10)
    assert recorder.failed_batches == 1
    recorder.close()
    (segment,) = journal.iterdir()
    assert b"trace0001" in segment.read_bytes()


def test_disabled_recorder_is_a_no_op() -> None:
    recorder = TraceRecorder(None)
    assert recorder.start() == 0
    recorder.record(rec(1))
    assert not recorder.enabled


def test_segments_rotate_and_are_deleted_once_stored(tmp_path: Path, monkeypatch: Any) -> None:
    import seawall.trace._recorder as recorder_module

    monkeypatch.setattr(recorder_module, "SEGMENT_MAX_BYTES", 4096)
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    journal = tmp_path / "journal"
    recorder = TraceRecorder(store, journal)
    recorder.start()
    recorder.record(rec(0, body="y"))  # 2 × 3000 bytes of body: bigger than a whole segment
    for i in range(1, 30):
        recorder.record(rec(i, body="z"[: i % 2] or "w"))
    assert recorder.flush(5)
    assert recorder._seq > 3  # it rotated
    assert len(store.list(limit=100)) == 30
    assert store.get("trace0000") == rec(0, body="y")
    recorder.close()
    assert list(journal.iterdir()) == []


def test_a_segment_left_by_a_killed_process_is_replayed_up_to_a_torn_record(tmp_path: Path) -> None:
    """What a SIGKILL leaves: a mapped, preallocated segment (zeros after the last record), possibly
    with a record cut mid-copy. Every complete record is recovered."""
    db, journal = str(tmp_path / "t.db"), tmp_path / "journal"
    stuck = _StuckStore(db)
    recorder = TraceRecorder(stuck, journal)
    recorder.start()
    for i in range(3):
        recorder.record(rec(i))
    (segment,) = journal.iterdir()
    data = segment.read_bytes()
    assert data.endswith(b"\0" * 1024)  # preallocated, still mapped
    end = data.rstrip(b"\0")
    torn = end + b'{"id": "trace9999", "ts": 1.0, "mod'  # the copy stopped here
    dead = journal / segment.name.replace(f"seg-{os.getpid()}-", "seg-999999999-")
    segment.rename(dead)
    dead.write_bytes(torn + b"\0" * (len(data) - len(torn)))
    fresh = SQLiteTraceStore(db)
    assert recover_journal(fresh, journal) == 3
    assert {r.id for r in fresh.list(limit=10)} == {f"trace{i:04d}" for i in range(3)}
    stuck.gate.set()
    recorder.close()


def test_a_journal_written_by_version_1_is_replayed(tmp_path: Path) -> None:
    """A segment left by a gateway that still wrote v1 lines (real ones: the v1 fixtures), plus a
    torn line: every complete record reaches the store, stored in the current form."""
    lines = [path.read_bytes().strip() for path in sorted(FIXTURES.glob("v1_*.json"))]
    journal = tmp_path / "journal"
    journal.mkdir()
    segment = journal / "seg-999999999-000001.jsonl"
    segment.write_bytes(b"\n".join([*lines, b'{"id":"01a2', b""]) + b"\0" * 64)
    store = SQLiteTraceStore(str(tmp_path / "t.db"))
    assert recover_journal(store, journal) == len(lines) == 15
    assert not segment.exists()
    assert len(store.list(limit=100)) == 15
    rows = store._db.execute("SELECT record FROM traces").fetchall()
    assert all(bytes(row[0]).endswith(b',"schema_version":2}') for row in rows)
    shed = store.get("01a251d38363c9bd30ead69e")
    assert shed is not None and shed.status == 503 and len(shed.events) == 2


def test_the_journal_holds_the_codecs_lines(tmp_path: Path) -> None:
    from seawall.trace._codec import decode, encode

    stuck = _StuckStore(str(tmp_path / "t.db"))
    recorder = TraceRecorder(stuck, tmp_path / "journal")
    recorder.start()
    records = [rec(0), rec(1, body="z")]
    for r in records:
        recorder.record(r)
    (segment,) = (tmp_path / "journal").iterdir()
    lines = segment.read_bytes().rstrip(b"\0").split(b"\n")
    assert lines == [encode(r) for r in records] + [b""]
    assert [decode(line) for line in lines[:2]] == records
    stuck.gate.set()
    recorder.close()
