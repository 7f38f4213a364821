"""The normaliser on real recorded shapes: v1 trace rows written by `seawall serve` (client bytes of
both ingress dialects, JSON and streams) and the wire fixtures (each adapter's upstream bytes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from seawall.replay import (
    Answer,
    ToolCall,
    answer_from_attempt,
    answer_from_chunks,
    answer_from_completion,
    answer_from_response,
    answering_attempt,
    decode_answer,
    recorded_answer,
)
from seawall.trace._codec import decode
from seawall.trace._render import answer_text
from seawall.trace._schema import ErrorInfo, ResponsePart, TraceRecord
from tests.unit.trace.records import attempt, record
from tests.unit.wire._wire_testkit import FIXTURES as WIRE
from tests.unit.wire._wire_testkit import fixture

TRACES = Path(__file__).parents[1] / "trace" / "fixtures"
SENTENCE = "The quick brown fox jumps over the lazy dog while the gateway"


def v1(name: str) -> TraceRecord:
    return decode((TRACES / f"v1_{name}.json").read_bytes())


def content(answer: Answer) -> Answer:
    """What the bytes said, without where and when (to compare two sources of one answer)."""
    return dataclasses.replace(answer, latency_ms=None, ttft_ms=None, status=None, response_model=None)


def gemini_sse() -> str:
    return "".join(
        f"data: {line}\n\n" for line in (WIRE / "gemini_stream_tool_call.jsonl").read_text().splitlines()
    )


# -- what the client got ------------------------------------------------------------------------------
def test_openai_json_response() -> None:
    rec = v1("openai_json")
    assert answer_from_response(rec) == Answer(
        text="4",
        finish_reason="stop",
        input_tokens=3,
        output_tokens=1,
        response_model="sim-large",
        system_fingerprint="fp_seawall_sim",
        service_tier="default",
        latency_ms=rec.duration_ms,
        status=200,
    )


@pytest.mark.parametrize("name", ["openai_stream", "anthropic_stream", "anthropic_stream_translated"])
def test_streams_of_both_ingress_dialects_read_like_traces_show(name: str) -> None:
    rec = v1(name)
    answer = answer_from_response(rec)
    assert isinstance(rec.response.body, str)
    assert answer.text == answer_text(rec.response.body) == SENTENCE
    assert (answer.finish_reason, answer.input_tokens, answer.output_tokens) == ("stop", 4, 15)
    assert (answer.latency_ms, answer.ttft_ms, answer.error) == (rec.duration_ms, rec.ttft_ms, None)


def test_identity_as_each_dialect_reports_it() -> None:
    openai, claude, translated = (
        answer_from_response(v1(n))
        for n in ("openai_stream", "anthropic_stream", "anthropic_stream_translated")
    )
    assert (openai.response_model, openai.system_fingerprint, openai.service_tier) == (
        "sim-large",
        "fp_seawall_sim",
        "default",
    )
    # Anthropic has no fingerprint; its service tier is in message_start's usage
    assert (claude.response_model, claude.system_fingerprint, claude.service_tier) == (
        "claude-sim",
        None,
        "standard",
    )
    # an OpenAI target's answer encoded for an Anthropic client: the model survives, the fingerprint not
    assert (translated.response_model, translated.system_fingerprint) == ("sim-large", None)


def test_a_stream_that_failed_after_commit_keeps_its_text_and_the_clients_error() -> None:
    answer = answer_from_response(v1("stream_failed_after_commit"))
    assert answer.text == "The quick"
    assert answer.finish_reason is None
    assert answer.error == (
        "server_error: upstream stream error: "
        "The server had an error while processing your request. Sorry about that!"
    )


def test_rejected_and_abandoned_requests_are_errors_without_an_answer() -> None:
    rejected = answer_from_response(v1("rejected_bad_json"))
    assert rejected.status == 400 and rejected.text == ""
    assert rejected.error is not None and rejected.error.startswith(
        "invalid_request_error: The request body is not"
    )
    gone = answer_from_response(v1("client_disconnect"))
    assert gone.status == 499
    assert gone.error == "client_disconnect: the client left before the answer was complete"


# -- what an upstream answered ---------------------------------------------------------------------
def test_anthropic_stream_upstream_bytes_decode_like_the_adapter() -> None:
    answer = decode_answer("anthropic", (WIRE / "anthropic_stream_tool_use.sse").read_text(), stream=True)
    assert answer.text == "Okay, let's check the weather for San Francisco, CA:"
    assert answer.tool_calls == (
        ToolCall("get_weather", {"location": "San Francisco, CA", "unit": "fahrenheit"}),
        ToolCall("get_time", {}),
    )
    assert (answer.finish_reason, answer.input_tokens, answer.output_tokens) == ("tool_calls", 472, 89)
    assert answer.response_model == "claude-sonnet-4-5-20250929"
    assert answer == answer_from_chunks(fixture("anthropic_stream_tool_use.chunks.json"))


def test_gemini_stream_upstream_bytes() -> None:
    answer = decode_answer("gemini", gemini_sse(), stream=True)
    assert answer.text == "Let me look that up."
    assert answer.tool_calls == (ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}),)
    # thoughts are billed as output, as the adapter counts them
    assert (answer.finish_reason, answer.input_tokens, answer.output_tokens) == ("tool_calls", 31, 30)
    assert answer.response_model == "gemini-3-flash-preview"
    assert answer == answer_from_chunks(fixture("gemini_stream_tool_call.chunks.json"))


@pytest.mark.parametrize(
    ("name", "kind"), [("from_anthropic_tool_use", "anthropic"), ("from_gemini_tool_calls", "gemini")]
)
def test_whole_upstream_answers_match_their_canonical_translation(name: str, kind: str) -> None:
    case = fixture(name + ".json")
    answer = decode_answer(kind, json.dumps(case[kind]).encode(), stream=False)
    assert answer == answer_from_completion(case["expected"])
    assert answer.finish_reason == "tool_calls"
    assert [call.arguments["city"] for call in answer.tool_calls] == (
        ["Paris"] if kind == "anthropic" else ["Paris", "Oslo"]
    )


def test_a_canonical_answer_and_its_anthropic_encoding_say_the_same() -> None:
    case = fixture("ingress_response_tool_calls.json")
    canonical = answer_from_completion(case["canonical"])
    encoded = decode_answer("anthropic", json.dumps(case["expected"]), stream=False)
    assert canonical.tool_calls == (ToolCall("get_weather", {"city": "Paris"}),)
    assert content(encoded) == content(canonical)


def test_openai_stream_tool_call_pieces_are_joined_by_index() -> None:
    def chunk(delta: dict[str, object], finish: str | None = None) -> str:
        event = {"model": "gpt-x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return "data: " + json.dumps(event) + "\n\n"

    body = (
        chunk({"role": "assistant", "content": None})
        + chunk(
            {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}]}
        )
        + chunk(
            {"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "search", "arguments": '{"q"'}}]}
        )
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]})
        + chunk({"tool_calls": [{"index": 1, "function": {"arguments": ': "x"}'}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]})
        + chunk({}, "tool_calls")
        + "data: [DONE]\n\n"
    )
    answer = decode_answer("openai", body, stream=True)
    assert answer.tool_calls == (ToolCall("get_weather", {"city": "Paris"}), ToolCall("search", {"q": "x"}))
    assert (answer.finish_reason, answer.text, answer.error) == ("tool_calls", "", None)


def test_broken_tool_arguments_are_kept_as_text() -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "content": None,
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"a": '}}],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    assert answer_from_completion(body).tool_calls == (ToolCall("f", '{"a": '),)


# -- errors carried by the bytes -------------------------------------------------------------------
def test_in_stream_errors_keep_what_came_before() -> None:
    anthropic = (WIRE / "anthropic_stream_tool_use.sse").read_text().split("event: content_block_stop")[0]
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    cut = decode_answer(
        "anthropic", anthropic + "event: error\ndata: " + json.dumps(overloaded) + "\n\n", stream=True
    )
    assert cut.text == "Okay, let's check the weather for San Francisco, CA:"
    assert cut.error is not None and cut.error.startswith("overloaded: ") and "Overloaded" in cut.error

    first = 'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
    failed = 'data: {"error": {"type": "server_error", "message": "boom"}}\n\n'
    openai = decode_answer("openai", first + failed, stream=True)
    assert (openai.text, openai.error) == ("Hel", "server_error: boom")


def test_a_blocked_gemini_answer_is_a_content_filter_error() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "gemini-x"}
    answer = decode_answer("gemini", json.dumps(blocked), stream=False)
    assert answer.error is not None and answer.error.startswith("content_filter: ")


@pytest.mark.parametrize(
    ("kind", "body", "error"),
    [
        ("openai", "{not json", "bad_response: the answer is not valid JSON"),
        ("openai", "[1, 2]", "bad_response: the answer is not a JSON object"),
        (
            "openai",
            '{"error": {"type": "invalid_request_error", "message": "no"}}',
            "invalid_request_error: no",
        ),
        ("anthropic", '{"type": "error", "error": {"type": "api_error", "message": "x"}}', "api_error: x"),
    ],
)
def test_whole_bodies_that_are_not_answers(kind: str, body: str, error: str) -> None:
    assert decode_answer(kind, body, stream=False) == Answer(error=error)


def test_no_bytes_is_an_empty_answer() -> None:
    assert decode_answer("openai", None, stream=False) == Answer()
    assert decode_answer("gemini", b"  ", stream=True) == Answer()


# -- attempts, and which one answered --------------------------------------------------------------
def test_a_failed_attempts_error_body_is_no_answer() -> None:
    failed = v1("fallback").attempts[0]
    answer = answer_from_attempt(failed, stream=False)
    assert answer.text == "" and answer.status == 503
    assert answer.error == "server_error: upstream 503: The server is overloaded or not ready yet."


def test_the_answering_attempt_after_a_fallback() -> None:
    rec = v1("fallback")
    chosen = answering_attempt(rec)
    assert chosen is not None and (chosen.index, chosen.provider, chosen.model) == (
        1,
        "sim-primary",
        "sim-small",
    )
    answer = recorded_answer(rec)
    assert (answer.text, answer.response_model, answer.latency_ms) == ("7", "sim-small", chosen.latency_ms)


def test_a_failed_request_compares_its_last_attempt() -> None:
    rec = v1("retry_backoff")
    last = answering_attempt(rec)
    assert last is not None and last.index == len(rec.attempts) - 1
    assert recorded_answer(rec).error == "server_error: upstream 502: Bad gateway."


def test_a_v1_stream_without_upstream_bytes_uses_the_clients_copy_and_the_attempts_timing() -> None:
    rec = v1("anthropic_stream_translated")
    chosen = answering_attempt(rec)
    assert chosen is not None and chosen.response_body is None and chosen.committed
    answer = recorded_answer(rec)
    assert answer.text == SENTENCE
    assert (answer.latency_ms, answer.ttft_ms) == (chosen.latency_ms, chosen.ttft_ms)
    # the client's Anthropic events carry no fingerprint: the attempt's record fills it in
    assert answer.system_fingerprint == chosen.system_fingerprint == "fp_seawall_sim"


def test_a_committed_stream_that_failed_is_still_the_answering_attempt() -> None:
    rec = v1("stream_failed_after_commit")
    chosen = answering_attempt(rec)
    assert chosen is not None and chosen.committed and chosen.error_class == "server_error"
    assert recorded_answer(rec).text == "The quick"


def test_attempt_bytes_win_over_the_clients_and_usage_falls_back_to_the_adapters_record() -> None:
    event = {"model": "up-model", "choices": [{"index": 0, "delta": {"content": "upstream"}}]}
    upstream = f"data: {json.dumps(event)}\n\ndata: [DONE]\n\n"
    rec = record(
        stream=True,
        answered_by="p/m",
        response=ResponsePart(body='data: {"choices": [{"index": 0, "delta": {"content": "client"}}]}\n\n'),
        attempts=(
            attempt(
                0,
                committed=True,
                ttft_ms=3.0,
                response_body=upstream,
                usage={"prompt_tokens": 9, "completion_tokens": 2},
                system_fingerprint="fp_recorded",
            ),
        ),
    )
    answer = recorded_answer(rec)
    assert (answer.text, answer.response_model, answer.system_fingerprint) == (
        "upstream",
        "up-model",
        "fp_recorded",
    )
    assert (answer.input_tokens, answer.output_tokens, answer.ttft_ms) == (9, 2, 3.0)


def test_a_request_without_attempts_compares_what_the_client_got() -> None:
    rec = record(status=503, error=ErrorInfo(type="overloaded_error", message="shed", status=503))
    assert answering_attempt(rec) is None
    assert recorded_answer(rec) == answer_from_response(rec)
    assert recorded_answer(rec).error == "overloaded_error: shed"
