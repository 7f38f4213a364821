"""Normalisation: equivalent forms share a key, every semantic difference changes it, and refusals."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall._types import ChatRequest
from seawall.cache import cacheable, normalized_request, request_cacheable
from seawall.errors import InvalidRequest

from .requests import bodies, equivalent, key_of, shuffled

SEEDS = st.integers(0, 2**32)


@settings(max_examples=300)
@given(bodies(), SEEDS)
def test_key_order_does_not_matter(body: dict[str, Any], seed: int) -> None:
    assert key_of(shuffled(body, random.Random(seed))) == key_of(body)


@settings(max_examples=200)
@given(bodies(), st.sampled_from([None, 0, 2, "\t"]), st.booleans())
def test_whitespace_and_escapes_do_not_matter(body: dict[str, Any], indent: Any, ascii_: bool) -> None:
    raw = json.dumps(body, indent=indent, ensure_ascii=ascii_, separators=None if indent else (", ", ": "))
    assert key_of(orjson.loads(raw)) == key_of(body)


@settings(max_examples=500)
@given(bodies(), SEEDS)
def test_equivalent_forms_share_a_key(body: dict[str, Any], seed: int) -> None:
    other = equivalent(body, random.Random(seed))
    assert key_of(other) == key_of(body), (body, other)


@given(bodies())
def test_the_input_is_not_modified(body: dict[str, Any]) -> None:
    other = equivalent(body, random.Random(1))
    before = copy.deepcopy(other)
    normalized_request(other)
    assert other == before


def _changes() -> st.SearchStrategy[tuple[str, Any]]:
    """A semantic parameter and a value for it."""
    return st.one_of(
        st.tuples(st.just("temperature"), st.floats(0, 2, allow_nan=False)),
        st.tuples(st.just("top_p"), st.floats(0, 1, allow_nan=False)),
        st.tuples(st.just("seed"), st.integers(-(2**40), 2**40)),
        st.tuples(st.just("max_tokens"), st.integers(1, 10_000)),
        st.tuples(st.just("max_completion_tokens"), st.integers(1, 10_000)),
        st.tuples(st.just("frequency_penalty"), st.floats(-2, 2, allow_nan=False)),
        st.tuples(st.just("stop"), st.lists(st.text(max_size=5), min_size=1, max_size=2)),
        st.tuples(st.just("reasoning_effort"), st.sampled_from(["low", "medium", "high"])),
        st.tuples(st.just("top_k"), st.integers(1, 100)),
        st.tuples(st.just("response_format"), st.sampled_from([{"type": "json_object"}])),
    )


def _effective(body: dict[str, Any], name: str) -> Any:
    """What the field means when absent, for the fields `_changes` draws."""
    defaults = {"temperature": 1, "top_p": 1, "frequency_penalty": 0, "response_format": {"type": "text"}}
    if name in ("max_tokens", "max_completion_tokens"):
        return body.get("max_completion_tokens", body.get("max_tokens"))
    return body.get(name, defaults.get(name))


@settings(max_examples=500)
@given(bodies(), _changes())
def test_a_semantic_parameter_changes_the_key(body: dict[str, Any], change: tuple[str, Any]) -> None:
    name, value = change
    if value == _effective(body, name) or (name == "stop" and body.get("stop") == value):
        return
    other = {**body, name: value}
    if name.startswith("max_"):  # both spellings given: the change is a conflict, not a spelling
        other = {k: v for k, v in other.items() if k not in ("max_tokens", "max_completion_tokens")}
        other[name] = value
    assert key_of(other) != key_of(body), (name, value)


@settings(max_examples=300)
@given(bodies(), st.data())
def test_one_character_of_a_message_changes_the_key(body: dict[str, Any], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(body["messages"]) - 1))
    text = body["messages"][i]["content"]
    at = data.draw(st.integers(0, len(text)))
    char = data.draw(st.characters())
    other = copy.deepcopy(body)
    other["messages"][i]["content"] = text[:at] + char + text[at:]
    assert key_of(other) != key_of(body)


@settings(max_examples=200)
@given(bodies(), st.sampled_from(["system", "developer", "user", "assistant"]))
def test_a_role_changes_the_key(body: dict[str, Any], role: str) -> None:
    other = copy.deepcopy(body)
    other["messages"][0]["role"] = role
    assert (key_of(other) == key_of(body)) == (role == body["messages"][0]["role"])


@settings(max_examples=200)
@given(bodies(), st.text(min_size=1, max_size=5))
def test_a_tool_schema_change_changes_the_key(body: dict[str, Any], prop: str) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with_tool = {**body, "tools": [tool]}
    changed = copy.deepcopy(with_tool)
    changed["tools"][0]["function"]["parameters"]["properties"] = {prop: {"type": "string"}}
    renamed = copy.deepcopy(with_tool)
    renamed["tools"][0]["function"]["name"] = "g"
    keys = {key_of(body), key_of(with_tool), key_of(changed), key_of(renamed)}
    assert len(keys) == 4


@settings(max_examples=100)
@given(bodies(), st.text(min_size=1, max_size=10))
def test_model_name_and_system_prompt_are_never_merged(body: dict[str, Any], name: str) -> None:
    assert name == body["model"] or key_of({**body, "model": name}) != key_of(body)
    system = {"role": "system", "content": "You are terse."}
    assert key_of({**body, "messages": [system, *body["messages"]]}) != key_of(body)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"max_tokens": 5, "max_completion_tokens": 6}, {"max_completion_tokens": 6}),
        ({"max_tokens": 5, "max_completion_tokens": 6}, {"max_tokens": 5}),
        ({"temperature": True}, {}),
        ({"n": True}, {}),
        ({"logprobs": 0}, {}),
        ({"tool_choice": "auto"}, {}),  # no tools: the default is "none"
        ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}, {}),
        ({"stop": ["a", "b"]}, {"stop": ["b", "a"]}),
        ({"service_tier": "flex"}, {}),
        ({"seed": 0}, {}),
        ({"response_format": {"type": "json_object"}}, {}),
    ],
)
def test_different_requests_are_not_merged(a: dict[str, Any], b: dict[str, Any]) -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert key_of({**base, **a}) != key_of({**base, **b})


def test_content_parts_other_than_one_plain_text_part_are_kept() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    two = [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]
    marked = [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    image = [{"type": "image_url", "image_url": {"url": "data:,hi"}}]
    keys = {key_of(base)} | {
        key_of({**base, "messages": [{"role": "user", "content": c}]}) for c in (two, marked, image)
    }
    assert len(keys) == 4


def test_normalized_form() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}], "name": None}],
        "temperature": 0.0,
        "top_p": 1.0,
        "max_tokens": 10,
        "stop": "END",
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u",
        "tools": [],
        "tool_choice": "none",
    }
    assert normalized_request(body) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "max_completion_tokens": 10,
        "stop": ["END"],
    }


BASE = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"n": 2}, "n > 1"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"web_search_options": {}}, "web search"),
        ({"messages": "hi"}, "not a chat completions request"),
    ],
)
def test_uncacheable_requests_name_the_reason(extra: dict[str, Any], reason: str) -> None:
    got = cacheable({**BASE, **extra})
    assert got is not None
    assert reason in got


@pytest.mark.parametrize(
    "extra", [{}, {"n": 1}, {"logprobs": False}, {"modalities": ["text"]}, {"stream": True}, {"seed": 3}]
)
def test_cacheable_requests(extra: dict[str, Any]) -> None:
    assert cacheable({**BASE, **extra}) is None


def test_n_above_one_when_allowed() -> None:
    assert cacheable({**BASE, "n": 3}, allow_n=True) is None
    assert key_of({**BASE, "n": 3}) != key_of({**BASE, "n": 2})


def test_request_cacheable_refuses_probes_partial_bodies_and_dialect_headers() -> None:
    assert request_cacheable(ChatRequest(body=dict(BASE), model="m")) is None
    probe = ChatRequest(body=dict(BASE), model="m", probe_target="openai/gpt-4o")
    assert request_cacheable(probe) == "canary probe"
    partial = ChatRequest(body=dict(BASE), model="m", untranslatable=InvalidRequest("thinking", param="x"))
    assert "canonical body" in (request_cacheable(partial) or "")
    beta = ChatRequest(body=dict(BASE), model="m", native_headers={"anthropic-beta": "x"})
    assert "anthropic-beta" in (request_cacheable(beta) or "")
    assert "n > 1" in (request_cacheable(ChatRequest(body={**BASE, "n": 2}, model="m")) or "")
