"""The context reference and cache directives a request carries (headers or the body's `seawall`
object), read by every ingress: what is accepted, what is refused with which parameter named."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from seawall._types import ContextRef
from seawall.errors import InvalidRequest
from seawall.ingress import ANTHROPIC, OPENAI

H = "sha256:" + "ab" * 32
H2 = "sha256:" + "cd" * 32


def openai(body_extra: dict[str, Any] | None = None, **headers: str) -> Any:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **(body_extra or {})}
    return OPENAI.parse(orjson.dumps(body), {k.replace("_", "-"): v for k, v in headers.items()})


def test_headers_name_the_conversation_state_and_snapshot() -> None:
    request = openai(
        x_seawall_conversation_id="c-1", x_seawall_state_version="7", x_seawall_context_snapshot=H
    )
    assert request.context == ContextRef("c-1", 7, H)


def test_the_body_object_works_and_never_goes_upstream() -> None:
    request = openai({"seawall": {"conversation_id": "c-1", "state_version": 3, "context_snapshot": H}})
    assert request.context == ContextRef("c-1", 3, H)
    assert "seawall" not in request.body
    raw = orjson.dumps(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
            "seawall": {"conversation_id": "c"},
        }
    )
    anthropic = ANTHROPIC.parse(raw, {})
    assert anthropic.context == ContextRef("c", None, None)
    assert "seawall" not in anthropic.body and "seawall" not in (anthropic.native_body or {})


def test_nothing_named_is_no_context() -> None:
    assert openai().context is None
    assert openai(user_agent="x").context is None


def test_headers_and_body_must_agree() -> None:
    same = openai({"seawall": {"conversation_id": "c"}}, x_seawall_conversation_id="c")
    assert same.context == ContextRef("c", None, None)
    with pytest.raises(InvalidRequest, match="disagree") as info:
        openai({"seawall": {"context_snapshot": H}}, x_seawall_context_snapshot=H2)
    assert info.value.param == "seawall.context_snapshot"


@pytest.mark.parametrize(
    ("extra", "headers", "param"),
    [
        ({}, {"x_seawall_state_version": "-1"}, "x-seawall-state-version"),
        ({}, {"x_seawall_state_version": "1.5", "x_seawall_conversation_id": "c"}, "x-seawall-state-version"),
        ({}, {"x_seawall_state_version": "3"}, "x-seawall-state-version"),  # a version needs a conversation
        ({}, {"x_seawall_context_snapshot": "sha256:xyz"}, "x-seawall-context-snapshot"),
        ({}, {"x_seawall_context_snapshot": "md5:" + "ab" * 16}, "x-seawall-context-snapshot"),
        ({}, {"x_seawall_conversation_id": "a" * 257}, "x-seawall-conversation-id"),
        ({"seawall": "c-1"}, {}, "seawall"),
        ({"seawall": {"conversation": "c"}}, {}, "seawall.conversation"),
        ({"seawall": {"conversation_id": "c", "state_version": True}}, {}, "seawall.state_version"),
        ({"seawall": {"conversation_id": "c", "state_version": 2**53 + 1}}, {}, "seawall.state_version"),
        ({"seawall": {"context_snapshot": "SHA256:" + "AB" * 32}}, {}, "seawall.context_snapshot"),
        ({"seawall": {"conversation_id": ""}}, {}, "seawall.conversation_id"),
    ],
)
def test_bad_references_are_a_400_naming_the_field(
    extra: dict[str, Any], headers: dict[str, str], param: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        openai(extra, **headers)
    assert info.value.status == 400 and info.value.param == param


@pytest.mark.parametrize(
    ("value", "no_cache", "no_store"),
    [
        ("no-cache", True, False),
        ("No-Store", True, True),
        ("max-age=0, no-cache", True, False),
        ("max-age=60", False, False),
    ],
)
def test_cache_control_directives(value: str, no_cache: bool, no_store: bool) -> None:
    request = openai(cache_control=value)
    assert (request.no_cache, request.no_store) == (no_cache, no_store)


async def test_the_trace_records_the_reference_and_the_upstream_never_sees_it(tmp_path: Any) -> None:
    import seawall

    cfg = {
        "providers": [{"name": "a", "kind": "simulated", "simulate": {"seed": 1}}],
        "models": [{"name": "m", "targets": [{"provider": "a", "model": "x"}]}],
        "traces": {"store": f"sqlite:///{tmp_path / 't.db'}"},
    }
    kept: list[Any] = []
    async with seawall.Gateway.from_config(cfg) as gw:
        stored = await gw.put_snapshot({"documents": [{"id": "d", "content": "x"}]})
        body = orjson.dumps(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "seawall": {"conversation_id": "c-9"},
            }
        )
        exchange = gw.exchange(OPENAI, body, {"x-seawall-context-snapshot": stored}, record=kept.append)
        await exchange.complete()
        unknown = gw.exchange(OPENAI, body, {"x-seawall-context-snapshot": H}, record=kept.append)
        reply = await unknown.complete()
        assert reply.status == 400 and b"unknown_snapshot" in reply.body  # a hash the store does not hold
    record = kept[0]
    assert record.context is not None
    assert (record.context.conversation, record.context.snapshot) == ("c-9", stored)
    sent = orjson.loads(record.attempts[0].request_body)
    assert "seawall" not in sent
