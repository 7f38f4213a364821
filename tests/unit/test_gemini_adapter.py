"""The Gemini adapter against a scripted upstream on a real socket: URLs and auth, the SSE stream,
safety blocks as content filters, and error classes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Dialect, Target
from seawall.errors import ContentFiltered, ErrorClass, UnsupportedFeature, UpstreamError, UpstreamStreamCut
from seawall.providers import GeminiProvider
from tests.unit._fake_upstream import FakeUpstream, Reply

FIXTURES = Path(__file__).parent / "wire" / "fixtures"
EVENTS = [json.loads(line) for line in (FIXTURES / "gemini_stream_tool_call.jsonl").read_text().splitlines()]
ANSWER = json.loads((FIXTURES / "from_gemini_tool_calls.json").read_text())
TARGET = Target("ge", "gemini-target")


def sse(events: list[dict[str, Any]]) -> list[bytes]:
    return [b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events]


def request(**body: Any) -> ChatRequest:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **body}
    return ChatRequest(body=body, model="chat", stream=bool(body.get("stream")))


def provider(url: str) -> GeminiProvider:
    # `created` of translated answers comes from the provider's clock: fixed here
    return GeminiProvider("ge", url, api_key="gm-key", clock=ManualClock(wall_start=1_700_000_000.0))


async def collect(chunks: AsyncIterator[Chunk]) -> list[Chunk]:
    return [chunk async for chunk in chunks]


async def attempt(p: GeminiProvider, request: ChatRequest, info: AttemptInfo) -> object:
    if request.stream:
        return await collect(p.stream(request, TARGET, AttemptTimeouts(), info))
    return await p.complete(request, TARGET, AttemptTimeouts(), info)


async def test_completion_url_auth_and_translation() -> None:
    async with FakeUpstream(Reply(body=orjson.dumps(ANSWER["gemini"]))) as up:
        p = provider(up.url)
        info = AttemptInfo()
        completion = await p.complete(request(max_tokens=20, top_k=3), TARGET, AttemptTimeouts(), info)
        await p.aclose()
    sent = up.requests[0]
    assert sent.path == "/v1beta/models/gemini-target:generateContent"
    assert sent.query == {}  # the key never travels in the URL
    assert sent.headers["x-goog-api-key"] == "gm-key"
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 20, "topK": 3},
    }
    expected = {**ANSWER["expected"], "created": 1700000000}
    assert completion.body == expected
    assert completion.native is None
    assert info.response_model == "gemini-3-flash-preview"
    assert info.usage == expected["usage"]
    assert "gm-key" not in info.url


async def test_stream_url_and_chunks() -> None:
    async with FakeUpstream(Reply(stream=sse(EVENTS))) as up:
        p = provider(up.url)
        info = AttemptInfo()
        chunks = await collect(p.stream(request(stream=True), TARGET, AttemptTimeouts(), info))
        await p.aclose()
    assert up.requests[0].path == "/v1beta/models/gemini-target:streamGenerateContent"
    assert up.requests[0].query == {"alt": "sse"}
    expected = json.loads((FIXTURES / "gemini_stream_tool_call.chunks.json").read_text())
    assert [c.data for c in chunks] == expected
    assert not chunks[0].content and all(c.content for c in chunks[1:])
    assert info.usage == expected[-1]["usage"]
    assert info.response_model == "gemini-3-flash-preview"


async def test_stream_that_ends_before_the_finish_is_cut() -> None:
    async with FakeUpstream(Reply(stream=sse(EVENTS[:-1]))) as up:
        p = provider(up.url)
        with pytest.raises(UpstreamStreamCut):
            await collect(p.stream(request(stream=True), TARGET, AttemptTimeouts(), AttemptInfo()))
        await p.aclose()


BLOCKED = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
SAFETY_FINISH = {
    "candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "SAFETY", "index": 0}]
}


@pytest.mark.parametrize("answer", [BLOCKED, SAFETY_FINISH])
@pytest.mark.parametrize("stream", [False, True])
async def test_safety_blocks_are_content_filtered(answer: dict[str, Any], stream: bool) -> None:
    reply = Reply(stream=sse([answer])) if stream else Reply(body=orjson.dumps(answer))
    async with FakeUpstream(reply) as up:
        p = provider(up.url)
        with pytest.raises(ContentFiltered) as info:
            await attempt(p, request(stream=stream), AttemptInfo())
        await p.aclose()
    assert info.value.error_class is ErrorClass.CONTENT_FILTER
    assert not info.value.error_class.may_fall_back


def _error(code: int, status: str, message: str, details: list[Any] | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "status": status, "message": message, "details": details or []}}
    )


RETRY_INFO = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]


@pytest.mark.parametrize(
    ("status", "body", "error_class", "retry_after"),
    [
        (429, _error(429, "RESOURCE_EXHAUSTED", "quota", RETRY_INFO), ErrorClass.RATE_LIMITED, 12.0),
        (503, _error(503, "UNAVAILABLE", "The model is overloaded."), ErrorClass.OVERLOADED, None),
        (500, _error(500, "INTERNAL", "oops"), ErrorClass.SERVER_ERROR, None),
        (403, _error(403, "PERMISSION_DENIED", "no"), ErrorClass.AUTH, None),
        (404, _error(404, "NOT_FOUND", "no model"), ErrorClass.NOT_FOUND, None),
        (
            400,
            _error(400, "INVALID_ARGUMENT", "The input token count exceeds"),
            ErrorClass.CONTEXT_LENGTH,
            None,
        ),
        (400, _error(400, "INVALID_ARGUMENT", "bad"), ErrorClass.BAD_REQUEST, None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_http_errors_are_classified(
    status: int, body: bytes, error_class: ErrorClass, retry_after: float | None, stream: bool
) -> None:
    async with FakeUpstream(Reply(status=status, body=body)) as up:
        p = provider(up.url)
        info = AttemptInfo()
        with pytest.raises(UpstreamError) as caught:
            await attempt(p, request(stream=stream), info)
        await p.aclose()
    assert caught.value.error_class is error_class
    assert caught.value.retry_after_s == retry_after
    assert info.status == status and info.response_body == body


async def test_in_stream_error_event_is_classified() -> None:
    error = orjson.loads(_error(503, "UNAVAILABLE", "The model is overloaded."))
    async with FakeUpstream(Reply(stream=sse([EVENTS[0], error]))) as up:
        p = provider(up.url)
        with pytest.raises(UpstreamError) as caught:
            await collect(p.stream(request(stream=True), TARGET, AttemptTimeouts(), AttemptInfo()))
        await p.aclose()
    assert caught.value.error_class is ErrorClass.OVERLOADED


@pytest.mark.parametrize("body", [{"logprobs": True}, {"web_search_options": {}}])
async def test_unsupported_features_are_refused_before_any_call(body: dict[str, Any]) -> None:
    async with FakeUpstream() as up:
        p = provider(up.url)
        with pytest.raises(UnsupportedFeature) as info:
            await p.complete(request(**body), TARGET, AttemptTimeouts(), AttemptInfo())
        await p.aclose()
    assert info.value.param == next(iter(body))
    assert up.requests == []


async def test_untranslatable_anthropic_request_is_refused() -> None:
    reason = UnsupportedFeature("thinking", param="thinking")
    anthropic_only = ChatRequest(
        body={"model": "c", "messages": []},
        model="c",
        ingress=Dialect.ANTHROPIC,
        native_body={"thinking": {"type": "enabled"}},
        untranslatable=reason,
    )
    p = provider("http://127.0.0.1:9")
    with pytest.raises(UnsupportedFeature) as info:
        await collect(p.stream(anthropic_only, TARGET, AttemptTimeouts(), AttemptInfo()))
    assert info.value is reason


@pytest.mark.parametrize(
    ("base", "model", "url"),
    [
        ("http://h", "gemini-x", "http://h/v1beta/models/gemini-x:generateContent"),
        ("http://h/v1beta/", "models/gemini-x", "http://h/v1beta/models/gemini-x:generateContent"),
        ("http://h/v1", "gemini-x", "http://h/v1/models/gemini-x:generateContent"),
    ],
)
def test_url_forms(base: str, model: str, url: str) -> None:
    assert GeminiProvider("ge", base)._url(Target("ge", model), stream=False) == url
