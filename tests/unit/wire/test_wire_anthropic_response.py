"""Anthropic answers → canonical completions, chunks and errors (Anthropic as a target)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from seawall.errors import (
    ContextLengthExceeded,
    ErrorClass,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from seawall.ingress._anthropic_translate import anthropic_response_from_canonical
from seawall.providers._anthropic_wire import (
    AnthropicStreamDecoder,
    classify_anthropic_error,
    from_anthropic_response,
    parse_anthropic_ratelimit,
)
from tests.unit.wire._wire_testkit import FIXTURES, dumps, fixture, parse_sse

STREAM = "anthropic_stream_tool_use"


def message(**fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 3},
        **fields,
    }


def test_golden_response() -> None:
    case = fixture("from_anthropic_tool_use.json")
    out = from_anthropic_response(
        case["anthropic"], request_model=case["request_model"], created=case["created"]
    )
    assert dumps(out) == dumps(case["expected"])
    ChatCompletion.model_validate(out)  # the OpenAI SDK accepts the shape
    args = json.loads(out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert args == {"city": "Paris", "unit": "celsius"}


def test_response_round_trips_through_the_ingress_dialect() -> None:
    case = fixture("from_anthropic_tool_use.json")
    canonical = from_anthropic_response(case["anthropic"], request_model="chat", created=1)
    back = anthropic_response_from_canonical(canonical, model=case["anthropic"]["model"])
    original = case["anthropic"]
    assert back["id"] == original["id"]
    assert back["stop_reason"] == original["stop_reason"]
    assert back["content"] == [
        {"type": "text", "text": "I'll check the weather."},
        original["content"][-1],  # the tool_use block, input intact
    ]
    # Cache writes are folded into fresh input on the way back (canonical has no slot for them).
    assert back["usage"] == {
        "input_tokens": 150,
        "output_tokens": 45,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2000,
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("some_new_reason", "stop"),
    ],
)
def test_stop_reason_map(stop_reason: str | None, finish: str) -> None:
    out = from_anthropic_response(message(stop_reason=stop_reason), request_model="chat", created=1)
    assert out["choices"][0]["finish_reason"] == finish


def test_empty_and_tool_only_content() -> None:
    empty = from_anthropic_response(message(content=[]), request_model="chat", created=1)
    assert empty["choices"][0]["message"]["content"] == ""
    tool = {"type": "tool_use", "id": "t", "name": "f", "input": {}}
    only = from_anthropic_response(
        message(content=[tool], stop_reason="tool_use"), request_model="chat", created=1
    )
    assert only["choices"][0]["message"]["content"] is None
    assert only["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_usage_without_cache_fields_and_model_fallback() -> None:
    out = from_anthropic_response(message(model=None), request_model="chat", created=5)
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    assert (out["model"], out["created"], out["id"], out["object"]) == ("chat", 5, "msg_1", "chat.completion")


@pytest.mark.parametrize("bad", [{}, {"content": "text"}, {"content": ["x"]}, []])
def test_malformed_response(bad: Any) -> None:
    with pytest.raises(UpstreamBadResponse):
        from_anthropic_response(bad, request_model="chat")


# --- streaming ------------------------------------------------------------------------------------


def decode(events: list[tuple[str, dict[str, Any]]]) -> tuple[AnthropicStreamDecoder, list[dict[str, Any]]]:
    decoder = AnthropicStreamDecoder(request_model="chat", created=1700000000)
    return decoder, [chunk for name, data in events for chunk in decoder.feed(name, data)]


def recorded() -> list[tuple[str, dict[str, Any]]]:
    return parse_sse((FIXTURES / f"{STREAM}.sse").read_text())


def test_recorded_stream_golden() -> None:
    decoder, chunks = decode(recorded())
    assert dumps(chunks) == dumps(fixture(f"{STREAM}.chunks.json"))
    assert decoder.done
    assert decoder.finish_reason == "tool_calls"
    assert decoder.usage == {
        "prompt_tokens": 472,
        "completion_tokens": 89,
        "total_tokens": 561,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_recorded_stream_accumulates_in_the_openai_sdk() -> None:
    _, chunks = decode(recorded())
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and "usage" in chunks[-1]
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Okay, let's check the weather for San Francisco, CA:"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        ("toolu_01CZ8fYw3LZ6GkFkS5yzJ2rq", "get_time"),
    ]
    assert json.loads(calls[0].function.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert json.loads(calls[1].function.arguments) == {}
    assert final.usage is not None and final.usage.total_tokens == 561


def _start(**usage: int) -> tuple[str, dict[str, Any]]:
    msg: dict[str, Any] = {
        "id": "msg_s",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1, **usage},
    }
    return ("message_start", {"type": "message_start", "message": msg})


def test_thinking_is_skipped_and_message_delta_usage_is_cumulative() -> None:
    events = [
        _start(cache_read_input_tokens=100),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "abc"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "Hi"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " there"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("some_future_event", {"type": "some_future_event"}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                "usage": {"output_tokens": 7, "input_tokens": 6, "cache_read_input_tokens": None},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
        ("ping", {"type": "ping"}),
    ]
    _, chunks = decode(events)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hi"}, {"content": " there"}, {}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 106,
        "completion_tokens": 7,
        "total_tokens": 113,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_message_stop_without_stop_reason_still_finishes() -> None:
    decoder, chunks = decode([_start(), ("message_stop", {"type": "message_stop"})])
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "stop"]
    assert decoder.done and chunks[-1]["choices"] == []


def test_events_before_message_start_are_a_bad_response() -> None:
    decoder = AnthropicStreamDecoder(request_model="chat")
    with pytest.raises(UpstreamBadResponse):
        decoder.feed("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {}})
    with pytest.raises(UpstreamBadResponse):
        AnthropicStreamDecoder(request_model="chat").feed("message_stop", {"type": "message_stop"})


def test_event_name_may_come_from_data_type() -> None:
    decoder = AnthropicStreamDecoder(request_model="chat", created=1)
    assert decoder.feed("", _start()[1])[0]["choices"][0]["delta"]["role"] == "assistant"


@pytest.mark.parametrize(
    ("error_type", "cls", "error_class", "status"),
    [
        ("overloaded_error", UpstreamUnavailable, ErrorClass.OVERLOADED, 529),
        ("rate_limit_error", UpstreamRateLimited, ErrorClass.RATE_LIMITED, 429),
        ("api_error", UpstreamUnavailable, ErrorClass.SERVER_ERROR, 500),
        ("invalid_request_error", UpstreamRejected, ErrorClass.BAD_REQUEST, 400),
        ("authentication_error", UpstreamRejected, ErrorClass.AUTH, 401),
        ("permission_error", UpstreamRejected, ErrorClass.AUTH, 403),
        ("billing_error", UpstreamRejected, ErrorClass.AUTH, 402),
        ("not_found_error", UpstreamRejected, ErrorClass.NOT_FOUND, 404),
        ("request_too_large", UpstreamRejected, ErrorClass.BAD_REQUEST, 413),
        ("timeout_error", UpstreamTimeout, ErrorClass.TIMEOUT, 504),
        ("brand_new_error", UpstreamUnavailable, ErrorClass.SERVER_ERROR, 500),
    ],
)
def test_in_stream_error_event(
    error_type: str, cls: type[UpstreamError], error_class: ErrorClass, status: int
) -> None:
    decoder = AnthropicStreamDecoder(request_model="chat", created=1)
    decoder.feed(*_start())
    data = {"type": "error", "error": {"type": error_type, "message": "boom"}}
    with pytest.raises(UpstreamError) as info:
        decoder.feed("error", data)
    assert type(info.value) is cls
    assert info.value.error_class is error_class
    assert info.value.upstream_status == status
    assert "boom" in info.value.message


def test_in_stream_prompt_too_long_is_context_length() -> None:
    data = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens"},
    }
    with pytest.raises(ContextLengthExceeded):
        AnthropicStreamDecoder(request_model="chat").feed("error", data)


# --- HTTP errors --------------------------------------------------------------------------------


def body(error_type: str, message: str = "x", **extra: Any) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type, "message": message, **extra}, "request_id": "req_1"}
    ).encode()


OVERLOADED = (UpstreamUnavailable, ErrorClass.OVERLOADED, None)
RATE_LIMITED = (UpstreamRateLimited, ErrorClass.RATE_LIMITED, None)
SERVER = (UpstreamUnavailable, ErrorClass.SERVER_ERROR, None)
AUTH = (UpstreamRejected, ErrorClass.AUTH, None)
BAD_REQUEST = (UpstreamRejected, ErrorClass.BAD_REQUEST, None)
CONTEXT = (ContextLengthExceeded, ErrorClass.CONTEXT_LENGTH, None)
TOO_LONG = "prompt is too long: 201234 tokens > 200000 maximum"
EXCEED = "input length and `max_tokens` exceed context limit: 1 + 2 > 3"
SPEND = {"error_code": "enforced_spend_limit_reached"}


@pytest.mark.parametrize(
    ("status", "payload", "headers", "expected"),
    [
        (529, body("overloaded_error", "Overloaded"), {}, OVERLOADED),
        (429, body("rate_limit_error"), {"Retry-After": "12"}, (*RATE_LIMITED[:2], 12.0)),
        (429, body("rate_limit_error"), {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, RATE_LIMITED),
        (429, body("rate_limit_error", details=SPEND), {}, AUTH),
        (500, body("api_error"), {}, SERVER),
        (502, b"<html>bad gateway</html>", {}, SERVER),
        (503, b"", {"retry-after": "3"}, (*SERVER[:2], 3.0)),
        (504, body("timeout_error"), {}, (UpstreamTimeout, ErrorClass.TIMEOUT, None)),
        (400, body("invalid_request_error", TOO_LONG), {}, CONTEXT),
        (400, body("invalid_request_error", EXCEED), {}, CONTEXT),
        (400, body("invalid_request_error", "messages: roles must alternate"), {}, BAD_REQUEST),
        (401, body("authentication_error", "invalid x-api-key"), {}, AUTH),
        (403, body("permission_error"), {}, AUTH),
        (402, body("billing_error"), {}, AUTH),
        (404, body("not_found_error", "model: nope"), {}, (UpstreamRejected, ErrorClass.NOT_FOUND, None)),
        (413, body("request_too_large"), {}, BAD_REQUEST),
        (409, body("conflict_error"), {}, BAD_REQUEST),
        (422, b"not json", {}, BAD_REQUEST),
        (302, b"", {}, (UpstreamBadResponse, ErrorClass.BAD_RESPONSE, None)),
    ],
)
def test_classify_http_errors(
    status: int,
    payload: bytes,
    headers: dict[str, str],
    expected: tuple[type[UpstreamError], ErrorClass, float | None],
) -> None:
    cls, error_class, retry_after = expected
    err = classify_anthropic_error(status, payload, headers)
    assert type(err) is cls
    assert err.error_class is error_class
    assert err.upstream_status == status
    assert err.retry_after == retry_after
    assert err.body == payload


def test_overloaded_is_retryable_and_rate_limit_counts_against_health() -> None:
    assert classify_anthropic_error(529, body("overloaded_error"), {}).error_class.retryable
    assert classify_anthropic_error(429, body("rate_limit_error"), {}).error_class.provider_health
    spend = classify_anthropic_error(
        429, body("rate_limit_error", details={"error_code": "x_spend_limit"}), {}
    )
    assert type(spend) is UpstreamRateLimited  # only the documented spend-limit codes are account refusals
    assert not classify_anthropic_error(401, body("authentication_error"), {}).error_class.retryable


def test_parse_ratelimit_keeps_anthropic_headers_and_retry_after() -> None:
    headers = {
        "Anthropic-RateLimit-Requests-Limit": "50",
        "anthropic-ratelimit-tokens-remaining": "1000",
        "anthropic-ratelimit-input-tokens-reset": "2026-01-01T00:00:30Z",
        "Retry-After": "4",
        "request-id": "req_1",
        "content-type": "application/json",
    }
    assert parse_anthropic_ratelimit(headers) == {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-tokens-remaining": "1000",
        "anthropic-ratelimit-input-tokens-reset": "2026-01-01T00:00:30Z",
        "retry-after": "4",
    }
