"""`rerun_live` through the real adapters over a `MockTransport`, timed by a `ManualClock`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from seawall._clock import ManualClock
from seawall._types import Target
from seawall.config import GatewayConfig, ProviderConfig, validate
from seawall.errors import UpstreamUnavailable
from seawall.providers import ConnectError, MockResponse, MockTransport, UpstreamRequest
from seawall.replay import ReplayError, ToolCall, choose_target, rebuild_request, rerun_live
from seawall.replay._live import model_timeouts
from seawall.trace._codec import decode
from seawall.trace._schema import ErrorInfo, RequestPart, TraceRecord
from tests.unit.trace.records import attempt, record

TRACES = Path(__file__).parents[1] / "trace" / "fixtures"
CLIENT = {"model": "chat", "messages": [{"role": "user", "content": "What is 6*7?"}]}
SSE = {"content-type": "text/event-stream"}


def config(*more: dict[str, Any], **extra: Any) -> GatewayConfig:
    """Providers `up` (OpenAI), `claude` (Anthropic), `team/eu`, `sim` (simulated Gemini), and `more`."""
    data: dict[str, Any] = {
        "providers": [
            {"name": "up", "kind": "openai", "base_url": "http://up/v1", "api_key": "sk-up"},
            {"name": "claude", "kind": "anthropic", "base_url": "http://an", "api_key": "sk-an"},
            {"name": "team/eu", "kind": "openai", "base_url": "http://eu/v1"},
            {"name": "sim", "kind": "simulated", "dialect": "gemini"},
            *more,
        ],
        "models": [
            {
                "name": "chat",
                "targets": [{"provider": "up", "model": "gpt-x"}],
                "timeout_s": 9,
                "first_token_timeout_s": 4,
                "idle_timeout_s": 2,
            }
        ],
        **extra,
    }
    return validate(data, "(test)")


def recorded(client: dict[str, Any] = CLIENT, **fields: Any) -> TraceRecord:
    """A request `up/gpt-x` answered with "42" (fingerprint fp_a), unless `fields` say otherwise."""
    answer = {
        "model": "gpt-x",
        "system_fingerprint": "fp_a",
        "choices": [{"index": 0, "message": {"content": "42"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1},
    }
    base: dict[str, Any] = {
        "model": "chat",
        "answered_by": "up/gpt-x",
        "attempts": (
            attempt(0, provider="up", model="gpt-x", latency_ms=300.0, response_body=json.dumps(answer)),
        ),
    }
    return record(body=json.dumps(client), **{**base, **fields})


def completion(text: str, fingerprint: str = "fp_a", model: str = "gpt-x") -> dict[str, Any]:
    return {
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1},
    }


def event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class Upstream:
    """A `MockTransport` per provider, answering with `handler`, on one `ManualClock`."""

    def __init__(self, handler: Any) -> None:
        self.clock = ManualClock()
        self.transport = MockTransport(handler)
        self.asked: list[str] = []

    def transport_for(self, pc: ProviderConfig) -> MockTransport:
        self.asked.append(pc.name)
        return self.transport

    @property
    def sent(self) -> list[UpstreamRequest]:
        return self.transport.requests

    def body(self, n: int = 0) -> Any:
        return orjson.loads(self.sent[n].body)


async def test_rerun_sends_the_clients_body_once_to_the_answering_target_and_times_it() -> None:
    def handler(request: UpstreamRequest) -> MockResponse:
        up.clock.advance(0.25)
        return MockResponse.json(completion("42", fingerprint="fp_b"))

    up = Upstream(handler)
    result = await rerun_live(recorded(), config(), transport_for=up.transport_for, clock=up.clock)
    assert up.asked == ["up"] and len(up.sent) == 1
    assert up.sent[0].url == "http://up/v1/chat/completions"
    assert up.body() == {**CLIENT, "model": "gpt-x"}  # the client's body, the target's model
    assert up.sent[0].headers["authorization"] == "Bearer sk-up"
    assert (result.target, result.recorded_target, result.stream) == (
        Target("up", "gpt-x"),
        "up/gpt-x",
        False,
    )
    assert (result.live.text, result.live.latency_ms, result.live.ttft_ms) == ("42", 250.0, None)
    assert (result.recorded.latency_ms, result.diff.latency_delta_ms) == (300.0, -50.0)
    assert result.diff.changed == ("system_fingerprint",) and result.diff.identity_changed
    assert result.error is None and result.info.status == 200
    assert result.attempt.response_body == orjson.dumps(completion("42", fingerprint="fp_b")).decode()
    assert up.transport.closed  # the provider was closed, with its transport


async def test_a_stream_is_rerun_streamed_and_its_first_token_timed() -> None:
    def handler(request: UpstreamRequest) -> MockResponse:
        up.clock.advance(0.1)  # the head

        def pieces() -> Iterator[bytes]:
            yield event(
                {"model": "gpt-x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
            )
            up.clock.advance(0.2)
            yield event({"model": "gpt-x", "choices": [{"index": 0, "delta": {"content": "4"}}]})
            up.clock.advance(0.5)
            yield event(
                {
                    "model": "gpt-x",
                    "choices": [{"index": 0, "delta": {"content": "2"}, "finish_reason": "stop"}],
                }
            )
            yield b"data: [DONE]\n\n"

        return MockResponse(200, SSE, pieces())

    up = Upstream(handler)
    client = {**CLIENT, "stream": True}
    result = await rerun_live(
        recorded(client, stream=True), config(), transport_for=up.transport_for, clock=up.clock
    )
    assert up.body()["stream"] is True
    assert result.stream and result.live.text == "42"
    assert (result.live.ttft_ms, result.live.latency_ms) == (300.0, 800.0)
    assert result.attempt.committed and result.attempt.reads is not None and len(result.attempt.reads) == 4
    assert result.attempt.head_ms == 100.0


async def test_an_upstream_error_is_a_result_with_no_retry() -> None:
    up = Upstream(
        lambda request: MockResponse.json({"error": {"message": "overloaded", "type": "server_error"}}, 503)
    )
    result = await rerun_live(recorded(), config(), transport_for=up.transport_for, clock=up.clock)
    assert len(up.sent) == 1  # measured once: no retry, no fallback
    assert isinstance(result.error, UpstreamUnavailable)
    assert result.live.error == "server_error: upstream 503: overloaded"
    assert result.live.status == 503 and result.diff.changed == ("status", "error")
    assert result.recorded.text == "42"


async def test_a_connection_failure_is_a_result_too() -> None:
    def refuse(request: UpstreamRequest) -> MockResponse:
        raise ConnectError("connection refused")

    up = Upstream(refuse)
    result = await rerun_live(recorded(), config(), transport_for=up.transport_for, clock=up.clock)
    assert result.live.error is not None and result.live.error.startswith("connect: ")
    assert result.live.status is None and result.diff.differs


async def test_another_target_of_another_dialect() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-y-2026",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"expr": "6*7"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 9, "service_tier": "standard"},
    }
    up = Upstream(lambda request: MockResponse.json(message))
    result = await rerun_live(
        recorded(), config(), target="claude/claude-y", transport_for=up.transport_for, clock=up.clock
    )
    assert up.asked == ["claude"] and up.sent[0].url == "http://an/v1/messages"
    assert up.body()["model"] == "claude-y" and up.body()["messages"] == [
        {"role": "user", "content": "What is 6*7?"}
    ]  # translated for an Anthropic target
    assert result.target == Target("claude", "claude-y") and result.recorded_target == "up/gpt-x"
    live = result.live
    assert (live.tool_calls, live.finish_reason, live.service_tier) == (
        (ToolCall("calc", {"expr": "6*7"}),),
        "tool_calls",
        "standard",
    )
    assert result.diff.identity_changed and "tool_calls" in result.diff.changed


async def test_an_anthropic_client_body_passes_through_to_an_anthropic_target() -> None:
    rec = decode((TRACES / "v1_anthropic_stream.json").read_bytes())  # sim-claude/claude-sim, streamed
    assert isinstance(rec.request.body, str)
    sse = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "m",
                    "model": "claude-sim",
                    "usage": {"input_tokens": 4, "service_tier": "standard"},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    body = b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in sse)
    up = Upstream(lambda request: MockResponse(200, SSE, [body]))
    cfg = config({"name": "sim-claude", "kind": "anthropic", "base_url": "http://an"})
    result = await rerun_live(rec, cfg, transport_for=up.transport_for, clock=up.clock)
    assert up.body() == {**json.loads(rec.request.body), "model": "claude-sim", "stream": True}
    assert (result.live.text, result.live.finish_reason) == ("hi", "stop")
    assert result.recorded.text.startswith("The quick brown fox")
    assert result.diff.changed == ("text", "output_tokens")  # same model: no identity change


async def test_a_simulated_provider_given_a_transport_is_not_started() -> None:
    answer = {
        "candidates": [{"content": {"parts": [{"text": "42"}]}, "finishReason": "STOP", "index": 0}],
        "modelVersion": "gem-2",
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 1},
    }
    up = Upstream(lambda request: MockResponse.json(answer))
    result = await rerun_live(
        recorded(), config(), target="sim/gem", transport_for=up.transport_for, clock=up.clock
    )
    assert up.sent[0].url == "http://simulated.invalid/v1beta/models/gem:generateContent"
    assert (result.live.text, result.live.response_model) == ("42", "gem-2")


async def test_the_first_token_timeout_of_the_model_applies() -> None:
    async def stall(request: UpstreamRequest) -> MockResponse:
        async def never() -> Any:
            await asyncio.Event().wait()
            yield b""

        return MockResponse(200, SSE, never())

    up = Upstream(stall)
    cfg = config(
        models=[
            {"name": "chat", "targets": [{"provider": "up", "model": "gpt-x"}], "first_token_timeout_s": 0.01}
        ]
    )
    client = {**CLIENT, "stream": True}
    result = await rerun_live(
        recorded(client, stream=True), cfg, transport_for=up.transport_for, clock=up.clock
    )
    assert result.live.error == "timeout: up/gpt-x: no first token within the model's timeout"
    assert up.transport.open == 0  # the stream was closed


# -- what stops a re-run before any call -------------------------------------------------------------
def test_choose_target() -> None:
    providers = config().providers
    assert choose_target(recorded(), providers)[1] == Target("up", "gpt-x")
    assert choose_target(recorded(), providers, "up/other")[1] == Target("up", "other")
    # provider and model names may hold '/': the configured provider name decides the split
    pc, target = choose_target(recorded(), providers, "team/eu/meta-llama/Llama-3")
    assert (pc.name, target) == ("team/eu", Target("team/eu", "meta-llama/Llama-3"))
    # a failed request: its last attempt
    failed = recorded(
        answered_by=None,
        attempts=(
            attempt(0, provider="claude", model="c1", status=503),
            attempt(1, provider="up", model="g2"),
        ),
    )
    assert choose_target(failed, providers)[1] == Target("up", "g2")
    # `answered_by` alone (no attempt of it recorded) still names the target
    assert choose_target(recorded(attempts=()), providers)[1] == Target("up", "gpt-x")
    assert choose_target(recorded(attempts=(), answered_by="team/eu/x/y"), providers)[1] == Target(
        "team/eu", "x/y"
    )


@pytest.mark.parametrize("target", ["nope/gpt-x", "up", "up/", "gpt-x"])
def test_a_target_not_in_the_config(target: str) -> None:
    with pytest.raises(
        ReplayError, match="is not in the config: expected PROVIDER/MODEL with PROVIDER one of "
    ):
        choose_target(recorded(), config().providers, target)


def test_a_recorded_provider_no_longer_configured() -> None:
    gone = recorded(answered_by="old/m", attempts=(attempt(0, provider="old", model="m"),))
    with pytest.raises(
        ReplayError, match=r"answered by old/m, but provider 'old' is not in the config; name a"
    ):
        choose_target(gone, config().providers)


async def test_a_request_with_no_attempt_needs_a_target() -> None:
    shed = recorded(
        answered_by=None,
        attempts=(),
        status=503,
        error=ErrorInfo(type="overloaded_error", message="shed", status=503),
    )
    with pytest.raises(ReplayError, match=r"has no attempt to re-run \(status 503.*--target PROVIDER/MODEL"):
        await rerun_live(shed, config())
    up = Upstream(lambda request: MockResponse.json(completion("42")))
    result = await rerun_live(
        shed, config(), target="up/gpt-x", transport_for=up.transport_for, clock=up.clock
    )
    assert result.recorded_target is None and result.live.text == "42"
    assert result.diff.changed == ("status", "error")  # the recorded side is the 503 the client got


def test_rebuild_request_reads_the_recorded_headers_and_refuses_what_does_not_parse() -> None:
    timed = record(
        body=json.dumps(CLIENT),
        request=RequestPart(headers={"x-seawall-timeout-ms": "1500"}, body=json.dumps(CLIENT)),
    )
    assert rebuild_request(timed).timeout_s == 1.5
    with pytest.raises(ReplayError, match="does not parse: The request body is not valid JSON"):
        rebuild_request(record(body='{"model": "chat", "mess'))
    with pytest.raises(ReplayError, match="kept no request body to re-send"):
        rebuild_request(record(body=None))


async def test_a_target_that_cannot_express_the_request() -> None:
    thinking = {
        "model": "chat",
        "max_tokens": 100,
        "thinking": {"type": "enabled", "budget_tokens": 50},
        "messages": [{"role": "user", "content": "hi"}],
    }
    rec = recorded(thinking, ingress="anthropic")
    up = Upstream(lambda request: MockResponse.json(completion("42")))
    with pytest.raises(ReplayError, match=r"up/gpt-x cannot serve this request: .*thinking"):
        await rerun_live(rec, config(), transport_for=up.transport_for, clock=up.clock)
    assert up.sent == [] and up.transport.closed


def test_model_timeouts() -> None:
    configured = model_timeouts(config(), "chat")
    assert (configured.total, configured.first_token, configured.idle) == (9.0, 4.0, 2.0)
    unknown = model_timeouts(config(), "gone")
    assert (unknown.total, unknown.first_token, unknown.idle) == (120.0, 30.0, 30.0)
