"""The Anthropic dialect at Seawall's ingress: requests in, messages / SSE events / errors out.

The strongest checks drive the official `anthropic` SDK against these translators through an
in-memory transport: what the SDK sends must translate, and what we answer must parse.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from seawall.errors import InvalidRequest, UnsupportedFeature, UpstreamBadResponse
from seawall.ingress._anthropic_translate import (
    AnthropicStreamEncoder,
    anthropic_error_body,
    anthropic_error_type,
    anthropic_response_from_canonical,
    canonical_from_anthropic_request,
)
from seawall.providers._anthropic_wire import AnthropicStreamDecoder, to_anthropic_request
from tests.unit.wire._wire_testkit import (
    FIXTURES,
    anthropic_client,
    dumps,
    fixture,
    fixture_names,
    parse_sse,
    sse_response,
)

EVENT = TypeAdapter(RawMessageStreamEvent)


def areq(**fields: Any) -> dict[str, Any]:
    return {"model": "chat", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **fields}


def completion(message: dict[str, Any], finish: str = "stop", **usage: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream-model",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, **usage},
    }


# --- requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", fixture_names("ingress_anthropic_"))
def test_golden_ingress(name: str) -> None:
    case = fixture(name)
    original = copy.deepcopy(case["anthropic"])
    out = canonical_from_anthropic_request(case["anthropic"])
    assert dumps(out) == dumps(case["expected"])
    assert case["anthropic"] == original


def test_round_trip_anthropic_canonical_anthropic() -> None:
    case = fixture("ingress_anthropic_tools.json")
    wire = to_anthropic_request(canonical_from_anthropic_request(case["anthropic"]), "chat")
    original = case["anthropic"]
    for key in ("system", "max_tokens", "stop_sequences", "temperature", "top_p", "top_k", "stream"):
        assert wire[key] == original[key], key
    assert wire["metadata"] == original["metadata"]
    assert wire["tool_choice"] == original["tool_choice"]
    assert wire["output_config"] == {"effort": "xhigh"}  # `max` has no OpenAI spelling
    assert [t["name"] for t in wire["tools"]] == ["get_weather", "get_time"]
    assert wire["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert wire["tools"][1]["strict"] is True
    assert wire["messages"][0] == original["messages"][0]
    assistant = original["messages"][1]["content"]
    assert wire["messages"][1]["content"] == assistant[1:]  # the thinking block is dropped
    user = original["messages"][2]["content"]
    tool_results = [{k: v for k, v in b.items() if k != "is_error"} for b in user[1:]]
    assert wire["messages"][2]["content"] == [*tool_results, user[0]]  # tool results first


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tool_choice": {"type": "auto"}}, {"tool_choice": "auto"}),
        ({"tool_choice": {"type": "any"}}, {"tool_choice": "required"}),
        ({"tool_choice": {"type": "none"}}, {"tool_choice": "none"}),
        (
            {"tool_choice": {"type": "tool", "name": "f"}},
            {"tool_choice": {"type": "function", "function": {"name": "f"}}},
        ),
        (
            {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        ({"tool_choice": {"type": "none", "disable_parallel_tool_use": True}}, {"tool_choice": "none"}),
    ],
)
def test_tool_choice(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    out = canonical_from_anthropic_request(areq(tools=tools, **fields))
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == expected


def test_tool_choice_auto_without_tools_is_dropped() -> None:
    assert "tool_choice" not in canonical_from_anthropic_request(areq(tool_choice={"type": "auto"}))


def test_output_config_format_becomes_strict_json_schema() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    out = canonical_from_anthropic_request(
        areq(output_config={"format": {"type": "json_schema", "schema": schema}})
    )
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


def test_assistant_text_with_cache_control_stays_in_parts() -> None:
    block = {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}
    out = canonical_from_anthropic_request(areq(messages=[{"role": "assistant", "content": [block]}]))
    assert out["messages"] == [{"role": "assistant", "content": [block]}]
    empty = canonical_from_anthropic_request(areq(messages=[{"role": "assistant", "content": []}]))
    assert empty["messages"] == [{"role": "assistant", "content": ""}]


def test_the_sdk_request_translates() -> None:
    """What `anthropic.messages.create(...)` puts on the wire is accepted and translated."""
    seen: dict[str, Any] = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen["canonical"] = canonical_from_anthropic_request(json.loads(request.content))
        return httpx2.Response(
            200, json=anthropic_response_from_canonical(completion({"content": "ok"}), model="chat")
        )

    client = anthropic_client(handler)
    client.messages.create(
        model="chat",
        max_tokens=100,
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": "what time is it?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "clock", "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "noon"}]},
        ],
        tools=[
            {"name": "clock", "description": "time", "input_schema": {"type": "object", "properties": {}}}
        ],
        tool_choice={"type": "auto"},
        stop_sequences=["STOP"],
        metadata={"user_id": "u"},
        extra_body={"temperature": 0.5, "top_k": 3},
    )
    out = seen["canonical"]
    assert out["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
    }
    assert out["messages"][2]["tool_calls"][0]["function"] == {"name": "clock", "arguments": "{}"}
    assert out["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "noon"}
    assert (out["stop"], out["user"], out["temperature"], out["top_k"]) == (["STOP"], "u", 0.5, 3)


def test_stream_flag_asks_for_usage() -> None:
    out = canonical_from_anthropic_request(areq(stream=True))
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert "stream" not in canonical_from_anthropic_request(areq(stream=False))


def _amsg(content: Any, role: str = "user") -> dict[str, Any]:
    return areq(messages=[{"role": role, "content": content}])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 1, "messages": []}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 1}, "messages"),
        (areq(model=""), "model"),
        (areq(model=3), "model"),
        (areq(max_tokens="10"), "max_tokens"),
        (areq(max_tokens=-1), "max_tokens"),
        (areq(messages=[]), "messages"),
        (areq(messages={"role": "user"}), "messages"),
        (areq(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (areq(temperature=1.5), "temperature"),
        (areq(top_k=-1), "top_k"),
        (areq(stream="yes"), "stream"),
        (areq(stop_sequences="END"), "stop_sequences"),
        (areq(metadata={"user_id": 1}), "metadata.user_id"),
        (areq(system=5), "system"),
        (areq(system=[{"type": "image"}]), "system[0].type"),
        (areq(tools=[{"name": "f"}]), "tools[0].input_schema"),
        (areq(tools={"name": "f"}), "tools"),
        (areq(tool_choice={"type": "sometimes"}), "tool_choice.type"),
        (areq(tool_choice={"type": "any"}), "tool_choice"),
        (areq(output_config={"effort": "huge"}), "output_config.effort"),
        (areq(output_config={"verbosity": "low"}), "output_config.verbosity"),
        (areq(unknown_field=1), "unknown_field"),
        (_amsg([{"type": "text"}]), "messages[0].content[0].text"),
        (
            _amsg([{"type": "tool_use", "id": "x", "name": "f", "input": "{}"}], "assistant"),
            "messages[0].content[0].input",
        ),
    ],
)
def test_validation_mirrors_anthropic(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        canonical_from_anthropic_request(body)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (areq(thinking={"type": "enabled", "budget_tokens": 2048}), "thinking"),
        (areq(thinking={"type": "adaptive"}), "thinking"),
        (areq(container="c1"), "container"),
        (areq(mcp_servers=[]), "mcp_servers"),
        (areq(inference_geo="eu"), "inference_geo"),
        (areq(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools[0].type"),
        (areq(tools=[{"name": "f", "input_schema": {}, "defer_loading": True}]), "tools[0].defer_loading"),
        (
            _amsg([{"type": "image", "source": {"type": "file", "file_id": "f"}}]),
            "messages[0].content[0].source.type",
        ),
        (
            _amsg(
                [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]
            ),
            "messages[0].content[0].source",
        ),
        (
            _amsg([{"type": "search_result", "source": "s", "title": "t", "content": []}]),
            "messages[0].content[0]",
        ),
        (
            _amsg(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "image", "source": {"type": "url", "url": "https://x"}}],
                    }
                ]
            ),
            "messages[0].content[0].content[0]",
        ),
        (
            _amsg([{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}], "assistant"),
            "messages[0].content[0]",
        ),
    ],
)
def test_unsupported_ingress_features(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        canonical_from_anthropic_request(body)
    assert info.value.param == param


def test_thinking_disabled_and_billing_preferences_are_accepted() -> None:
    out = canonical_from_anthropic_request(
        areq(thinking={"type": "disabled"}, service_tier="auto", speed="fast")
    )
    assert out == canonical_from_anthropic_request(areq())


# --- whole responses ----------------------------------------------------------------------------


def test_golden_response() -> None:
    case = fixture("ingress_response_tool_calls.json")
    out = anthropic_response_from_canonical(case["canonical"], model=case["model"])
    assert dumps(out) == dumps(case["expected"])
    parsed = Message.model_validate(out)
    assert parsed.content[1].type == "tool_use"


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("weird", "end_turn"),
    ],
)
def test_finish_reason_map(finish: str | None, stop_reason: str) -> None:
    out = anthropic_response_from_canonical(completion({"content": "x"}, finish), model="m")  # type: ignore[arg-type]
    assert out["stop_reason"] == stop_reason


def test_refusal_and_parts_content() -> None:
    refusal = anthropic_response_from_canonical(
        completion({"content": None, "refusal": "no"}, "content_filter"), model="m"
    )
    assert refusal["content"] == [{"type": "text", "text": "no"}]
    parts = anthropic_response_from_canonical(
        completion({"content": [{"type": "text", "text": "a"}]}), model="m"
    )
    assert parts["content"] == [{"type": "text", "text": "a"}]
    Message.model_validate(anthropic_response_from_canonical(completion({"content": None}), model="m"))


def test_the_sdk_parses_our_message() -> None:
    msg = {
        "content": "Hi",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
    }
    body = anthropic_response_from_canonical(completion(msg, "tool_calls"), model="chat")
    client = anthropic_client(lambda request: httpx2.Response(200, json=body))
    result = client.messages.create(model="chat", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert result.stop_reason == "tool_use"
    assert result.content[1].type == "tool_use" and result.content[1].input == {"a": 1}
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 7)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"choices": []},
        {"choices": [{"message": "x"}]},
        {"choices": [{"message": {"tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}}]},
    ],
)
def test_bad_completions(bad: dict[str, Any]) -> None:
    with pytest.raises(UpstreamBadResponse):
        anthropic_response_from_canonical(bad, model="m")


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "sdk_error"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
        (402, "billing_error", anthropic.APIStatusError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (409, "invalid_request_error", anthropic.ConflictError),
        (413, "request_too_large", anthropic.APIStatusError),
        (422, "invalid_request_error", anthropic.UnprocessableEntityError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (502, "api_error", anthropic.InternalServerError),
        (503, "overloaded_error", anthropic.InternalServerError),
        (504, "timeout_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.InternalServerError),
    ],
)
def test_error_bodies_by_status(status: int, error_type: str, sdk_error: type[Exception]) -> None:
    assert anthropic_error_type(status) == error_type
    payload = anthropic_error_body(error_type, "nope")
    assert payload == {"type": "error", "error": {"type": error_type, "message": "nope"}}
    client = anthropic_client(lambda request: httpx2.Response(status, json=payload))
    with pytest.raises(sdk_error) as info:
        client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert isinstance(info.value, anthropic.APIStatusError)
    assert info.value.body == payload


# --- streaming ----------------------------------------------------------------------------------


def encode(
    chunks: list[dict[str, Any]], *, finish: bool = True, **options: Any
) -> list[tuple[str, dict[str, Any]]]:
    encoder = AnthropicStreamEncoder(model="chat", **options)
    events = [event for chunk in chunks for event in encoder.feed(chunk)]
    if finish:
        events += encoder.finish()
    assert encoder.done
    for name, data in events:
        if name != "error":
            assert EVENT.validate_python(data).type == name  # each event is a valid SDK model
    return events


def sdk_final_message(events: list[tuple[str, dict[str, Any]]]) -> Any:
    client = anthropic_client(lambda request: sse_response(events))
    with client.messages.stream(
        model="chat", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        return stream.get_final_message()


def ck(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": choices,
        **extra,
    }


def test_encoded_tool_stream_accumulates_in_the_sdk() -> None:
    chunks = fixture("anthropic_stream_tool_use.chunks.json")
    events = encode(chunks, finish=False)  # the usage chunk closes the message; finish() is a no-op
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 3
    message = sdk_final_message(events)
    assert message.id == "msg_014p7gG3wDgGV9EUtLvnow3U"
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Okay, let's check the weather for San Francisco, CA:"
    assert message.content[1].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert (message.content[2].name, message.content[2].input) == ("get_time", {})
    assert (message.usage.input_tokens, message.usage.output_tokens) == (472, 89)


def test_anthropic_stream_survives_decode_then_encode() -> None:
    """Recorded Anthropic SSE → canonical chunks → Anthropic SSE: the SDK sees the same message."""
    recorded = parse_sse((FIXTURES / "anthropic_stream_tool_use.sse").read_text())
    decoder = AnthropicStreamDecoder(request_model="chat", created=1)
    chunks = [chunk for name, data in recorded for chunk in decoder.feed(name, data)]
    direct = sdk_final_message(recorded)
    relayed = sdk_final_message(encode(chunks))
    assert [b.to_dict() for b in relayed.content] == [b.to_dict() for b in direct.content]
    assert relayed.stop_reason == direct.stop_reason
    assert relayed.usage.output_tokens == direct.usage.output_tokens


def test_finish_without_usage_and_known_input_tokens() -> None:
    events = encode(
        [ck({"role": "assistant", "content": ""}), ck({"content": "Hi"}), ck({}, "length")], input_tokens=9
    )
    assert events[0][1]["message"]["usage"] == {"input_tokens": 9, "output_tokens": 0}
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"output_tokens": 0},
    }
    message = sdk_final_message(events)
    assert message.content[0].text == "Hi" and message.stop_reason == "max_tokens"
    assert message.id == "msg_chatcmpl-9"


def test_usage_on_the_finish_chunk_closes_immediately() -> None:
    usage = {
        "prompt_tokens": 20,
        "completion_tokens": 2,
        "total_tokens": 22,
        "prompt_tokens_details": {"cached_tokens": 8},
    }
    encoder = AnthropicStreamEncoder(model="chat")
    events = encoder.feed(ck({"content": "ok"}, "stop", usage=usage))
    assert [name for name, _ in events][-2:] == ["message_delta", "message_stop"]
    assert events[-2][1]["usage"] == {"input_tokens": 12, "output_tokens": 2, "cache_read_input_tokens": 8}
    assert encoder.done and encoder.finish() == [] and encoder.feed(ck({"content": "late"})) == []


def test_text_after_tool_call_and_refusal() -> None:
    tool = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}
    chunks = [
        ck({"tool_calls": [tool]}),
        ck({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        ck({"refusal": "I won't."}),
        ck({}, "content_filter"),
    ]
    message = sdk_final_message(encode(chunks))
    assert [b.type for b in message.content] == ["tool_use", "text"]
    assert message.content[0].input == {"a": 1}
    assert message.stop_reason == "refusal"


def test_empty_stream_still_forms_a_message() -> None:
    message = sdk_final_message(encode([]))
    assert message.content == [] and message.stop_reason == "end_turn"


def test_interleaved_tool_fragments_are_rejected() -> None:
    encoder = AnthropicStreamEncoder(model="chat")
    encoder.feed(ck({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]}))
    encoder.feed(ck({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}}]}))
    with pytest.raises(UpstreamBadResponse):
        encoder.feed(ck({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}))


def test_terminal_error_event_reaches_the_sdk() -> None:
    encoder = AnthropicStreamEncoder(model="chat")
    events = encoder.feed(ck({"content": "partial"}))
    events += encoder.error("overloaded_error", "upstream failed mid-stream")
    assert events[-1] == ("error", anthropic_error_body("overloaded_error", "upstream failed mid-stream"))
    assert encoder.done and encoder.finish() == [] and encoder.error("api_error", "again") == []
    client = anthropic_client(lambda request: sse_response(events))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model="chat", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        stream.get_final_message()
    assert info.value.body == anthropic_error_body("overloaded_error", "upstream failed mid-stream")
