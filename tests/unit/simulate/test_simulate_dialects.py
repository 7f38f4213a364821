"""Each dialect's request parsing and rendering, without a server."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from seawall.simulate._anthropic import AnthropicDialect
from seawall.simulate._gemini import GeminiDialect
from seawall.simulate._model import Answer, Finish, Prompt, ToolCall, ToolChoice, answer
from seawall.simulate._openai import OpenAIDialect, duration
from seawall.simulate._wire import Call, Limits, Rejected, Reply

OPENAI, ANTHROPIC, GEMINI = OpenAIDialect(), AnthropicDialect(), GeminiDialect()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def reply(result: Answer, model: str = "m") -> Reply:
    return Reply(result, model, "ab" * 12, 1_700_000_000, "fp_x")


def sse_data(raw: bytes) -> list[Any]:
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    return [
        orjson.loads(line[6:]) for line in lines if line.startswith(b"data: ") and line != b"data: [DONE]"
    ]


# ---- OpenAI ------------------------------------------------------------------------------------
def test_openai_parse_reads_the_whole_request() -> None:
    call = OPENAI.parse(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
                {"role": "user", "content": [{"type": "text", "text": "weather in Oslo?"}]},
            ],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": SCHEMA}}],
            "tool_choice": {"type": "function", "function": {"name": "w"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}},
            "max_completion_tokens": 7,
            "n": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    p = call.prompt
    assert (call.model, call.stream, call.include_usage, call.choices) == ("gpt-4o-mini", True, True, 3)
    assert p.system == "Be brief.\nUse metric."
    assert p.user_text == "weather in Oslo?"
    assert (p.tool_choice, p.forced_tool) == (ToolChoice.REQUIRED, "w")
    assert p.json_mode and p.json_schema == SCHEMA
    assert p.max_tokens == 7
    assert p.prompt_chars > len("Be brief.Use metric.weather in Oslo?")


def test_openai_parse_sees_trailing_tool_results() -> None:
    call = OPENAI.parse(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "sunny"},
            ],
            "tool_choice": "none",
        }
    )
    assert call.prompt.tool_result == "sunny"
    assert call.prompt.tool_choice is ToolChoice.NONE


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, None),
        ({"model": "m"}, "missing_required_parameter"),
        ({"model": "m", "messages": []}, "empty_array"),
        ([1, 2], None),
    ],
)
def test_openai_rejects_like_the_real_api(body: Any, code: str | None) -> None:
    with pytest.raises(Rejected) as info:
        OPENAI.parse(body)
    assert info.value.error.status == 400
    assert info.value.error.body["error"]["type"] == "invalid_request_error"
    assert info.value.error.body["error"]["code"] == code


def test_openai_errors_and_headers() -> None:
    limited = OPENAI.error(429, retry_after=1.5)
    assert limited.headers == {"retry-after": "2", "retry-after-ms": "1500"}
    assert limited.body["error"]["code"] == "rate_limit_exceeded"
    assert OPENAI.error(529, retry_after=1).status == 503
    ctx = OPENAI.context_exceeded(200, 100)
    assert ctx.body["error"]["code"] == "context_length_exceeded"
    headers = OPENAI.headers(Limits("req_1", 0.0, requests_remaining=0, requests_reset_s=0.25))
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "250ms"


@pytest.mark.parametrize(("seconds", "text"), [(0.006, "6ms"), (1, "1s"), (59.5, "59.5s"), (90, "1m30s")])
def test_openai_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_openai_stream_carries_the_same_answer_as_json() -> None:
    call = OPENAI.parse(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "echo: a b c"}],
            "n": 2,
            "stream_options": {"include_usage": True},
        }
    )
    r = reply(answer(call.prompt))
    body = OPENAI.body(call, r)
    assert [c["message"]["content"] for c in body["choices"]] == ["a b c", "a b c"]
    events = OPENAI.events(call, r)
    assert events.closing.endswith(b"data: [DONE]\n\n")
    chunks = sse_data(events.opening + b"".join(events.content) + events.closing)
    text = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == 0
    )
    assert text == "a b c"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == body["usage"]


def test_openai_tool_call_stream_fragments_rebuild_the_arguments() -> None:
    result = Answer("", Finish.TOOL_CALL, 5, 5, ToolCall("w", {"city": "Oslo"}, json.dumps({"city": "Oslo"})))
    call = Call("m", Prompt(user_text="x"), stream=True)
    events = OPENAI.events(call, reply(result))
    chunks = sse_data(events.opening + b"".join(events.content))
    header = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert header["function"]["name"] == "w" and header["id"].startswith("call_")
    args = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks)
    assert json.loads(args) == {"city": "Oslo"}
    assert 2 <= len(chunks) - 1 <= 3


# ---- Anthropic ---------------------------------------------------------------------------------
def test_anthropic_requires_max_tokens() -> None:
    with pytest.raises(Rejected) as info:
        ANTHROPIC.parse({"model": "c", "messages": [{"role": "user", "content": "x"}]})
    assert info.value.error.status == 400
    assert info.value.error.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


def test_anthropic_parse_reads_blocks_tools_and_results() -> None:
    call = ANTHROPIC.parse(
        {
            "model": "c",
            "max_tokens": 50,
            "system": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
            "tools": [
                {"name": "w", "input_schema": SCHEMA},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "weather in Rome?"}]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {"city": "Rome"}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [{"type": "text", "text": "warm"}],
                        }
                    ],
                },
            ],
        }
    )
    p = call.prompt
    assert p.system == "One.\nTwo."
    assert p.user_text == "weather in Rome?"
    assert p.tool_result == "warm"
    assert [t.name for t in p.tools] == ["w"]
    assert p.tool_choice is ToolChoice.REQUIRED
    assert answer(p).text == "Tool result received: warm"


def test_anthropic_stream_events_in_order() -> None:
    call = ANTHROPIC.parse(
        {
            "model": "c",
            "max_tokens": 9,
            "stream": True,
            "messages": [{"role": "user", "content": "echo: hi you"}],
        }
    )
    events = ANTHROPIC.events(call, reply(answer(call.prompt)))
    names = [
        line[7:].decode()
        for line in (events.opening + b"".join(events.content) + events.closing).split(b"\n")
        if line.startswith(b"event: ")
    ]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert ANTHROPIC.stream_error(call, first=False).startswith(b"event: error\n")


def test_anthropic_errors() -> None:
    overloaded = ANTHROPIC.error(529, retry_after=1)
    assert overloaded.status == 529
    assert overloaded.body["error"]["type"] == "overloaded_error"
    limited = ANTHROPIC.error(429, retry_after=3)
    assert limited.headers == {"retry-after": "3"}
    assert limited.body["error"]["type"] == "rate_limit_error"
    assert "prompt is too long" in ANTHROPIC.context_exceeded(10, 5).body["error"]["message"]
    headers = ANTHROPIC.headers(Limits("req_1", 0.0, requests_reset_s=30))
    assert headers["anthropic-ratelimit-requests-reset"] == "1970-01-01T00:00:30Z"
    assert headers["request-id"] == "req_1"


# ---- Gemini ------------------------------------------------------------------------------------
def test_gemini_parse_accepts_snake_and_camel_case() -> None:
    call = GEMINI.parse(
        {
            "system_instruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "weather in Lima?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {"city": "Lima"}}}]},
                {
                    "role": "user",
                    "parts": [{"function_response": {"name": "w", "response": {"result": "mild"}}}],
                },
            ],
            "tools": [{"function_declarations": [{"name": "w", "parameters": SCHEMA}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["w"]}},
            "generationConfig": {"maxOutputTokens": 4, "responseMimeType": "application/json"},
        },
        path_model="gemini-2.5-flash",
        stream=True,
    )
    p = call.prompt
    assert (call.model, call.stream) == ("gemini-2.5-flash", True)
    assert p.system == "Be brief."
    assert p.tool_result == "mild"
    assert (p.tool_choice, p.forced_tool) == (ToolChoice.REQUIRED, "w")
    assert p.json_mode and p.max_tokens == 4


def test_gemini_rejects_missing_contents_and_maps_errors() -> None:
    with pytest.raises(Rejected) as info:
        GEMINI.parse({}, path_model="g")
    assert info.value.error.body["error"]["status"] == "INVALID_ARGUMENT"
    limited = GEMINI.error(429, retry_after=2)
    assert limited.body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert limited.body["error"]["details"][0]["retryDelay"] == "2s"
    assert GEMINI.error(529, retry_after=1).body["error"] == {
        "code": 503,
        "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE",
    }


def test_gemini_array_stream_is_one_json_array() -> None:
    call = GEMINI.parse(
        {"contents": [{"parts": [{"text": "echo: one two three"}]}]}, path_model="g", stream=True
    )
    call = Call(call.model, call.prompt, stream=True, sse=False)
    events = GEMINI.events(call, reply(answer(call.prompt)))
    items = orjson.loads(events.opening + b"".join(events.content) + events.closing)
    assert "".join(i["candidates"][0]["content"]["parts"][0]["text"] for i in items) == "one two three"
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
    cut_short = events.opening + events.content[0] + GEMINI.stream_error(call, first=False)
    assert orjson.loads(cut_short)[-1]["error"]["code"] == 503
