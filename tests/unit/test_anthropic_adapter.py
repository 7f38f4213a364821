"""The Anthropic adapter against a scripted upstream on a real socket: translation, pass-through
(exact bytes both ways), error classes, rate-limit headers, and the in-stream error event."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Dialect, Target
from seawall.errors import (
    ErrorClass,
    UnsupportedFeature,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamStreamCut,
)
from seawall.providers import AnthropicProvider
from seawall.providers._anthropic_wire import AnthropicStreamDecoder
from seawall.providers._http import SSEParser
from tests.unit._fake_upstream import FakeUpstream, Reply

FIXTURES = Path(__file__).parent / "wire" / "fixtures"
STREAM = (FIXTURES / "anthropic_stream_tool_use.sse").read_bytes()
TARGET = Target("an", "claude-target")
MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-target-2025",
    "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "42"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "output_tokens": 2,
        "cache_read_input_tokens": 4,
        "service_tier": "standard",
    },
}
RL_HEADERS = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "request-id": "req_1",
}
NATIVE = {
    "model": "chat",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
    "thinking": {"type": "enabled", "budget_tokens": 64},
    "temperature": 1,
    "stream": True,
}


def openai_request(**body: Any) -> ChatRequest:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **body}
    return ChatRequest(body=body, model="chat", stream=bool(body.get("stream")))


def native_request(stream: bool = False, **extra: Any) -> ChatRequest:
    native = {**NATIVE, "stream": stream}
    return ChatRequest(
        body={"model": "chat", "messages": []},
        model="chat",
        stream=stream,
        ingress=Dialect.ANTHROPIC,
        native_body=native,
        **extra,
    )


def provider(url: str, **kw: Any) -> AnthropicProvider:
    # `created` of translated answers comes from the provider's clock: fixed here
    kw.setdefault("clock", ManualClock(wall_start=1_700_000_000.0))
    return AnthropicProvider("an", url, api_key="sk-ant-test", **kw)


async def collect(chunks: AsyncIterator[Chunk], into: list[Chunk] | None = None) -> list[Chunk]:
    out = [] if into is None else into
    async for chunk in chunks:
        out.append(chunk)  # kept even when a later chunk fails
    return out


async def attempt(p: AnthropicProvider, request: ChatRequest, info: AttemptInfo) -> object:
    if request.stream:
        return await collect(p.stream(request, TARGET, AttemptTimeouts(), info))
    return await p.complete(request, TARGET, AttemptTimeouts(), info)


async def test_translated_completion_fills_attempt_info() -> None:
    async with FakeUpstream(Reply(body=orjson.dumps(MESSAGE), headers=RL_HEADERS)) as up:
        p = provider(up.url)
        info = AttemptInfo()
        completion = await p.complete(
            openai_request(max_tokens=50, temperature=1.5), TARGET, AttemptTimeouts(), info
        )
        await p.aclose()
    sent = up.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test" and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": "claude-target",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50,
        "temperature": 1,  # clamped to Anthropic's 0-1
    }
    assert completion.native is None and completion.raw is None
    assert completion.body["choices"][0]["message"]["content"] == "42"
    assert completion.body["usage"] == {
        "prompt_tokens": 14,
        "completion_tokens": 2,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    assert info.url == up.url + "/v1/messages" and info.status == 200
    assert info.response_model == "claude-target-2025"
    assert info.ratelimit == {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
    }
    assert b"sk-ant-test" not in info.request_body


async def test_default_max_tokens_when_the_client_gives_none() -> None:
    async with FakeUpstream(Reply(body=orjson.dumps(MESSAGE))) as up:
        p = provider(up.url, default_max_tokens=777)
        await p.complete(openai_request(), TARGET, AttemptTimeouts(), AttemptInfo())
        await p.aclose()
    assert up.requests[0].body["max_tokens"] == 777


async def test_passthrough_completion_sends_the_client_body_and_returns_exact_bytes() -> None:
    raw = orjson.dumps(MESSAGE) + b"\n"
    async with FakeUpstream(Reply(body=raw)) as up:
        p = provider(up.url, headers={"anthropic-beta": "a-1"})
        request = native_request(native_headers={"anthropic-beta": "b-2,a-1"})
        completion = await p.complete(request, TARGET, AttemptTimeouts(), AttemptInfo())
        await p.aclose()
    expected = {k: v for k, v in NATIVE.items() if k != "stream"}
    assert up.requests[0].body == {**expected, "model": "claude-target"}
    assert up.requests[0].headers["anthropic-beta"] == "a-1,b-2"
    assert completion.native == raw
    assert completion.body["choices"][0]["message"]["content"] == "42"


async def test_sampling_params_off_strips_them_in_both_modes() -> None:
    async with FakeUpstream(Reply(body=orjson.dumps(MESSAGE)), Reply(body=orjson.dumps(MESSAGE))) as up:
        p = provider(up.url, sampling_params=False)
        await p.complete(openai_request(temperature=0.2, top_p=0.5), TARGET, AttemptTimeouts(), AttemptInfo())
        await p.complete(native_request(), TARGET, AttemptTimeouts(), AttemptInfo())
        await p.aclose()
    for received in up.requests:
        assert not {"temperature", "top_p", "top_k"} & set(received.body)


async def test_passthrough_stream_relays_every_upstream_byte() -> None:
    pieces = [STREAM[i : i + 97] for i in range(0, len(STREAM), 97)]  # events split across reads
    async with FakeUpstream(Reply(stream=pieces, headers=RL_HEADERS)) as up:
        p = provider(up.url)
        info = AttemptInfo()
        chunks = await collect(p.stream(native_request(stream=True), TARGET, AttemptTimeouts(), info))
        await p.aclose()
    assert up.requests[0].body["stream"] is True
    assert b"".join(c.native or b"" for c in chunks) == STREAM
    assert all(c.native is not None for c in chunks)
    # the canonical view is the translated stream, unchanged
    expected = _decode_all(STREAM)
    assert [c.data for c in chunks if c.data] == expected
    first_content = next(i for i, c in enumerate(chunks) if c.content)
    assert chunks[first_content].native is not None and b"text_delta" in chunks[first_content].native
    assert not any(c.content for c in chunks[:first_content])  # message_start, block start, ping
    assert info.usage == expected[-1]["usage"]
    assert info.response_model == "claude-sonnet-4-5-20250929"
    assert info.ratelimit["anthropic-ratelimit-requests-remaining"] == "49"


async def test_translated_stream_yields_canonical_chunks_only() -> None:
    async with FakeUpstream(Reply(stream=[STREAM])) as up:
        p = provider(up.url)
        chunks = await collect(
            p.stream(openai_request(stream=True), TARGET, AttemptTimeouts(), AttemptInfo())
        )
        await p.aclose()
    assert all(c.native is None for c in chunks)
    assert [c.data for c in chunks] == _decode_all(STREAM)


def _decode_all(stream: bytes) -> list[dict[str, Any]]:
    decoder = AnthropicStreamDecoder(request_model="claude-target")
    out: list[dict[str, Any]] = []
    for event, payload in SSEParser().feed(stream):
        out += decoder.feed(event or "", orjson.loads(payload))
    return out


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("seawall.providers._anthropic_stream.now_s", lambda: 1700000000)


OVERLOADED = (
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)


async def test_in_stream_overloaded_error_is_raised_as_overloaded() -> None:
    head = STREAM.split(b"event: content_block_delta")[0]
    seen: list[Chunk] = []
    async with FakeUpstream(Reply(stream=[head, OVERLOADED])) as up:
        p = provider(up.url)
        with pytest.raises(UpstreamError) as info:
            await collect(
                p.stream(native_request(stream=True), TARGET, AttemptTimeouts(), AttemptInfo()), seen
            )
        await p.aclose()
    assert info.value.error_class is ErrorClass.OVERLOADED
    assert orjson.loads(info.value.body or b"")["error"]["type"] == "overloaded_error"
    assert len(seen) == 3  # message_start, content_block_start and ping, passed through
    assert not any(c.content for c in seen)  # nothing the client must see yet: fallback is allowed


async def test_stream_without_message_stop_is_cut() -> None:
    async with FakeUpstream(Reply(stream=[STREAM.split(b"event: message_delta")[0]])) as up:
        p = provider(up.url)
        with pytest.raises(UpstreamStreamCut):
            await collect(p.stream(openai_request(stream=True), TARGET, AttemptTimeouts(), AttemptInfo()))
        await p.aclose()


async def test_malformed_stream_event_is_a_bad_response() -> None:
    async with FakeUpstream(Reply(stream=[b'event: message_start\ndata: {"type":"mess\n\n'])) as up:
        p = provider(up.url)
        with pytest.raises(UpstreamBadResponse):
            await collect(p.stream(openai_request(stream=True), TARGET, AttemptTimeouts(), AttemptInfo()))
        await p.aclose()


def _error(kind: str, message: str = "boom") -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


@pytest.mark.parametrize(
    ("reply", "error_class", "retry_after"),
    [
        (Reply(529, _error("overloaded_error", "Overloaded")), ErrorClass.OVERLOADED, None),
        (Reply(429, _error("rate_limit_error"), {"retry-after": "17"}), ErrorClass.RATE_LIMITED, 17.0),
        (
            Reply(429, _error("rate_limit_error"), {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}),
            ErrorClass.RATE_LIMITED,
            "future",
        ),
        (Reply(500, _error("api_error")), ErrorClass.SERVER_ERROR, None),
        (Reply(401, _error("authentication_error")), ErrorClass.AUTH, None),
        (Reply(404, _error("not_found_error")), ErrorClass.NOT_FOUND, None),
        (
            Reply(400, _error("invalid_request_error", "prompt is too long: 9 > 5")),
            ErrorClass.CONTEXT_LENGTH,
            None,
        ),
        (Reply(400, _error("invalid_request_error")), ErrorClass.BAD_REQUEST, None),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_http_errors_are_classified(
    reply: Reply, error_class: ErrorClass, retry_after: Any, stream: bool
) -> None:
    async with FakeUpstream(dataclasses.replace(reply, headers={**RL_HEADERS, **reply.headers})) as up:
        p = provider(up.url)
        info = AttemptInfo()
        with pytest.raises(UpstreamError) as caught:
            await attempt(p, openai_request(stream=stream), info)
        await p.aclose()
    assert caught.value.error_class is error_class
    assert caught.value.upstream_status == reply.status
    if retry_after == "future":
        assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 1000
    else:
        assert caught.value.retry_after_s == retry_after
    assert info.status == reply.status and info.response_body == reply.body
    assert info.ratelimit["anthropic-ratelimit-requests-limit"] == "50"


async def test_unsupported_feature_is_refused_before_any_call() -> None:
    async with FakeUpstream() as up:
        p = provider(up.url)
        with pytest.raises(UnsupportedFeature) as info:
            await p.complete(openai_request(logprobs=True), TARGET, AttemptTimeouts(), AttemptInfo())
        await p.aclose()
    assert info.value.param == "logprobs"
    assert up.requests == []


async def test_untranslatable_request_is_refused_unless_passed_through() -> None:
    reason = UnsupportedFeature("`x` cannot be translated", param="x")
    request = ChatRequest(body={"model": "c", "messages": []}, model="c", untranslatable=reason)
    async with FakeUpstream() as up:
        p = provider(up.url)
        with pytest.raises(UnsupportedFeature) as info:
            await p.complete(request, TARGET, AttemptTimeouts(), AttemptInfo())
        await p.aclose()
    assert info.value is reason and up.requests == []


@pytest.mark.parametrize(
    ("base", "path"),
    [("http://h", "/v1/messages"), ("http://h/", "/v1/messages"), ("http://h/v1", "/v1/messages")],
)
def test_base_url_forms(base: str, path: str) -> None:
    assert AnthropicProvider("an", base)._url == "http://h" + path
