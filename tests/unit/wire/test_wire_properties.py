"""Property tests: translations round-trip and streams reassemble, for generated inputs."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.ingress._anthropic_translate import AnthropicStreamEncoder, canonical_from_anthropic_request
from seawall.providers._anthropic_wire import AnthropicStreamDecoder, to_anthropic_request

TEXT = st.text(min_size=1, max_size=20)
ROLES = st.sampled_from(["system", "user", "assistant"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(ROLES, TEXT), min_size=1, max_size=8).filter(lambda m: any(r == "user" for r, _ in m))
)
def test_text_conversations_reach_a_fixed_point(messages: list[tuple[str, str]]) -> None:
    body = {"model": "chat", "messages": [{"role": role, "content": text} for role, text in messages]}
    first = to_anthropic_request(body, "claude")
    # Ingress joins an assistant turn's text blocks into one string, so the second round is the
    # fixed point; the text itself must survive every round unchanged.
    wire = to_anthropic_request(canonical_from_anthropic_request(first), "claude")
    assert to_anthropic_request(canonical_from_anthropic_request(wire), "claude") == wire
    assert (wire["messages"][0]["role"], wire.get("system")) == (
        first["messages"][0]["role"],
        first.get("system"),
    )
    roles = [m["role"] for m in wire["messages"]]
    assert all(a != b for a, b in pairwise(roles))  # strictly alternating after merging
    sent = "".join(text for role, text in messages if role != "system")
    for translated in (first, wire):
        got = "".join(
            m["content"] if isinstance(m["content"], str) else "".join(b["text"] for b in m["content"])
            for m in translated["messages"]
        )
        assert got == sent  # no text lost or duplicated


def _events(text_pieces: list[str], args_pieces: list[str]) -> list[tuple[str, dict[str, Any]]]:
    start: dict[str, Any] = {
        "id": "msg_p",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    events.append(
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    for piece in text_pieces:
        delta = {"type": "text_delta", "text": piece}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    tool = {"type": "tool_use", "id": "toolu_p", "name": "f", "input": {}}
    events.append(("content_block_start", {"type": "content_block_start", "index": 1, "content_block": tool}))
    for piece in args_pieces:
        delta = {"type": "input_json_delta", "partial_json": piece}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": delta}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in pairwise(points)]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=1, max_size=40),
    arguments=st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_streams_reassemble_through_decoder_and_encoder(
    text: str, arguments: dict[str, Any], cuts: list[int]
) -> None:
    args_json = json.dumps(arguments)
    events = _events(_split(text, cuts), _split(args_json, cuts))
    decoder = AnthropicStreamDecoder(request_model="chat", created=1)
    chunks = [chunk for name, data in events for chunk in decoder.feed(name, data)]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    fragments = "".join(
        call["function"].get("arguments", "")
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    )
    assert content == text
    assert json.loads(fragments) == arguments
    encoder = AnthropicStreamEncoder(model="chat")
    relayed = [event for chunk in chunks for event in encoder.feed(chunk)] + encoder.finish()
    texts = "".join(d["delta"].get("text", "") for n, d in relayed if n == "content_block_delta")
    partial = "".join(d["delta"].get("partial_json", "") for n, d in relayed if n == "content_block_delta")
    assert texts == text
    assert json.loads(partial) == arguments
