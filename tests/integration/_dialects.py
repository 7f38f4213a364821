"""A gateway process in front of three simulators, one per upstream dialect, and SDK helpers.

Each simulator process speaks all three dialects; giving every upstream dialect its own process
lets a test inject faults into one provider only. Fault-injection tests use dedicated upstream
model names (and the simulator's `only_models`) so their failures never touch the health of the
targets other tests use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai

from tests.integration._procs import GatewayProc, Sim

KEYS = {"openai": "sk-oa-SECRET-1", "anthropic": "sk-ant-SECRET-2", "gemini": "gm-SECRET-3"}
CLIENT_KEY = "client-key-SECRET-4"
UPSTREAM_MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
PROVIDER = {"openai": "oa", "anthropic": "an", "gemini": "ge"}
DIALECTS = ("openai", "anthropic", "gemini")
QUESTION = "What is the weather in Paris?"
RESULT = "18C and sunny"

ANTHROPIC_TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
OPENAI_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": t["name"],
            "description": t["description"],
            "parameters": t["input_schema"],
        },
    }
    for t in ANTHROPIC_TOOLS
]


@dataclass
class Env:
    gateway: GatewayProc
    sims: dict[str, Sim]

    def reset(self) -> None:
        for sim in self.sims.values():
            sim.reset()


def _model(name: str, *targets: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "targets": [{"provider": PROVIDER[d], "model": m} for d, m in targets],
        "attempt_timeout_s": 10,
        "first_token_timeout_s": 10,
        "idle_timeout_s": 10,
        **extra,
    }


def config(sims: dict[str, Sim], **server: Any) -> dict[str, Any]:
    providers = [
        {"name": "oa", "kind": "openai", "base_url": sims["openai"].url + "/v1", "api_key": KEYS["openai"]},
        {"name": "an", "kind": "anthropic", "base_url": sims["anthropic"].url, "api_key": KEYS["anthropic"]},
        {"name": "ge", "kind": "gemini", "base_url": sims["gemini"].url, "api_key": KEYS["gemini"]},
    ]
    models = [_model(f"via-{d}", (d, UPSTREAM_MODEL[d])) for d in DIALECTS]
    models += [
        # fault-injection routes: their upstream model names are theirs alone
        _model("anthropic-first", ("anthropic", "claude-primary"), ("openai", "gpt-secondary")),
        _model("openai-first", ("openai", "gpt-primary"), ("anthropic", "claude-secondary")),
        _model("gemini-first", ("gemini", "gemini-primary"), ("anthropic", "claude-tertiary")),
        _model("anthropic-only", ("anthropic", "claude-faulty"), timeout_s=4),
        _model("gemini-only", ("gemini", "gemini-faulty")),
        _model("anthropic-limited", ("anthropic", "claude-limited")),
    ]
    out: dict[str, Any] = {"providers": providers, "models": models}
    # One gateway serves the whole module: a fault injected by one test must not open a breaker that
    # the next test then meets (breakers have their own tests).
    out["resilience"] = {"breaker": {"consecutive_failures": 0}}
    if server:
        out["server"] = server
    return out


def start(tmp: Path, name: str) -> Iterator[Env]:
    sims = {d: Sim(tmp, f"{name}-{d}", seed=i + 1) for i, d in enumerate(DIALECTS)}
    gateway = GatewayProc(tmp, config(sims, max_body_bytes=64 * 1024), name=f"gw-{name}")
    try:
        yield Env(gateway, sims)
    finally:
        gateway.stop()
        for sim in sims.values():
            sim.stop()


def anthropic_client(env: Env) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=env.gateway.url, api_key=CLIENT_KEY, max_retries=0, timeout=20)


def openai_client(env: Env) -> openai.OpenAI:
    return openai.OpenAI(base_url=env.gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20)


@dataclass
class Turn:
    """One answer as a test sees it, whichever SDK produced it."""

    text: str
    tool_calls: list[dict[str, Any]]  # {"id", "name", "arguments": dict}
    stop: str
    input_tokens: int
    output_tokens: int
    headers: dict[str, str]
    raw: Any = None
    events: list[str] | None = None


def anthropic_turn(
    client: anthropic.Anthropic, model: str, messages: list[dict[str, Any]], *, stream: bool, **kw: Any
) -> Turn:
    if stream:
        with client.messages.stream(model=model, max_tokens=256, messages=messages, **kw) as s:  # type: ignore[arg-type]
            events = [event.type for event in s]
            message = s.get_final_message()
            headers = dict(s.response.headers)
    else:
        raw = client.messages.with_raw_response.create(
            model=model,
            max_tokens=256,
            messages=messages,  # type: ignore[arg-type]
            **kw,
        )
        message, headers, events = raw.parse(), dict(raw.headers), None
    text = "".join(b.text for b in message.content if b.type == "text")
    calls = [
        {"id": b.id, "name": b.name, "arguments": b.input} for b in message.content if b.type == "tool_use"
    ]
    return Turn(
        text,
        calls,
        str(message.stop_reason),
        message.usage.input_tokens,
        message.usage.output_tokens,
        headers,
        message,
        events,
    )


def openai_turn(
    client: openai.OpenAI, model: str, messages: list[dict[str, Any]], *, stream: bool, **kw: Any
) -> Turn:
    if not stream:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, **kw)  # type: ignore[arg-type]
        completion = raw.parse()
        choice = completion.choices[0]
        calls = [
            {"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)}  # type: ignore[union-attr]
            for c in choice.message.tool_calls or []
        ]
        usage = completion.usage
        assert usage is not None
        return Turn(
            choice.message.content or "",
            calls,
            str(choice.finish_reason),
            usage.prompt_tokens,
            usage.completion_tokens,
            dict(raw.headers),
            completion,
        )
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    text, finish, usage = "", "", None
    partial: dict[int, dict[str, str]] = {}
    for chunk in raw.parse():
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                entry = partial.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += tc.id or ""
                entry["name"] += (tc.function.name or "") if tc.function else ""
                entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert usage is not None, "stream_options.include_usage asked for a usage chunk"
    calls = [{**c, "arguments": json.loads(c["arguments"])} for _, c in sorted(partial.items())]
    return Turn(text, calls, finish, usage.prompt_tokens, usage.completion_tokens, dict(raw.headers))


def anthropic_followup(turn: Turn) -> list[dict[str, Any]]:
    """The conversation after a tool call: the call, then its result (Anthropic shape)."""
    call = turn.tool_calls[0]
    return [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": call["id"], "name": call["name"], "input": call["arguments"]}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": RESULT}]},
    ]


def openai_followup(turn: Turn) -> list[dict[str, Any]]:
    """The conversation after a tool call: the call, then its result (OpenAI shape)."""
    call = turn.tool_calls[0]
    return [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": RESULT},
    ]
