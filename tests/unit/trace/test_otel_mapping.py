"""A trace record → span descriptions (`seawall.otel._mapping`) and answer facts (`_answer`): pure code."""

from __future__ import annotations

import orjson
import pytest

from seawall.otel._answer import answer_facts
from seawall.otel._mapping import attempt_spans, epoch_ns, parent_carrier, request_span
from seawall.trace._schema import Backoff, ErrorInfo, RequestPart, ResponsePart, Route, Skipped
from tests.unit.trace.records import attempt, record

T0 = 1_700_000_000_000_000_000  # records.record()'s ts, in ns
MS = 1_000_000


def _sse(*events: object, done: bool = True) -> str:
    body = "".join(f"data: {orjson.dumps(e).decode()}\n\n" for e in events)
    return body + ("data: [DONE]\n\n" if done else "")


# -- answer facts ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dialect", "body", "stream", "facts"),
    [
        (
            "openai",
            '{"id":"chatcmpl-1","choices":[{"finish_reason":"stop"},{"finish_reason":"length"}]}',
            False,
            ("chatcmpl-1", ("stop", "length")),
        ),
        (
            "openai",
            _sse(
                {"id": "chatcmpl-2", "choices": [{"delta": {"content": 'say "finish_reason": "x"'}}]},
                {"id": "chatcmpl-2", "choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
            ),
            True,
            ("chatcmpl-2", ("tool_calls",)),  # a quoted key inside a text is escaped: never a reason
        ),
        (
            "anthropic",
            '{"id":"msg_1","type":"message","stop_reason":"end_turn"}',
            False,
            ("msg_1", ("end_turn",)),
        ),
        (
            "anthropic",
            "event: message_start\n"
            'data: {"type":"message_start","message":{"id":"msg_2","stop_reason":null}}\n\n'
            "event: message_delta\n"
            'data: {"type":"message_delta","delta":{"stop_reason":"max_tokens"}}\n\n',
            True,
            ("msg_2", ("max_tokens",)),
        ),
        (
            "gemini",
            '{"responseId":"r-1","candidates":[{"finishReason":"STOP"}]}',
            False,
            ("r-1", ("STOP",)),
        ),
        (
            "gemini",
            _sse({"responseId": "r-2", "candidates": [{}]}, {"candidates": [{"finishReason": "MAX_TOKENS"}]}),
            True,
            ("r-2", ("MAX_TOKENS",)),
        ),
        ("openai", '{"error":{"message":"busy"}}', False, (None, ())),
        ("openai", "not json", False, (None, ())),
        ("openai", "[1, 2]", False, (None, ())),
        ("openai", "data: {cut", True, (None, ())),
        ("openai", "", False, (None, ())),
        ("openai", None, False, (None, ())),
        ("bedrock", '{"id":"x"}', False, (None, ())),
    ],
)
def test_answer_facts(dialect: str, body: str | None, stream: bool, facts: tuple[object, object]) -> None:
    assert answer_facts(dialect, body, stream) == facts


# -- the request span ----------------------------------------------------------------------------------
def test_request_span_of_a_fallback() -> None:
    answer = '{"id":"chatcmpl-9","choices":[{"finish_reason":"stop"}]}'
    rec = record(
        model="chat",
        duration_ms=50.0,
        request=RequestPart(
            headers={"user-agent": "sdk/1", "x-seawall-conversation-id": "conv-7"}, body="{}"
        ),
        route=Route("chat", ("a/m1", "b/m2"), 30_000.0, 3, "batch"),
        attempts=(
            attempt(0, provider="a", model="m1", status=503, error_class="server_error", error="busy"),
            attempt(
                1,
                provider="b",
                model="m2",
                kind="anthropic",
                started_ms=20.0,
                latency_ms=30.0,
                response_model="m2-2025",
                usage={"prompt_tokens": 9, "completion_tokens": 3},
            ),
        ),
        answered_by="b/m2",
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 6},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
        events=(
            Skipped(t_ms=0.5, target="c/m3", reason="circuit open", code="breaker"),
            Backoff(t_ms=1.5, target="a/m1", delay_ms=10.0),
        ),
        response=ResponsePart(answer),
    )
    span = request_span(rec)
    assert (span.name, span.start_ns, span.end_ns, span.error) == ("chat chat", T0, T0 + 50 * MS, None)
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",  # the client's dialect
        "gen_ai.request.model": "chat",
        "gen_ai.response.model": "m2-2025",
        "gen_ai.response.id": "chatcmpl-9",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.cache_read.input_tokens": 6,
        "gen_ai.usage.reasoning.output_tokens": 2,
        "gen_ai.conversation.id": "conv-7",
        "http.response.status_code": 200,
        "user_agent.original": "sdk/1",
        "seawall.trace_id": "trace0001",
        "seawall.attempts": 2,
        "seawall.answered_by": "b/m2",
        "seawall.priority": "batch",
    }
    assert span.events == (
        ("skip", T0 + MS // 2, {"target": "c/m3", "reason": "circuit open", "code": "breaker"}),
        ("backoff", T0 + 3 * MS // 2, {"target": "a/m1", "delay_ms": 10.0}),
    )


def test_request_span_of_a_stream() -> None:
    body = _sse(
        {"id": "chatcmpl-s", "choices": [{"delta": {"content": "hi"}}]},
        {"choices": [{"finish_reason": "stop"}]},
    )
    rec = record(
        stream=True,
        ttft_ms=12.5,
        duration_ms=40.0,
        attempts=(attempt(0, committed=True, ttft_ms=11.0, latency_ms=39.0),),
        response=ResponsePart(body, ((12.5, 10),), "done"),
    )
    attrs = request_span(rec).attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.0125  # seconds, as the conventions say
    assert attrs["seawall.response.terminal"] == "done"
    assert (attrs["gen_ai.response.id"], attrs["gen_ai.response.finish_reasons"]) == ("chatcmpl-s", ("stop",))
    assert attrs["gen_ai.response.model"] == "m"  # no reported model: the one asked of the target
    assert "gen_ai.request.stream" not in request_span(record()).attributes  # set only for streams


def test_request_errors() -> None:
    error = ErrorInfo("upstream_error", "all attempts failed", 502, "all_targets_failed", "server_error")
    failed = request_span(record(status=502, error=error, response=ResponsePart('{"error":{}}')))
    assert failed.error == "all attempts failed"
    assert failed.attributes["error.type"] == "server_error"  # the class first: low cardinality
    assert "gen_ai.response.id" not in failed.attributes

    refused = request_span(record(status=404, error=ErrorInfo("invalid_request_error", "no such model", 404)))
    assert refused.error is None  # a client error is not the server's failure (span status unset)
    assert refused.attributes["error.type"] == "invalid_request_error"

    cut = ErrorInfo("upstream_error", "stream cut", 502, None, "stream_cut")
    after_commit = request_span(
        record(stream=True, error=cut, response=ResponsePart("data: {}\n\n", (), "error"))
    )
    assert after_commit.error == "stream cut" and after_commit.attributes["error.type"] == "stream_cut"

    unparsed = request_span(record(model="", status=400, route=None))
    assert unparsed.name == "chat" and "gen_ai.request.model" not in unparsed.attributes


def test_long_error_descriptions_are_cut() -> None:
    error = ErrorInfo("api_error", "x" * 2000, 500)
    description = request_span(record(status=500, error=error)).error
    assert description is not None and len(description) == 500 and description.endswith("…")


# -- attempt spans -------------------------------------------------------------------------------------
def test_attempt_spans() -> None:
    rec = record(
        duration_ms=100.0,
        stream=True,
        request=RequestPart(headers={"x-seawall-conversation-id": "conv-1"}),
        attempts=(
            attempt(
                0,
                provider="oa",
                model="gpt",
                url="https://api.example.com/v1/chat/completions",
                started_ms=1.0,
                latency_ms=9.0,
                status=429,
                error_class="rate_limited",
                error="slow down",
                retry_after_s=2.0,
                system_fingerprint="fp_x",
                response_body='{"id":"never-read"}',
            ),
            attempt(
                1,
                provider="gm",
                model="gemini-pro",
                kind="gemini",
                url="http://10.0.0.1:8080/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
                started_ms=10.0,
                latency_ms=95.0,  # rounding: ends after the request; clamped to it
                ttft_ms=20.0,
                backoff_ms=5.0,
                retry=True,
                committed=True,
                response_model="gemini-pro-002",
                system_fingerprint="g-1",
                usage={"prompt_tokens": 3, "completion_tokens": 7},
                response_body=_sse(
                    {"responseId": "r-1"}, {"candidates": [{"finishReason": "STOP"}]}, done=False
                ),
            ),
        ),
    )
    parent = request_span(rec)
    first, second = attempt_spans(rec, parent)
    assert (first.name, first.start_ns, first.end_ns, first.error) == (
        "chat oa/gpt",
        T0 + MS,
        T0 + 10 * MS,
        "slow down",
    )
    assert first.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt",
        "gen_ai.request.stream": True,
        "gen_ai.conversation.id": "conv-1",
        "error.type": "rate_limited",
        "http.response.status_code": 429,
        "server.address": "api.example.com",
        "server.port": 443,
        "openai.response.system_fingerprint": "fp_x",
        "seawall.trace_id": "trace0001",
        "seawall.provider": "oa",
        "seawall.target": "oa/gpt",
        "seawall.attempt.index": 0,
        "seawall.attempt.retry": False,
        "seawall.attempt.hedge": False,
        "seawall.attempt.committed": False,
        "seawall.attempt.retry_after_s": 2.0,
    }
    assert (second.start_ns, second.end_ns, second.error) == (T0 + 10 * MS, T0 + 100 * MS, None)
    assert second.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-pro",
        "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.02,
        "gen_ai.response.model": "gemini-pro-002",
        "gen_ai.response.id": "r-1",
        "gen_ai.response.finish_reasons": ("STOP",),
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.conversation.id": "conv-1",
        "http.response.status_code": 200,
        "server.address": "10.0.0.1",
        "server.port": 8080,
        "seawall.system_fingerprint": "g-1",
        "seawall.trace_id": "trace0001",
        "seawall.provider": "gm",
        "seawall.target": "gm/gemini-pro",
        "seawall.attempt.index": 1,
        "seawall.attempt.retry": True,
        "seawall.attempt.hedge": False,
        "seawall.attempt.committed": True,
        "seawall.attempt.backoff_ms": 5.0,
    }


def test_times_to_the_microsecond() -> None:
    assert epoch_ns(1_767_225_600.123456) == 1_767_225_600_123_456_000
    rec = record(
        ts=1_767_225_600.5, duration_ms=0.0015, attempts=(attempt(0, started_ms=0.001, latency_ms=0.0005),)
    )
    parent = request_span(rec)
    (child,) = attempt_spans(rec, parent)
    assert parent.end_ns - parent.start_ns == 1500
    assert (child.start_ns - parent.start_ns, child.end_ns - parent.start_ns) == (1000, 1500)


def test_parent_carrier() -> None:
    assert parent_carrier(record()) is None
    headers = {"traceparent": "00-abc-def-01", "tracestate": "k=v", "user-agent": "x"}
    rec = record(request=RequestPart(headers=headers))
    assert parent_carrier(rec) == {"traceparent": "00-abc-def-01", "tracestate": "k=v"}
    assert parent_carrier(record(request=RequestPart(headers={"tracestate": "k=v"}))) is None
