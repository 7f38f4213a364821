"""Anthropic ingress parsing (canonical + native + deferred refusals), its error shapes, the OpenAI
adapter's handling of translated bodies, the raw SSE parser, and `build_provider` for each kind."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from seawall._types import ChatRequest, Dialect, Priority
from seawall.config import validate
from seawall.errors import (
    ErrorClass,
    InvalidRequest,
    ModelNotFound,
    NoTargetAvailable,
    PayloadTooLarge,
    SeawallError,
    UnsupportedFeature,
    UpstreamRejected,
    UpstreamUnavailable,
)
from seawall.ingress._anthropic import error_event, error_response, parse_anthropic_request
from seawall.providers import AnthropicProvider, GeminiProvider, OpenAIProvider, build_provider
from seawall.providers._http import SSEParser
from seawall.providers.openai import strip_extensions

BASE = {"model": "chat", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


def parse(body: Any, **headers: str) -> ChatRequest:
    return parse_anthropic_request(orjson.dumps(body), headers)


def test_translatable_request_has_canonical_and_native_bodies() -> None:
    request = parse(
        {**BASE, "stream": True, "system": "be brief"}, **{"anthropic-beta": "x-1", "x-api-key": "k"}
    )
    assert request.ingress is Dialect.ANTHROPIC and request.stream and request.model == "chat"
    assert request.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.native_body == {**BASE, "stream": True, "system": "be brief"}
    assert request.native_headers == {"anthropic-beta": "x-1"}  # never credentials
    assert request.untranslatable is None and request.passthrough


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"container": "c-1"}, "container"),
        ({"brand_new": 1}, "brand_new"),
    ],
)
def test_untranslatable_top_level_field_is_deferred_and_the_rest_translates(
    extra: dict[str, Any], param: str
) -> None:
    request = parse({**BASE, "system": "s", **extra})
    assert isinstance(request.untranslatable, UnsupportedFeature)
    assert request.untranslatable.param == param
    assert request.body["messages"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    assert request.native_body is not None and param in request.native_body


def test_untranslatable_nested_block_leaves_the_routing_essentials() -> None:
    body = {
        **BASE,
        "stream": True,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
    }
    request = parse(body)
    assert isinstance(request.untranslatable, UnsupportedFeature)
    assert request.untranslatable.param == "tools[0].type"
    assert request.body == {
        "model": "chat",
        "messages": [],
        "max_tokens": 100,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert request.stream


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 1, "messages": []}, "model"),
        ({**BASE, "max_tokens": 0}, "max_tokens"),
        ({**BASE, "stream": "yes"}, "stream"),
        ({**BASE, "thinking": {"type": "enabled"}, "max_tokens": "many"}, "max_tokens"),
        ({**BASE, "tools": [{"type": "web_search_20250305"}], "stream": 1}, "stream"),
    ],
)
def test_invalid_requests_are_refused_even_when_untranslatable(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    assert info.value.param == param


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        parse_anthropic_request(b"{", {})
    with pytest.raises(InvalidRequest, match="JSON object"):
        parse_anthropic_request(b"[]", {})


def test_seawall_headers() -> None:
    request = parse(
        BASE, **{"x-seawall-priority": "batch", "x-seawall-hedge": "1", "x-stainless-timeout": "7"}
    )
    assert request.priority is Priority.BATCH and request.hedge_safe and request.timeout_s == 7
    with pytest.raises(InvalidRequest):
        parse(BASE, **{"x-seawall-priority": "urgent"})


def _body(exc: SeawallError) -> tuple[int, dict[str, Any]]:
    status, body = error_response(exc)
    return status, orjson.loads(body)


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (UnsupportedFeature("`n` must be 1", param="n"), 400, "invalid_request_error"),
        (ModelNotFound("no model"), 404, "not_found_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (NoTargetAvailable("all failed", status=503), 503, "overloaded_error"),
        (NoTargetAvailable("all failed", status=502), 502, "api_error"),
        (NoTargetAvailable("limited", status=429), 429, "rate_limit_error"),
        (NoTargetAvailable("slow", status=504), 504, "timeout_error"),
    ],
)
def test_error_bodies_are_anthropic_shaped(exc: SeawallError, status: int, kind: str) -> None:
    assert _body(exc) == (status, {"type": "error", "error": {"type": kind, "message": exc.message}})


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (UnsupportedFeature("not possible", param="logprobs"), "logprobs: not possible"),
        (UnsupportedFeature("no", param="n"), "n: no"),
        (InvalidRequest("`top_k` must be an integer", param="top_k"), "`top_k` must be an integer"),
        (InvalidRequest("max_tokens: Field required", param="max_tokens"), "max_tokens: Field required"),
        (
            UnsupportedFeature("bad block", param="messages[0].content[1]"),
            "messages[0].content[1]: bad block",
        ),
    ],
)
def test_error_messages_name_the_parameter(exc: SeawallError, message: str) -> None:
    assert _body(exc)[1]["error"]["message"] == message


def test_an_anthropic_upstream_refusal_keeps_its_own_body_and_status() -> None:
    raw = b'{"type":"error","error":{"type":"request_too_large","message":"too big"}}'
    exc = UpstreamRejected("anthropic 413", upstream_status=413, body=raw)
    assert error_response(exc) == (413, raw)
    openai_shaped = UpstreamRejected(
        "upstream 400: nope", upstream_status=400, body=b'{"error":{"message":"x"}}'
    )
    assert _body(openai_shaped) == (
        400,
        {"type": "error", "error": {"type": "invalid_request_error", "message": "upstream 400: nope"}},
    )


def test_terminal_error_events() -> None:
    upstream = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    overloaded = UpstreamUnavailable("x", error_class=ErrorClass.OVERLOADED, body=upstream)
    assert error_event(overloaded) == b"event: error\ndata: " + upstream + b"\n\n"
    cut = UpstreamUnavailable("stream broke")
    assert error_event(cut) == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"stream broke"}}\n\n'
    )
    from_openai = UpstreamUnavailable("busy", error_class=ErrorClass.OVERLOADED, body=b'{"error":{}}')
    assert b'"type":"overloaded_error","message":"busy"' in error_event(from_openai)


def test_strip_extensions_drops_only_seawall_fields_and_copies_only_what_changes() -> None:
    untouched = {"role": "user", "content": [{"type": "text", "text": "a"}]}
    body = {
        "model": "m",
        "top_k": 3,
        "cache_control": {"type": "ephemeral"},
        "temperature": 0.5,
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
            },
            untouched,
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}],
    }
    out = strip_extensions(body)
    assert out == {
        "model": "m",
        "temperature": 0.5,
        "messages": [{"role": "system", "content": [{"type": "text", "text": "s"}]}, untouched],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    assert out["messages"][1] is untouched
    assert body["top_k"] == 3 and "cache_control" in body["messages"][0]["content"][0]  # input unchanged


def test_feed_raw_returns_each_event_with_its_bytes() -> None:
    parser = SSEParser()
    stream = (
        b'event: ping\ndata: {"type": "ping"}\n\ndata: {"a":1}\n\n: comment\nevent: x\ndata: 1\ndata: 2\n\n'
    )
    got = parser.feed_raw(stream[:20]) + parser.feed_raw(stream[20:])
    assert got == [
        ("ping", b'{"type": "ping"}', b'event: ping\ndata: {"type": "ping"}\n\n'),
        (None, b'{"a":1}', b'data: {"a":1}\n\n'),
        ("x", b"1\n2", b": comment\nevent: x\ndata: 1\ndata: 2\n\n"),
    ]
    assert parser.feed(stream) == [(event, data) for event, data, _ in got]


def _config(*providers: dict[str, Any]) -> Any:
    return validate(
        {
            "providers": list(providers),
            "models": [{"name": "m", "targets": [{"provider": providers[0]["name"], "model": "x"}]}],
        },
        "(test)",
    )


@pytest.mark.parametrize(
    ("spec", "cls", "url"),
    [
        ({"kind": "anthropic"}, AnthropicProvider, "https://api.anthropic.com/v1/messages"),
        ({"kind": "anthropic", "base_url": "http://a:1"}, AnthropicProvider, "http://a:1/v1/messages"),
        ({"kind": "gemini"}, GeminiProvider, "https://generativelanguage.googleapis.com/v1beta"),
        ({"kind": "openai", "base_url": "http://o:1/v1"}, OpenAIProvider, "http://o:1/v1/chat/completions"),
    ],
)
def test_build_provider(spec: dict[str, Any], cls: type, url: str) -> None:
    pc = _config({"name": "p", "api_key": "k", **spec}).providers[0]
    built = build_provider(pc)
    assert isinstance(built, cls)
    assert built.name == "p"
    assert getattr(built, "_url", None) == url or getattr(built, "_root", None) == url


@pytest.mark.parametrize(
    ("dialect", "cls", "attr", "url"),
    [
        ("openai", OpenAIProvider, "_url", "http://sim:1/v1/chat/completions"),
        ("anthropic", AnthropicProvider, "_url", "http://sim:1/v1/messages"),
        ("gemini", GeminiProvider, "_root", "http://sim:1/v1beta"),
    ],
)
def test_build_simulated_provider_of_each_dialect(dialect: str, cls: type, attr: str, url: str) -> None:
    pc = _config({"name": "s", "kind": "simulated", "dialect": dialect}).providers[0]
    built = build_provider(pc, base_url="http://sim:1")
    assert isinstance(built, cls) and getattr(built, attr) == url


@pytest.mark.parametrize("stream", [False, True])
async def test_embedded_simulators_speak_every_dialect(stream: bool) -> None:
    import seawall

    dialects = ("openai", "anthropic", "gemini")
    config = {
        "providers": [{"name": d, "kind": "simulated", "dialect": d} for d in dialects],
        "models": [{"name": d, "targets": [{"provider": d, "model": f"{d}-model"}]} for d in dialects],
        "traces": {"store": "none"},
    }
    async with seawall.Gateway.from_config(config) as gw:
        for dialect in dialects:
            question = [{"role": "user", "content": "What is 6*7?"}]
            if stream:
                chunks = [c async for c in await gw.chat(model=dialect, messages=question, stream=True)]
                text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
            else:
                answer = await gw.chat(model=dialect, messages=question)
                text = answer["choices"][0]["message"]["content"]
            assert text == "42", dialect
            assert gw.providers[dialect].dialect.value == dialect
