"""What of a record is searchable, and that it reads the same from the stored form (a contentless
index deletes a trace by giving its text again)."""

from __future__ import annotations

import json

from hypothesis import given, settings

from seawall.trace._codec import encode, to_stored
from seawall.trace._schema import RequestPart, ResponsePart, TraceRecord
from seawall.trace._sqlite_index import entry_of
from seawall.trace._text import body_text, error_classes, request_text, search_text, stream_text, targets
from tests.unit.trace.records import attempt, record, trace_records
from tests.unit.trace.test_render import ANTHROPIC_SSE, OPENAI_SSE

OPENAI_REQUEST = json.dumps(
    {
        "model": "chat",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Where is order ORD-1234?"}]},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJDREVG"}}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "function": {"name": "lookup", "arguments": '{"order":"ORD-1234"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "shipped on Monday"},
        ],
        "max_tokens": 16,
    }
)
ANTHROPIC_REQUEST = json.dumps(
    {
        "model": "claude",
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "tu_1", "name": "w", "input": {"city": "Paris", "days": 3}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": [{"type": "text", "text": "sunny"}],
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}}
                ],
            },
        ],
        "max_tokens": 100,
    }
)


def test_request_text_is_every_message_s_words_without_keys_ids_or_media() -> None:
    assert request_text(OPENAI_REQUEST) == (
        'You are terse. Where is order ORD-1234? lookup {"order":"ORD-1234"} shipped on Monday'
    )
    assert request_text(ANTHROPIC_REQUEST) == "Be brief. Weather in Paris? w Paris 3 sunny"
    assert request_text("{cut json") == "{cut json"  # what the client sent, as it is
    assert request_text('{"prompt":"legacy","messages":"not a list"}') == ""  # no known shape, no text keys
    assert request_text('[{"content":"a list"}]') == "a list"
    assert request_text(None) == ""


def test_answer_text_of_a_json_answer_an_error_and_both_stream_dialects() -> None:
    answer = json.dumps(
        {
            "id": "chatcmpl-1",
            "model": "gpt",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "It shipped.",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"a":1}'}}],
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"total_tokens": 3},
        }
    )
    assert body_text(answer) == 'It shipped. f {"a":1}'
    assert body_text('{"error":{"message":"Rate limit reached","type":"x"}}') == "Rate limit reached"
    assert stream_text(OPENAI_SSE) == "Hello"  # "Hel" + "lo": one word, as the client read it
    assert stream_text(ANTHROPIC_SSE) == "Hello {"
    call = 'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":%s}]}}]}\n\n'
    tools = (
        call % '{"name":"f","arguments":"{\\"ci"}'
        + call % '{"arguments":"ty\\":1}"}'
        + 'data: {"error":{"message":"upstream cut the stream","type":"stream_cut"}}\n\n'
    )
    assert stream_text(tools) == '{"city":1} upstream cut the stream'


def test_search_text_and_targets_of_a_record() -> None:
    rec = record(
        stream=True,
        body=OPENAI_REQUEST,
        attempts=(
            attempt(0, provider="a", model="x"),
            attempt(1, provider="b", model="y"),
            attempt(2, provider="a", model="x"),
        ),
        answered_by="b/y",
        response=ResponsePart(body=OPENAI_SSE, writes=((1.0, 10),), terminal="done"),
    )
    assert search_text(rec) == (request_text(OPENAI_REQUEST), "Hello")
    assert targets(rec) == ("a/x", "b/y")
    assert targets(record(answered_by="c/z")) == ("c/z",)  # answered with no attempt recorded
    assert search_text(record(stream=True, response=ResponsePart(terminal="done"))) == (
        request_text(record().request.body),
        "",
    )


def test_stored_parts_carry_what_the_writer_indexes_and_the_rest_reads_from_them() -> None:
    rec = record(
        request=RequestPart(headers={"x-seawall-conversation-id": "conv-7"}, body="x" * 2000),
        attempts=(attempt(provider="p", model="m"),),
        config_hash="c" * 64,
    )
    stored = to_stored(rec, encode(rec))
    assert stored.summary.conversation_id == "conv-7" and stored.config_hash == "c" * 64
    # the writer keeps the stored parts' blob and config references only
    later = entry_of(1, rec.id, stored.data, stored.blobs)  # the indexer, from the stored form
    assert later.targets == ("p/m",) and later.request_text == "x" * 2000
    assert list(stored.blobs) == list(later.blobs)


@settings(max_examples=200, deadline=None)
@given(trace_records())
def test_what_is_indexed_reads_the_same_from_the_stored_form(rec: TraceRecord) -> None:
    """The indexer reads a trace back from its stored form: it must find what the record holds."""
    stored = to_stored(rec, encode(rec))
    again = entry_of(7, rec.id, stored.data, stored.blobs)
    assert (again.targets, again.error_classes) == (targets(rec), error_classes(rec))
    assert (again.request_text, again.answer_text) == search_text(rec)
    assert (again.config_hash, again.conversation_id) == (stored.config_hash, stored.summary.conversation_id)
    assert sorted(again.blobs) == sorted(stored.blobs)
