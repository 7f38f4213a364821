"""Version 1 records (untyped dicts, written before `schema_version`) still load, with everything
they held. The fixtures are real rows written by `seawall serve` at schema v1 (see fixtures/README)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest

from seawall.trace._codec import decode, encode, from_stored, to_json, to_stored, v1_skip_code
from seawall.trace._render import answer_text
from seawall.trace._schema import (
    AttemptCancelled,
    ClientDisconnected,
    ErrorInfo,
    Queued,
    Shed,
    Skipped,
    StreamFailed,
    TraceRecord,
)
from seawall.trace._sqlite import SQLiteTraceStore

FIXTURES = Path(__file__).parent / "fixtures"
V1_FILES = sorted(FIXTURES.glob("v1_*.json"))
ANSWER = "The quick brown fox jumps over the lazy dog while the gateway"


def _load(name: str) -> tuple[dict[str, Any], TraceRecord]:
    data = (FIXTURES / f"v1_{name}.json").read_bytes()
    return json.loads(data), decode(data)


def _v1_body(raw: dict[str, Any], value: Any) -> Any:
    """What a v1 body meant (v1's own `expand_refs`, written out)."""
    if value == {"$ref": "request.body"}:
        return raw["request"]["body"]
    if isinstance(value, dict) and "$ref" in value:
        _, index, field = value["$ref"].split(".")
        return _v1_body(raw, raw["attempts"][int(index)][field])
    return value


def test_there_are_fixtures() -> None:
    assert len(V1_FILES) == 15


@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: p.stem)
def test_every_v1_field_is_in_the_typed_record(path: Path) -> None:
    raw = json.loads(path.read_bytes())
    rec = decode(path.read_bytes())
    for key in (
        "id",
        "ts",
        "model",
        "ingress",
        "stream",
        "status",
        "duration_ms",
        "ttft_ms",
        "answered_by",
        "usage",
    ):
        assert getattr(rec, key) == raw[key], key
    assert rec.error == (None if raw["error"] is None else msgspec.convert(raw["error"], ErrorInfo))
    assert to_json(rec)["error"] == raw["error"]  # same keys: class, code only when set
    assert rec.request.headers == raw["request"]["headers"]
    assert rec.request.body == raw["request"]["body"]
    if raw["route"]:
        assert to_json(rec)["route"] == raw["route"]
    else:
        assert rec.route is None
    assert len(rec.attempts) == len(raw["attempts"])
    for a_raw, a in zip(raw["attempts"], rec.attempts, strict=True):
        for key, value in a_raw.items():
            assert getattr(a, key) == _v1_body(raw, value), key
    assert len(rec.events) == len(raw["events"])
    for (t_ms, kind, detail), event in zip(raw["events"], rec.events, strict=True):
        assert event.t_ms == t_ms
        assert type(event).__struct_config__.tag == kind
        for key, value in detail.items():
            assert getattr(event, key) == value, key
    response = raw["response"]
    if raw["stream"]:
        chunks = response["chunks"]
        assert rec.response.terminal == response["terminal"]
        assert len(rec.response.writes or ()) == len(chunks)
        for (t_ms, _text), (at, _size) in zip(chunks, rec.response.writes or (), strict=True):
            assert at == t_ms
    else:
        assert rec.response.body == _v1_body(raw, response["body"])


@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: p.stem)
def test_a_v1_record_survives_being_written_as_v2(path: Path) -> None:
    rec = decode(path.read_bytes())
    line = encode(rec)
    assert line.endswith(b',"schema_version":2}')
    assert decode(line) == rec
    stored = to_stored(rec, line)
    assert from_stored(stored.data, stored.blobs.get) == rec


def test_an_openai_stream_becomes_the_sse_body_the_client_got() -> None:
    raw, rec = _load("openai_stream")
    body = rec.response.body
    assert isinstance(body, str)
    expected = "".join(f"data: {text}\n\n" for _t, text in raw["response"]["chunks"])
    assert body == expected
    writes = rec.response.writes or ()
    assert len(writes) == 15
    assert sum(size for _t, size in writes) == len(body.encode())
    assert answer_text(body) == ANSWER


def test_an_anthropic_stream_body_is_its_chunks_joined() -> None:
    raw, rec = _load("anthropic_stream")
    assert rec.response.body == "".join(text for _t, text in raw["response"]["chunks"])
    assert [size for _t, size in rec.response.writes or ()] == [
        len(text.encode()) for _t, text in raw["response"]["chunks"]
    ]
    assert isinstance(rec.response.body, str)
    assert rec.response.body.startswith("event: message_start\n")
    assert answer_text(rec.response.body) == ANSWER
    _, translated = _load("anthropic_stream_translated")
    assert isinstance(translated.response.body, str)
    assert answer_text(translated.response.body) == ANSWER


def test_a_rejected_request_has_no_route_and_keeps_what_the_client_sent() -> None:
    _, rec = _load("rejected_bad_json")
    assert rec.status == 400
    assert rec.route is None
    assert rec.attempts == ()
    assert rec.request.body == '{"model": "demo", "messages": ['
    assert rec.error is not None and rec.error.code == "invalid_request"
    assert isinstance(rec.response.body, str) and "not valid JSON" in rec.response.body


def test_a_fallback_keeps_both_attempts_and_the_answer_is_the_second() -> None:
    _, rec = _load("fallback")
    assert [a.status for a in rec.attempts] == [503, 200]
    assert rec.attempts[0].error_class == "server_error"
    assert rec.response.body is rec.attempts[1].response_body
    assert b'"body":{"$ref":"attempts.1.response_body"}' in encode(rec)


def test_v1_events_become_typed_events() -> None:
    assert [type(e) for e in _load("shed")[1].events] == [Queued, Shed]
    assert [type(e) for e in _load("client_disconnect")[1].events] == [AttemptCancelled, ClientDisconnected]
    (failed,) = _load("stream_failed_after_commit")[1].events
    assert isinstance(failed, StreamFailed) and failed.error_class == "server_error"
    (skip,) = _load("breaker_skip")[1].events
    assert skip == Skipped(
        t_ms=skip.t_ms, target="sim-flaky/sim-large", reason="circuit open", code="breaker"
    )
    (refused,) = _load("refused_skip")[1].events
    assert isinstance(refused, Skipped)
    assert refused.code == "refused"
    assert refused.reason.startswith("cannot serve this request: Anthropic returns one choice")


def test_a_stream_that_sent_nothing_has_no_body() -> None:
    _, rec = _load("client_disconnect")
    assert rec.status == 499
    assert rec.response.body is None
    assert rec.response.writes is None


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        # every reason text the v1 engine wrote for a skip
        ("rate limited (Retry-After)", "blocked"),
        ("circuit open", "breaker"),
        ("rejected locally by the adaptive throttle", "throttled"),
        ("at its concurrency limit", "saturated"),
        ("Retry-After beyond 60s", "retry_after"),
        ("Retry-After beyond 2.5s", "retry_after"),
        ("no time left before the deadline", "no_time"),
        ("too many concurrent retries", "retry_cap"),
        ("retry budget exhausted", "budget"),
        ("cannot serve this request: Anthropic does not return log probabilities", "refused"),
        ("something newer", "refused"),
    ],
)
def test_a_v1_skip_code_is_read_from_its_reason(reason: str, code: str) -> None:
    assert v1_skip_code(reason) == code


def test_the_first_v1_releases_event_kinds_become_skips() -> None:
    raw = json.loads((FIXTURES / "v1_breaker_skip.json").read_bytes())
    raw["events"] = [
        [1.0, "deadline_stop", {"target": "a/b", "remaining_ms": 12.5}],
        [2.0, "target_blocked", {"target": "a/b", "seconds": 3.0, "reason": "rate_limited"}],
        [3.0, "from_the_future", {"x": 1}],
    ]
    raw["route"].pop("priority")  # the first release had no priorities
    rec = decode(json.dumps(raw).encode())
    assert [(e.code, e.target) for e in rec.events if isinstance(e, Skipped)] == [
        ("no_time", "a/b"),
        ("blocked", "a/b"),
    ]
    assert len(rec.events) == 2  # an unknown kind is dropped
    assert rec.route is not None and rec.route.priority == "interactive"


# -- a v1 SQLite store ----------------------------------------------------------------------------
LARGE = "01a251d387070dc571560e53"


@pytest.fixture
def v1_store(tmp_path: Path) -> SQLiteTraceStore:
    path = tmp_path / "v1.db"
    shutil.copy(FIXTURES / "v1_store.db", path)
    return SQLiteTraceStore(str(path))


def test_a_v1_database_lists_and_reads(v1_store: SQLiteTraceStore) -> None:
    rows = v1_store.list()
    assert [r.id for r in rows] == [LARGE, "01a251d3778f68fc14253391", "01a251d37774f5b9a0a99f0d"]
    assert rows[1].stream and rows[1].model == "claude" and rows[1].answered_by == "sim-claude/claude-sim"
    for row in rows:
        rec = v1_store.get(row.id)
        assert rec is not None and rec.id == row.id
    stream = v1_store.get("01a251d3778f")
    assert stream is not None and isinstance(stream.response.body, str)
    assert answer_text(stream.response.body) == ANSWER


def test_v1_blob_bodies_are_fetched(v1_store: SQLiteTraceStore) -> None:
    blobs = dict(v1_store._db.execute("SELECT hash, data FROM blobs").fetchall())
    rec = v1_store.get(LARGE)
    assert rec is not None
    assert isinstance(rec.request.body, str) and len(rec.request.body) > 2000
    assert rec.request.body.encode() in blobs.values()
    assert isinstance(rec.attempts[0].request_body, str)
    assert hashlib.sha256(rec.attempts[0].request_body.encode()).hexdigest() in blobs
    assert rec.response.body == rec.attempts[0].response_body
    assert "lorem ipsum" in rec.request.body


def test_new_records_go_into_a_v1_database_beside_the_old(v1_store: SQLiteTraceStore) -> None:
    old = v1_store.get(LARGE)
    assert old is not None
    new = msgspec.structs.replace(old, id="01a251d3ffff000000000000")
    v1_store.write_batch([to_stored(new, encode(new))])
    assert v1_store.get(new.id) == new
    assert v1_store.get(LARGE) == old
    assert v1_store._db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 2  # same bodies, same blobs
