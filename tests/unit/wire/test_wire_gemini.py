"""Canonical ⇄ Gemini generateContent (Gemini as a target): requests, schemas, answers, streams, errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from seawall.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ErrorClass,
    InvalidRequest,
    UnsupportedFeature,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from seawall.providers._gemini_wire import (
    SKIP_THOUGHT_SIGNATURE,
    GeminiStreamDecoder,
    classify_gemini_error,
    from_gemini_response,
    gemini_schema,
    to_gemini_request,
)
from tests.unit.wire._wire_testkit import FIXTURES, dumps, fixture


def req(**fields: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **fields}


def resp(parts: list[dict[str, Any]], finish: str | None = "STOP", **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "r1", "modelVersion": "gemini-x", **extra}


# --- requests -----------------------------------------------------------------------------------


def test_golden_request() -> None:
    case = fixture("to_gemini_tools_multiturn.json")
    original = copy.deepcopy(case["canonical"])
    out = to_gemini_request(case["canonical"])
    assert dumps(out) == dumps(case["expected"])
    assert case["canonical"] == original


def test_minimal_request() -> None:
    assert to_gemini_request(req()) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_tool_round_trip_through_a_gemini_answer() -> None:
    """A Gemini answer's tool calls, echoed back by the client, rebuild the same model turn."""
    answer = resp(
        [
            {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "g", "args": {}}},
        ]
    )
    message = from_gemini_response(answer, request_model="chat", created=1)["choices"][0]["message"]
    follow_up = req(
        messages=[
            {"role": "user", "content": "go"},
            {k: v for k, v in message.items() if k != "refusal"},
            {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "[1, 2]"},
            {"role": "tool", "tool_call_id": message["tool_calls"][1]["id"], "content": '{"ok": true}'},
        ]
    )
    contents = to_gemini_request(follow_up)["contents"]
    assert contents[1] == {"role": "model", "parts": answer["candidates"][0]["content"]["parts"]}
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "f", "response": {"output": "[1, 2]"}}},
            {"functionResponse": {"name": "g", "response": {"ok": True}}},
        ],
    }


def test_thought_signature_fallback_can_be_disabled() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = req(messages=[{"role": "assistant", "content": None, "tool_calls": [call, {**call, "id": "d"}]}])
    parts = to_gemini_request(body)["contents"][0]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == [SKIP_THOUGHT_SIGNATURE, None]
    parts = to_gemini_request(body, thought_signature_fallback=False)["contents"][0]["parts"]
    assert all("thoughtSignature" not in p for p in parts)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    out = to_gemini_request(req(tools=tools, tool_choice=choice))
    assert out["toolConfig"] == {"functionCallingConfig": expected}
    assert out["tools"] == [{"functionDeclarations": [{"name": "f"}]}]


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        ({"max_completion_tokens": 9, "max_tokens": 3}, {"maxOutputTokens": 9}),
        ({"stop": "x"}, {"stopSequences": ["x"]}),
        ({"n": 1}, {}),
        ({"n": 3}, {"candidateCount": 3}),
        ({"temperature": 2}, {"temperature": 2}),
        ({"response_format": {"type": "json_object"}}, {"responseMimeType": "application/json"}),
        ({"response_format": {"type": "text"}}, {}),
        ({"reasoning_effort": "none"}, {"thinkingConfig": {"thinkingLevel": "minimal"}}),
        ({"reasoning_effort": "xhigh"}, {"thinkingConfig": {"thinkingLevel": "high"}}),
    ],
)
def test_generation_config(fields: dict[str, Any], config: dict[str, Any]) -> None:
    assert to_gemini_request(req(**fields)).get("generationConfig", {}) == config


def test_media_parts() -> None:
    content = [
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.webp"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/photo"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
    ]
    parts = to_gemini_request(req(messages=[{"role": "user", "content": content}]))["contents"][0]["parts"]
    assert parts == [
        {"fileData": {"fileUri": "gs://bucket/cat.webp", "mimeType": "image/webp"}},
        {"fileData": {"fileUri": "https://x.test/photo"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
    ]


@pytest.mark.parametrize(
    "field",
    ["parallel_tool_calls", "user", "safety_identifier", "cache_control", "store", "verbosity", "stream"],
)
def test_dropped_fields(field: str) -> None:
    value: Any = {"type": "ephemeral"} if field == "cache_control" else True
    assert to_gemini_request(req(**{field: value})) == to_gemini_request(req())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (req(logprobs=True), "logprobs"),
        (req(top_logprobs=2), "top_logprobs"),
        (req(logit_bias={"5": 1}), "logit_bias"),
        (req(modalities=["audio"]), "modalities"),
        (req(audio={}), "audio"),
        (req(functions=[]), "functions"),
        (req(tools=[{"type": "custom", "custom": {}}]), "tools[0].type"),
        (
            req(
                tools=[{"type": "function", "function": {"name": "f"}}], tool_choice={"type": "allowed_tools"}
            ),
            "tool_choice",
        ),
        (
            req(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]),
            "messages[0].content[0].file",
        ),
        (req(messages=[{"role": "function", "content": "x", "name": "f"}]), "messages[0]"),
        (
            req(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"not": {}}}}),
            "response_format.json_schema.schema.not",
        ),
    ],
)
def test_unsupported_features(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        to_gemini_request(body)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (req(messages=[]), "messages"),
        (
            req(messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}]),
            "messages[0].tool_call_id",
        ),
        (
            req(
                messages=[
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///x"}}]}
                ]
            ),
            "messages[0].content[0].image_url.url",
        ),
        (req(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
        (req(temperature=3), "temperature"),
        (req(presence_penalty=5), "presence_penalty"),
        (req(seed=1.5), "seed"),
        (req(tool_choice="required"), "tool_choice"),
        (req(reasoning_effort="lots"), "reasoning_effort"),
        (req(response_format={"type": "xml"}), "response_format.type"),
    ],
)
def test_invalid_requests(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_gemini_request(body)
    assert info.value.param == param


# --- schemas ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "$schema": "x", "additionalProperties": False}, {"type": "STRING"}),
        ({"type": ["integer", "null"]}, {"type": "INTEGER", "nullable": True}),
        ({"type": ["string", "number"]}, {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}),
        ({"type": "null"}, {"type": "NULL"}),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
        ),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "STRING", "nullable": True}),
        ({"const": "x"}, {"enum": ["x"], "type": "STRING"}),
        ({"type": "string", "enum": ["a", None]}, {"type": "STRING", "nullable": True, "enum": ["a"]}),
        ({"type": "string", "format": "email"}, {"type": "STRING"}),
        (
            {"type": "integer", "format": "int64", "minimum": 0, "exclusiveMaximum": 9},
            {"type": "INTEGER", "minimum": 0, "format": "int64"},
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
            {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1},
        ),
        (
            {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}], "description": "d"},
            {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "description": "d"},
        ),
        (
            {
                "definitions": {"A": {"type": "boolean"}},
                "type": "object",
                "properties": {"a": {"$ref": "#/definitions/A"}},
            },
            {"type": "OBJECT", "properties": {"a": {"type": "BOOLEAN"}}},
        ),
        (
            {"type": "object", "properties": {"$ref": {"type": "string"}}},
            {"type": "OBJECT", "properties": {"$ref": {"type": "STRING"}}},
        ),
    ],
)
def test_schema_translation(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert gemini_schema(schema, param="p") == expected


@pytest.mark.parametrize(
    ("schema", "param"),
    [
        (
            {
                "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                "$ref": "#/$defs/N",
            },
            "p.properties.next.$ref",
        ),
        ({"$ref": "https://example.com/schema.json"}, "p.$ref"),
        ({"allOf": [{"type": "string"}, {"minLength": 1}]}, "p.allOf"),
        ({"if": {}, "then": {}}, "p.if"),
        ({"type": "array", "items": [{"type": "string"}]}, "p.items"),
        ({"type": "integer", "enum": [1, 2]}, "p.enum"),
    ],
)
def test_schema_rejections(schema: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFeature) as info:
        gemini_schema(schema, param="p")
    assert info.value.param == param


# --- whole responses ----------------------------------------------------------------------------


def test_golden_response() -> None:
    case = fixture("from_gemini_tool_calls.json")
    out = from_gemini_response(case["gemini"], request_model=case["request_model"], created=case["created"])
    assert dumps(out) == dumps(case["expected"])
    ChatCompletion.model_validate(out)


@pytest.mark.parametrize(
    ("finish", "parts", "expected"),
    [
        ("STOP", [{"text": "a"}], "stop"),
        (None, [{"text": "a"}], "stop"),
        ("FINISH_REASON_UNSPECIFIED", [{"text": "a"}], "stop"),
        ("MAX_TOKENS", [{"text": "a"}], "length"),
        ("STOP", [{"functionCall": {"name": "f"}}], "tool_calls"),
        ("MAX_TOKENS", [{"functionCall": {"name": "f", "args": {}}}], "length"),
    ],
)
def test_finish_reasons(finish: str | None, parts: list[dict[str, Any]], expected: str) -> None:
    out = from_gemini_response(resp(parts, finish), request_model="chat", created=1)
    assert out["choices"][0]["finish_reason"] == expected


@pytest.mark.parametrize(
    ("finish", "cls"),
    [
        ("SAFETY", ContentFiltered),
        ("RECITATION", ContentFiltered),
        ("BLOCKLIST", ContentFiltered),
        ("PROHIBITED_CONTENT", ContentFiltered),
        ("SPII", ContentFiltered),
        ("LANGUAGE", ContentFiltered),
        ("IMAGE_SAFETY", ContentFiltered),
        ("MISSING_THOUGHT_SIGNATURE", UpstreamRejected),
        ("MALFORMED_FUNCTION_CALL", UpstreamBadResponse),
        ("UNEXPECTED_TOOL_CALL", UpstreamBadResponse),
        ("TOO_MANY_TOOL_CALLS", UpstreamBadResponse),
        ("OTHER", UpstreamBadResponse),
        ("SOMETHING_NEW", UpstreamBadResponse),
    ],
)
def test_unusable_finishes_raise(finish: str, cls: type[UpstreamError]) -> None:
    with pytest.raises(UpstreamError) as info:
        from_gemini_response(resp([{"text": "partial"}], finish), request_model="chat")
    assert type(info.value) is cls
    if cls is ContentFiltered:
        assert info.value.error_class is ErrorClass.CONTENT_FILTER


def test_prompt_block_raises_content_filtered() -> None:
    blocked = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 5},
    }
    with pytest.raises(ContentFiltered, match="PROHIBITED_CONTENT"):
        from_gemini_response(blocked, request_model="chat")


def test_multiple_candidates_become_choices() -> None:
    answer = resp([{"text": "a"}])
    answer["candidates"].append({"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1})
    out = from_gemini_response(answer, request_model="chat", created=1)
    assert [(c["index"], c["message"]["content"]) for c in out["choices"]] == [(0, "a"), (1, "b")]


def test_missing_metadata_defaults() -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "x"}]}}]}
    out = from_gemini_response(answer, request_model="chat", created=1)
    assert out["model"] == "chat" and out["id"].startswith("chatcmpl-")
    assert out["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    "bad", [{}, {"candidates": []}, {"candidates": ["x"]}, resp([{"functionCall": {"args": {}}}])]
)
def test_malformed_responses(bad: dict[str, Any]) -> None:
    with pytest.raises(UpstreamBadResponse):
        from_gemini_response(bad, request_model="chat")


# --- streaming ----------------------------------------------------------------------------------


def recorded() -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (FIXTURES / "gemini_stream_tool_call.jsonl").read_text().splitlines()
    ]


def test_recorded_stream_golden_and_accumulation() -> None:
    decoder = GeminiStreamDecoder(request_model="chat", created=1700000000)
    chunks = [chunk for data in recorded() for chunk in decoder.feed(data)]
    assert dumps(chunks) == dumps(fixture("gemini_stream_tool_call.chunks.json"))
    assert decoder.done and decoder.finish_reason == "tool_calls"
    assert decoder.feed(recorded()[0]) == []
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion().choices[0]
    assert final.message.content == "Let me look that up."
    assert final.message.tool_calls is not None
    assert json.loads(final.message.tool_calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}


def test_stream_safety_block_raises_mid_stream() -> None:
    decoder = GeminiStreamDecoder(request_model="chat", created=1)
    assert decoder.feed(resp([{"text": "Sure, here"}], None))
    with pytest.raises(ContentFiltered):
        decoder.feed(resp([], "SAFETY"))


def test_stream_prompt_block_and_error_payload() -> None:
    with pytest.raises(ContentFiltered):
        GeminiStreamDecoder(request_model="chat").feed({"promptFeedback": {"blockReason": "SAFETY"}})
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(UpstreamUnavailable) as info:
        GeminiStreamDecoder(request_model="chat").feed(error)
    assert info.value.error_class is ErrorClass.OVERLOADED


def test_stream_with_two_candidates_finishes_when_both_do() -> None:
    decoder = GeminiStreamDecoder(request_model="chat", created=1)
    first = resp([{"text": "a"}], "STOP")
    first["candidates"].append({"content": {"parts": [{"text": "b"}]}, "index": 1})
    chunks = decoder.feed(first)
    assert [decoder.done] == [False]
    chunks += decoder.feed(
        {"candidates": [{"content": {"parts": [{"text": "c"}]}, "index": 1, "finishReason": "MAX_TOKENS"}]}
    )
    assert decoder.done
    by_index: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            by_index[choice["index"]] = by_index.get(choice["index"], "") + choice["delta"].get("content", "")
    assert by_index == {0: "a", 1: "bc"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 0


# --- HTTP errors --------------------------------------------------------------------------------


def gbody(code: int, status: str, message: str = "x", details: list[Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


RETRY_INFO = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]
KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
    }
]


G_AUTH = (UpstreamRejected, ErrorClass.AUTH, None)
G_SERVER = (UpstreamUnavailable, ErrorClass.SERVER_ERROR, None)
G_BAD = (UpstreamRejected, ErrorClass.BAD_REQUEST, None)
TOKENS = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
BUSY = "The model is overloaded. Please try again later."


@pytest.mark.parametrize(
    ("status", "payload", "headers", "expected"),
    [
        (
            429,
            gbody(429, "RESOURCE_EXHAUSTED", "Quota", RETRY_INFO),
            {},
            (UpstreamRateLimited, ErrorClass.RATE_LIMITED, 17.0),
        ),
        (
            429,
            gbody(429, "RESOURCE_EXHAUSTED"),
            {"retry-after": "2"},
            (UpstreamRateLimited, ErrorClass.RATE_LIMITED, 2.0),
        ),
        (400, gbody(400, "INVALID_ARGUMENT", "API key not valid.", KEY_INVALID), {}, G_AUTH),
        (400, gbody(400, "FAILED_PRECONDITION", "User location is not supported"), {}, G_AUTH),
        (401, gbody(401, "UNAUTHENTICATED"), {}, G_AUTH),
        (403, gbody(403, "PERMISSION_DENIED"), {}, G_AUTH),
        (
            404,
            gbody(404, "NOT_FOUND", "models/gemini-9 is not found"),
            {},
            (UpstreamRejected, ErrorClass.NOT_FOUND, None),
        ),
        (
            400,
            gbody(400, "INVALID_ARGUMENT", TOKENS),
            {},
            (ContextLengthExceeded, ErrorClass.CONTEXT_LENGTH, None),
        ),
        (400, gbody(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), {}, G_BAD),
        (500, gbody(500, "INTERNAL"), {}, G_SERVER),
        (503, gbody(503, "UNAVAILABLE", BUSY), {}, (UpstreamUnavailable, ErrorClass.OVERLOADED, None)),
        (503, gbody(503, "UNAVAILABLE", "Service unavailable"), {}, G_SERVER),
        (504, gbody(504, "DEADLINE_EXCEEDED"), {}, (UpstreamTimeout, ErrorClass.TIMEOUT, None)),
        (502, b"<html>", {}, G_SERVER),
        (400, b"[" + gbody(400, "INVALID_ARGUMENT", "bad") + b"]", {}, G_BAD),
    ],
)
def test_classify_gemini_errors(
    status: int,
    payload: bytes,
    headers: dict[str, str],
    expected: tuple[type[UpstreamError], ErrorClass, float | None],
) -> None:
    cls, error_class, retry_after = expected
    err = classify_gemini_error(status, payload, headers)
    assert type(err) is cls
    assert err.error_class is error_class
    assert err.retry_after == retry_after
    assert err.upstream_status == status
