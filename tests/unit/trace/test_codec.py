"""The codec: JSON line and stored form round-trip every record; `$ref` and `$blob` behave."""

from __future__ import annotations

import hashlib

import msgspec
import orjson
import pytest
from hypothesis import given, settings

from seawall.trace._codec import BLOB_MIN, decode, encode, from_stored, summary, to_json, to_stored
from seawall.trace._schema import (
    SCHEMA_VERSION,
    ErrorInfo,
    Gated,
    ResponsePart,
    Skipped,
    TraceRecord,
    TraceSummary,
)
from tests.unit.trace.records import ANSWER, CLIENT, attempt, copy, record, trace_records


def _no_blobs(digest: str) -> bytes | None:
    raise AssertionError(f"no blob expected, asked for {digest}")


# -- round trips -----------------------------------------------------------------------------------
@given(trace_records())
@settings(max_examples=300)
def test_the_json_line_round_trips(rec: TraceRecord) -> None:
    line = encode(rec)
    assert b"\n" not in line  # one journal line
    assert decode(line) == rec


@given(trace_records())
@settings(max_examples=300)
def test_the_stored_form_round_trips(rec: TraceRecord) -> None:
    line = encode(rec)
    stored = to_stored(rec, line)
    assert from_stored(stored.data, stored.blobs.get) == rec
    assert stored.summary == summary(rec)
    for digest, data in stored.blobs.items():
        assert hashlib.sha256(data).hexdigest() == digest
        assert len(data.decode()) >= BLOB_MIN


@given(trace_records())
def test_to_json_is_the_whole_record_in_plain_builtins(rec: TraceRecord) -> None:
    out = to_json(rec)
    assert orjson.loads(orjson.dumps(out)) == out  # only JSON types
    assert msgspec.convert(out, TraceRecord) == rec  # nothing lost


def test_to_json_expands_references_and_names_keys_as_the_schema() -> None:
    rec = record(
        attempts=(attempt(request_body=CLIENT, response_body=ANSWER),),
        response=ResponsePart(body=ANSWER),
        error=ErrorInfo(type="t", message="m", status=502, error_class="server_error"),
        events=(Skipped(t_ms=1.0, target="p/m", reason="circuit open", code="breaker"),),
    )
    out = to_json(rec)
    assert out["schema_version"] == SCHEMA_VERSION
    assert out["attempts"][0]["request_body"] == CLIENT
    assert out["response"]["body"] == ANSWER
    assert out["error"]["class"] == "server_error"
    assert out["events"] == [
        {"type": "skip", "t_ms": 1.0, "target": "p/m", "reason": "circuit open", "code": "breaker"}
    ]


def test_summary_is_the_listing_row() -> None:
    rec = record(
        status=502,
        stream=True,
        answered_by=None,
        attempts=(attempt(0), attempt(1)),
        error=ErrorInfo(type="upstream_error", message="m", status=502, error_class="server_error"),
    )
    assert summary(rec) == TraceSummary(
        id="trace0001",
        ts=1_700_000_000.0,
        model="m",
        status=502,
        stream=True,
        duration_ms=1.0,
        attempts=2,
        answered_by=None,
        error_class="server_error",
    )


# -- $ref: bodies repeated within one record (ported from the v1 collector's tests) -----------------
def test_pass_through_bodies_are_references_that_expand_to_the_full_text() -> None:
    rec = record(
        attempts=(attempt(request_body=CLIENT, response_body=ANSWER),),
        response=ResponsePart(body=ANSWER),
    )
    line = encode(rec)
    raw = orjson.loads(line)
    assert raw["attempts"][0]["request_body"] == {"$ref": "request.body"}
    assert raw["response"]["body"] == {"$ref": "attempts.0.response_body"}
    assert line.decode().count('\\"content\\":\\"hello\\"') == 1
    back = decode(line)
    assert back.attempts[0].request_body == CLIENT
    assert back.response.body == ANSWER
    assert back == rec


def test_equal_copies_are_references_too() -> None:
    """The collector usually hands the same `str` object; equal bytes decoded twice still match."""
    rec = record(
        attempts=(attempt(request_body=copy(CLIENT), response_body=ANSWER),),
        response=ResponsePart(body=copy(ANSWER)),
    )
    raw = orjson.loads(encode(rec))
    assert raw["attempts"][0]["request_body"] == {"$ref": "request.body"}
    assert raw["response"]["body"] == {"$ref": "attempts.0.response_body"}


def test_the_answering_attempt_is_referenced_after_a_failed_one() -> None:
    rec = record(
        attempts=(
            attempt(
                0,
                status=503,
                error_class="server_error",
                request_body=CLIENT,
                response_body='{"error":"busy"}',
            ),
            attempt(1, request_body=CLIENT, response_body=ANSWER),
        ),
        response=ResponsePart(body=ANSWER),
    )
    line = encode(rec)
    raw = orjson.loads(line)
    assert raw["response"]["body"] == {"$ref": "attempts.1.response_body"}
    assert [a["request_body"] for a in raw["attempts"]] == [{"$ref": "request.body"}] * 2
    back = decode(line)
    assert back.response.body == ANSWER
    assert [a.request_body for a in back.attempts] == [CLIENT, CLIENT]


def test_bodies_that_differ_are_written_in_full() -> None:
    translated = '{"model":"claude","messages":[{"role":"user","content":"hi"}],"max_tokens":10}'
    mine = '{"id":"x","choices":[]}'
    rec = record(
        attempts=(attempt(kind="anthropic", request_body=translated, response_body=ANSWER),),
        response=ResponsePart(body=mine),
    )
    raw = orjson.loads(encode(rec))
    assert raw["attempts"][0]["request_body"] == translated
    assert raw["response"]["body"] == mine
    assert "$ref" not in encode(rec).decode()


def test_a_record_without_repeats_is_encoded_as_msgspec_would() -> None:
    rec = record(attempts=(attempt(request_body="other", response_body=None),))
    assert encode(rec) == msgspec.json.encode(rec)


# -- $blob: large bodies stored once, by content hash ----------------------------------------------
def test_small_records_are_stored_as_their_journal_line() -> None:
    rec = record(
        attempts=(attempt(request_body=CLIENT, response_body=ANSWER),), response=ResponsePart(body=ANSWER)
    )
    line = encode(rec)
    stored = to_stored(rec, line)
    assert stored.data is line
    assert stored.blobs == {}
    assert from_stored(stored.data, _no_blobs) == rec


def test_large_request_bodies_become_blobs_stored_once_and_answers_stay_inline() -> None:
    prompt = "x" * BLOB_MIN
    answer = "y" * 5000
    rec = record(
        body=prompt,
        attempts=(attempt(request_body=prompt, response_body=answer), attempt(1, request_body=copy(prompt))),
        response=ResponsePart(body=answer),
    )
    line = encode(rec)
    stored = to_stored(rec, line)
    raw = orjson.loads(stored.data)
    prompt_hash = hashlib.sha256(prompt.encode()).hexdigest()
    assert stored.blobs == {prompt_hash: prompt.encode()}
    assert raw["request"]["body"] == {"$blob": prompt_hash}
    assert raw["attempts"][0]["request_body"] == {"$ref": "request.body"}  # references stay references
    assert raw["attempts"][1]["request_body"] == {"$ref": "request.body"}  # equal text: a reference too
    assert raw["attempts"][0]["response_body"] == answer  # answers rarely repeat: inline
    assert raw["response"]["body"] == {"$ref": "attempts.0.response_body"}
    assert b"xxxx" not in stored.data
    assert from_stored(stored.data, stored.blobs.get) == rec


def test_a_body_just_under_the_threshold_stays_inline() -> None:
    rec = record(body="z" * (BLOB_MIN - 1))
    assert to_stored(rec, encode(rec)).blobs == {}


def test_non_ascii_bodies_are_hashed_as_utf8() -> None:
    text = "é€😀" * 400
    stored = to_stored(record(body=text), encode(record(body=text)))
    assert list(stored.blobs) == [hashlib.sha256(text.encode()).hexdigest()]
    assert from_stored(stored.data, stored.blobs.get).request.body == text


def test_a_missing_blob_reads_as_no_body() -> None:
    rec = record(body="q" * 2000)
    stored = to_stored(rec, encode(rec))
    assert from_stored(stored.data, lambda digest: None).request.body is None


def test_decode_refuses_a_record_with_blobs() -> None:
    rec = record(body="q" * 2000)
    with pytest.raises(ValueError, match="from_stored"):
        decode(to_stored(rec, encode(rec)).data)


# -- what is not a record --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"schema_version":2,"id":"tor',  # a journal line cut mid-write
        b"[1, 2]",
        b'{"schema_version": 2, "id": "x"}',  # required fields missing
        b"{}",  # no schema_version: read as version 1, which it is not either
        b'{"id": "x", "ts": 1, "status": 200, "events": [1]}',
        b'{"id": "x", "ts": 1, "status": 200, "attempts": [{"index": 0}]}',
    ],
)
def test_what_is_not_a_record_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_a_newer_schema_version_is_refused_clearly() -> None:
    line = encode(record()).replace(b'"schema_version":2', b'"schema_version":3', 1)
    with pytest.raises(ValueError, match="schema_version 3"):
        decode(line)


def test_v2_json_written_by_someone_else_still_reads() -> None:
    """Key order and spacing are free: `to_json` output, pretty-printed, decodes to the record."""
    rec = record(
        attempts=(attempt(request_body=CLIENT, response_body=ANSWER),), response=ResponsePart(body=ANSWER)
    )
    out = to_json(rec)
    pretty = orjson.dumps(dict(reversed(list(out.items()))), option=orjson.OPT_INDENT_2)
    assert decode(pretty) == rec


def test_a_gate_event_built_positionally_is_the_one_built_by_keywords() -> None:
    """The engine builds `gate` events positionally (t_ms first); their JSON form is unchanged."""
    by_position = Gated(0.25, "p/x", "ok", 0.0, "closed", 1, None, 0.0, None, True)
    by_keyword = Gated(
        t_ms=0.25,
        target="p/x",
        result="ok",
        wait_ms=0.0,
        breaker="closed",
        inflight=1,
        limit=None,
        reject_p=0.0,
        go=True,
    )
    assert by_position == by_keyword
    assert msgspec.json.encode(by_position) == (
        b'{"type":"gate","t_ms":0.25,"target":"p/x","result":"ok","wait_ms":0.0,"breaker":"closed",'
        b'"inflight":1,"limit":null,"reject_p":0.0,"go":true}'
    )
    rec = record(events=(by_position,))
    assert decode(encode(rec)) == rec
