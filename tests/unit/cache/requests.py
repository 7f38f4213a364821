"""Hypothesis strategies for Chat Completions bodies, and rewrites that must not change their cache key."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import strategies as st

from seawall.cache import cache_key, normalized_request

TEXT = st.text(min_size=0, max_size=20)
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)

JSON_SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | TEXT
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAME, inner, max_size=3),
    max_leaves=8,
)

MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": TEXT}
)

TOOL = st.builds(
    lambda name, props: {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in props}},
        },
    },
    NAME,
    st.lists(NAME, max_size=3, unique=True),
)

OPTIONAL = {
    "temperature": st.floats(0, 2, allow_nan=False),
    "top_p": st.floats(0, 1, allow_nan=False),
    "seed": st.integers(-(2**31), 2**31),
    "max_tokens": st.integers(1, 4096),
    "stop": st.lists(TEXT, min_size=1, max_size=3),
    "response_format": st.just({"type": "json_object"})
    | st.builds(lambda s: {"type": "json_schema", "json_schema": {"name": "x", "schema": s}}, JSON),
    "tools": st.lists(TOOL, min_size=1, max_size=3),
    "presence_penalty": st.floats(-2, 2, allow_nan=False),
    "top_k": st.integers(1, 100),  # a vendor extension: kept as given
}


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid, cacheable Chat Completions body."""
    body: dict[str, Any] = {
        "model": draw(NAME),
        "messages": draw(st.lists(MESSAGE, min_size=1, max_size=4)),
    }
    for key in draw(st.sets(st.sampled_from(sorted(OPTIONAL)), max_size=5)):
        body[key] = draw(OPTIONAL[key])
    return body


def key_of(body: dict[str, Any], **parts: Any) -> str:
    args: dict[str, Any] = {"target": "openai/gpt-4o", "identity": ("gpt-4o-2024", "fp_1"), "snapshot": None}
    args["tenant"] = "-"
    args.update(parts)
    return cache_key(normalized=normalized_request(body), **args).digest


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def _as_part(body: dict[str, Any], rng: random.Random) -> None:
    msg = rng.choice(body["messages"])
    if isinstance(msg.get("content"), str):
        msg["content"] = [{"type": "text", "text": msg["content"]}]


def _nulls(body: dict[str, Any], rng: random.Random) -> None:
    absent = [
        k for k in ("logit_bias", "user", "tool_choice", "stop", "response_format", "n") if k not in body
    ]
    if absent:
        body[rng.choice(absent)] = None
    rng.choice(body["messages"])["name"] = None


def _defaults(body: dict[str, Any], rng: random.Random) -> None:
    defaults = {
        "temperature": rng.choice([1, 1.0]),
        "top_p": rng.choice([1, 1.0]),
        "n": 1,
        "presence_penalty": rng.choice([0, 0.0]),
        "frequency_penalty": 0,
        "logprobs": False,
        "parallel_tool_calls": True,
        "logit_bias": {},
        "modalities": ["text"],
        "response_format": {"type": "text"},
    }
    for key, value in defaults.items():
        if key not in body and rng.random() < 0.5:
            body[key] = value


def _delivery(body: dict[str, Any], rng: random.Random) -> None:
    body["stream"] = rng.choice([True, False])
    if body["stream"]:
        body["stream_options"] = {"include_usage": rng.choice([True, False])}
    body["user"] = rng.choice(["alice", "bob"])
    body["metadata"] = {"team": "x"}
    body["seawall"] = {"conversation_id": "c1", "state_version": 3}


def _spelling(body: dict[str, Any], rng: random.Random) -> None:
    if "max_tokens" in body and rng.random() < 0.5:
        body["max_completion_tokens"] = body.pop("max_tokens")
    if isinstance(body.get("stop"), list) and len(body["stop"]) == 1 and rng.random() < 0.5:
        body["stop"] = body["stop"][0]
    if "tool_choice" not in body:
        body["tool_choice"] = "auto" if body.get("tools") else "none"
    if "tools" not in body and rng.random() < 0.5:
        body["tools"] = []
    for key in ("temperature", "top_p", "presence_penalty"):
        value = body.get(key)
        if isinstance(value, float) and value.is_integer():
            body[key] = int(value)


REWRITES = (_as_part, _nulls, _defaults, _delivery, _spelling)


def equivalent(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """`body` rewritten into an equivalent form: documented defaults spelled out, nulls for absent
    fields, a string as a lone text part, the other spelling of max tokens and stop, delivery fields."""
    out = copy.deepcopy(body)
    for rewrite in REWRITES:
        if rng.random() < 0.7:
            rewrite(out, rng)
    return out
