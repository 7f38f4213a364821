"""Every adapter over a `MockTransport` with a `ManualClock`: the canonical result, the error class,
and exactly what `AttemptInfo` records of the upstream's bytes (`head_at`, `reads`, bodies).

The handler moves the clock 0.5 s before the head arrives and 0.25 s before each read, so every
recorded time is known exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import orjson
import pytest

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Dialect, Target
from seawall.config import validate
from seawall.errors import (
    ErrorClass,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamStreamCut,
)
from seawall.providers import (
    USE_CLIENT_DEFAULT,
    AnthropicProvider,
    ConnectError,
    Disconnected,
    GeminiProvider,
    MockResponse,
    MockTransport,
    OpenAIProvider,
    UpstreamRequest,
    build_provider,
)
from seawall.providers._h1 import H1Client
from seawall.providers._http import HTTPProvider
from seawall.providers._mock import Piece

START = 1000.0
HEAD_AT = START + 0.5
TIMEOUTS = AttemptTimeouts(connect=3.0, idle=7.0)
SSE = {"content-type": "text/event-stream"}


def sse(*events: Any, name: str | None = None) -> bytes:
    prefix = b"" if name is None else b"event: " + name.encode() + b"\n"
    return b"".join(prefix + b"data: " + orjson.dumps(e) + b"\n\n" for e in events)


# -- the three dialects: one answer, one stream, one error of each --------------------------------


def _openai_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "gpt-up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


OPENAI_ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "model": "gpt-up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
OPENAI_OPENING = sse(_openai_chunk({"role": "assistant", "content": ""}))
OPENAI_STREAM = (
    OPENAI_OPENING + sse(_openai_chunk({"content": "Hi"}), _openai_chunk({}, "stop")) + b"data: [DONE]\n\n"
)

ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-up",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
ANTHROPIC_OPENING = b"".join(
    sse(event, name=event["type"])
    for event in (
        {"type": "message_start", "message": {**ANTHROPIC_ANSWER, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    )
)
ANTHROPIC_STREAM = ANTHROPIC_OPENING + b"".join(
    sse(event, name=event["type"])
    for event in (
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    )
)

GEMINI_ANSWER = {
    "candidates": [
        {"content": {"parts": [{"text": "Hi"}], "role": "model"}, "finishReason": "STOP", "index": 0}
    ],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
    "modelVersion": "gemini-up",
}
GEMINI_OPENING = sse(
    {
        "candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "index": 0}],
        "modelVersion": "gemini-up",
    }
)
GEMINI_STREAM = GEMINI_OPENING + sse(
    {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "index": 0}]},
    {
        "candidates": [
            {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": GEMINI_ANSWER["usageMetadata"],
    },
)


@dataclass(frozen=True)
class Case:
    dialect: str
    make: Callable[..., HTTPProvider]
    url: str
    stream_url: str
    answer: dict[str, Any]
    stream: bytes
    opening: bytes
    """The first events of `stream`, none of which is content."""
    error: tuple[int, dict[str, Any]]
    """A 500 answer in this dialect."""
    model: str

    def provider(self, transport: MockTransport, clock: ManualClock) -> HTTPProvider:
        return self.make(transport=transport, clock=clock)


CASES = [
    Case(
        "openai",
        lambda **kw: OpenAIProvider("up", "http://up/v1", api_key="k", **kw),
        "http://up/v1/chat/completions",
        "http://up/v1/chat/completions",
        OPENAI_ANSWER,
        OPENAI_STREAM,
        OPENAI_OPENING,
        (500, {"error": {"message": "boom", "type": "server_error"}}),
        "gpt-up",
    ),
    Case(
        "anthropic",
        lambda **kw: AnthropicProvider("up", "http://up", api_key="k", **kw),
        "http://up/v1/messages",
        "http://up/v1/messages",
        ANTHROPIC_ANSWER,
        ANTHROPIC_STREAM,
        ANTHROPIC_OPENING,
        (500, {"type": "error", "error": {"type": "api_error", "message": "boom"}}),
        "claude-up",
    ),
    Case(
        "gemini",
        lambda **kw: GeminiProvider("up", "http://up", api_key="k", **kw),
        "http://up/v1beta/models/m:generateContent",
        "http://up/v1beta/models/m:streamGenerateContent?alt=sse",
        GEMINI_ANSWER,
        GEMINI_STREAM,
        GEMINI_OPENING,
        (500, {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
        "gemini-up",
    ),
]
BY_DIALECT = pytest.mark.parametrize("case", CASES, ids=[c.dialect for c in CASES])


def request(stream: bool) -> ChatRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return ChatRequest(body=body, model="m", stream=stream)


def split(data: bytes, *cuts: int) -> list[bytes]:
    """`data` in pieces, cut at the given offsets (events split across reads)."""
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def timed(clock: ManualClock, pieces: list[Piece]) -> Iterator[Piece]:
    """The pieces, the clock moving 0.25 s before each read (a failure takes no time)."""
    for piece in pieces:
        if isinstance(piece, bytes):
            clock.advance(0.25)
        yield piece


def answering(
    clock: ManualClock, status: int, headers: dict[str, str], pieces: list[Piece] | bytes
) -> MockTransport:
    def handler(request: UpstreamRequest) -> MockResponse:
        clock.advance(0.5)  # until the head arrives
        body = pieces if isinstance(pieces, bytes) else timed(clock, pieces)
        return MockResponse(status, headers, body)

    return MockTransport(handler)


def expected_reads(pieces: list[bytes]) -> list[tuple[float, bytes]]:
    return [(HEAD_AT + 0.25 * (i + 1), piece) for i, piece in enumerate(pieces)]


async def collect(chunks: AsyncIterator[Chunk], into: list[Chunk]) -> None:
    async for chunk in chunks:
        into.append(chunk)  # noqa: PERF401 (kept even when a later chunk fails)


async def attempt(provider: HTTPProvider, stream: bool, info: AttemptInfo) -> None:
    if stream:
        await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), [])
    else:
        await provider.complete(request(False), Target("up", "m"), TIMEOUTS, info)


def text(chunks: list[Chunk]) -> str:
    return "".join(
        c.data["choices"][0]["delta"].get("content") or "" for c in chunks if c.data.get("choices")
    )


# -- answers -----------------------------------------------------------------------------------


@BY_DIALECT
async def test_json_answer(case: Case) -> None:
    clock = ManualClock(START)
    raw = orjson.dumps(case.answer)
    transport = answering(clock, 200, {"content-type": "application/json"}, raw)
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    completion = await provider.complete(request(False), Target("up", "m"), TIMEOUTS, info)
    assert isinstance(completion, Completion)
    assert completion.body["choices"][0]["message"]["content"] == "Hi"
    assert completion.body["usage"]["total_tokens"] == 4
    assert (info.status, info.head_at, info.response_body, info.reads) == (200, HEAD_AT, raw, [])
    assert info.response_model == case.model
    sent = transport.requests[0]
    assert (sent.method, sent.url, info.url) == ("POST", case.url, case.url)
    assert (
        sent.body == info.request_body
        and orjson.loads(sent.body)["model" if case.dialect != "gemini" else "contents"]
    )
    assert sent.connect_timeout is USE_CLIENT_DEFAULT and sent.head_timeout is None  # as before the seam
    assert transport.open == 0


@BY_DIALECT
async def test_stream(case: Case) -> None:
    clock = ManualClock(START)
    pieces = split(case.stream, 10, len(case.opening) + 3)  # the first and second events are split
    transport = answering(clock, 200, SSE, list(pieces))
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    chunks: list[Chunk] = []
    await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), chunks)
    assert text(chunks) == "Hi"
    assert not chunks[0].content and any(c.content for c in chunks)
    assert (info.status, info.head_at, info.response_body) == (200, HEAD_AT, None)
    assert info.reads == expected_reads(pieces)
    assert b"".join(piece for _, piece in info.reads) == case.stream
    assert info.response_model == case.model
    sent = transport.requests[0]
    assert sent.url == case.stream_url
    assert (sent.connect_timeout, sent.head_timeout) == (TIMEOUTS.connect, TIMEOUTS.idle)
    # (not `transport.open == 0`: an adapter that stops at its terminal event leaves the response
    # to the async-generator finalizer, which releases it a loop iteration or two later)


@BY_DIALECT
@pytest.mark.parametrize("stream", [False, True])
async def test_error_status_keeps_the_error_body(case: Case, stream: bool) -> None:
    clock = ManualClock(START)
    status, payload = case.error
    raw = orjson.dumps(payload)
    transport = answering(clock, status, {"content-type": "application/json"}, [raw[:7], raw[7:]])
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    with pytest.raises(UpstreamError) as caught:
        await attempt(provider, stream, info)
    assert caught.value.error_class is ErrorClass.SERVER_ERROR
    assert caught.value.upstream_status == 500
    assert (info.status, info.head_at, info.response_body) == (500, HEAD_AT, raw)
    assert info.reads == []  # an error answer is read whole, into response_body
    assert transport.open == 0


@BY_DIALECT
@pytest.mark.parametrize("stream", [False, True])
async def test_retry_after_date_is_read_with_the_injected_wall_clock(case: Case, stream: bool) -> None:
    clock = ManualClock(START)  # its wall clock reads 2026-01-01T00:00:00Z at START
    headers = {"content-type": "application/json", "retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}
    transport = answering(clock, 429, headers, orjson.dumps({"error": {"message": "slow down"}}))
    provider = case.provider(transport, clock)
    with pytest.raises(UpstreamRateLimited) as caught:
        await attempt(provider, stream, AttemptInfo())
    assert caught.value.retry_after_s == 29.5  # the head came 0.5 s after START


# -- streams that fail -------------------------------------------------------------------------


@BY_DIALECT
async def test_stream_cut_after_content_keeps_every_read(case: Case) -> None:
    clock = ManualClock(START)
    pieces = split(case.stream, len(case.opening), len(case.stream) - 20)  # the last event is lost
    transport = answering(clock, 200, SSE, [pieces[0], pieces[1], Disconnected("reset")])
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    chunks: list[Chunk] = []
    with pytest.raises(UpstreamStreamCut):
        await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), chunks)
    assert text(chunks) == "Hi"
    assert info.reads == expected_reads(pieces[:2])
    assert transport.open == 0


@BY_DIALECT
async def test_a_stream_that_fails_before_its_first_content_keeps_its_reads(case: Case) -> None:
    clock = ManualClock(START)
    pieces = split(case.opening, 5)
    transport = answering(clock, 200, SSE, [*pieces, Disconnected])
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    chunks: list[Chunk] = []
    with pytest.raises(UpstreamStreamCut):
        await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), chunks)
    assert not any(c.content for c in chunks)  # nothing the engine would commit to
    assert info.reads == expected_reads(pieces)
    assert b"".join(piece for _, piece in info.reads) == case.opening


@BY_DIALECT
async def test_stream_that_ends_early_is_cut_and_keeps_its_reads(case: Case) -> None:
    clock = ManualClock(START)
    transport = answering(clock, 200, SSE, [case.opening])  # a clean end, but no terminal event
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    with pytest.raises(UpstreamStreamCut):
        await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), [])
    assert info.reads == expected_reads([case.opening])


@BY_DIALECT
async def test_malformed_event_is_a_bad_response_and_keeps_its_reads(case: Case) -> None:
    clock = ManualClock(START)
    pieces = [case.opening, b"data: {not json\n\n"]
    transport = answering(clock, 200, SSE, list(pieces))
    provider = case.provider(transport, clock)
    info = AttemptInfo()
    chunks: list[Chunk] = []
    with pytest.raises(UpstreamBadResponse, match="malformed stream event"):
        await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), chunks)
    assert chunks and not any(c.content for c in chunks)  # the opening was decoded first
    assert info.reads == expected_reads(pieces)


@BY_DIALECT
async def test_no_connection_no_head_no_reads(case: Case) -> None:
    def handler(request: UpstreamRequest) -> MockResponse:
        raise ConnectError("refused")

    provider = case.provider(MockTransport(handler), ManualClock(START))
    info = AttemptInfo()
    with pytest.raises(UpstreamConnectionError, match="refused"):
        await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, info), [])
    assert (info.status, info.head_at, info.reads, info.url) == (None, None, [], case.stream_url)


# -- exact bytes -------------------------------------------------------------------------------


async def test_openai_relays_the_upstreams_own_bytes() -> None:
    clock = ManualClock(START)
    raw = orjson.dumps(OPENAI_ANSWER)
    provider = OpenAIProvider("up", "http://up/v1", transport=answering(clock, 200, {}, raw), clock=clock)
    completion = await provider.complete(request(False), Target("up", "m"), TIMEOUTS, AttemptInfo())
    assert completion.raw == raw
    provider = OpenAIProvider(
        "up", "http://up/v1", transport=answering(clock, 200, SSE, [OPENAI_STREAM]), clock=clock
    )
    chunks: list[Chunk] = []
    await collect(provider.stream(request(True), Target("up", "m"), TIMEOUTS, AttemptInfo()), chunks)
    assert (
        b"".join(b"data: " + (c.raw or b"") + b"\n\n" for c in chunks) + b"data: [DONE]\n\n" == OPENAI_STREAM
    )


async def test_anthropic_passthrough_relays_every_upstream_byte() -> None:
    clock = ManualClock(START)
    pieces = split(ANTHROPIC_STREAM, 40, 200, 333)
    provider = AnthropicProvider(
        "up", "http://up", transport=answering(clock, 200, SSE, list(pieces)), clock=clock
    )
    native = {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    req = ChatRequest(body={}, model="m", stream=True, ingress=Dialect.ANTHROPIC, native_body=native)
    info = AttemptInfo()
    chunks: list[Chunk] = []
    await collect(provider.stream(req, Target("up", "m"), TIMEOUTS, info), chunks)
    assert b"".join(c.native or b"" for c in chunks) == ANTHROPIC_STREAM
    assert info.reads == expected_reads(pieces)


# -- the default transport, and build_provider -------------------------------------------------


def test_the_default_transport_is_one_pooled_h1_client_per_provider_made_on_first_use() -> None:
    provider = OpenAIProvider("up", "http://up/v1", max_connections=7, connect_timeout_s=2.5)
    assert provider._transport is None  # nothing opened by building a provider
    client = provider.transport
    assert isinstance(client, H1Client) and provider.transport is client
    assert (client.max_connections, client.connect_timeout_s) == (7, 2.5)


async def test_aclose_drops_the_default_client_so_a_later_request_opens_a_new_pool() -> None:
    provider = OpenAIProvider("up", "http://up/v1")
    first = provider.transport
    await provider.aclose()
    assert provider._transport is None and provider.transport is not first
    await provider.aclose()


@BY_DIALECT
@pytest.mark.parametrize("simulated", [False, True])
async def test_build_provider_with_a_transport_and_a_clock(case: Case, simulated: bool) -> None:
    spec: dict[str, Any] = {"name": "up", "kind": case.dialect, "api_key": "k", "base_url": "http://up"}
    if case.dialect == "openai":
        spec["base_url"] = "http://up/v1"
    if simulated:
        spec = {"name": "up", "kind": "simulated", "dialect": case.dialect}
    config = validate(
        {"providers": [spec], "models": [{"name": "m", "targets": [{"provider": "up", "model": "m"}]}]},
        "(test)",
    )
    clock = ManualClock(START)
    transport = answering(clock, 200, {}, orjson.dumps(case.answer))
    provider = build_provider(
        config.providers[0], base_url="http://up" if simulated else None, transport=transport, clock=clock
    )
    assert provider.dialect.value == case.dialect
    info = AttemptInfo()
    completion = await provider.complete(request(False), Target("up", "m"), TIMEOUTS, info)
    assert completion.body["choices"][0]["message"]["content"] == "Hi"
    assert transport.requests[0].url == case.url and info.head_at == HEAD_AT
    await provider.aclose()
    assert transport.closed
