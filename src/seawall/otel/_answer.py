"""What an answer body says about itself: its id and why the model stopped, for each wire dialect.

A trace keeps answers as the bytes that crossed the wire (an upstream's answer in its dialect, the
client's in the ingress dialect), so the span attributes `gen_ai.response.id` and
`gen_ai.response.finish_reasons` are read back from those bodies here:

| dialect | id | finish reasons |
| --- | --- | --- |
| `openai` | `id` | `choices[].finish_reason` (`stop`, `length`, `tool_calls`...) |
| `anthropic` | `id` (a stream: `message_start.message.id`) | `stop_reason` (`end_turn`, `max_tokens`...) |
| `gemini` | `responseId` | `candidates[].finishReason` (`STOP`, `MAX_TOKENS`...) |

Reasons are the dialect's own words, as the GenAI conventions ask. A JSON body is parsed whole; a
stream's id comes from its first event, and its reasons from a scan of the whole body for the
dialect's key with a string value (an escaped quote inside a text can never look like one), so a
long stream is not parsed event by event. Runs on the exporter's thread, never on the event loop;
never raises on a body it cannot read (no facts, not an error).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_REASON = {
    "openai": re.compile(r'"finish_reason"\s*:\s*"([^"\\]*)"'),
    "anthropic": re.compile(r'"stop_reason"\s*:\s*"([^"\\]*)"'),
    "gemini": re.compile(r'"finishReason"\s*:\s*"([^"\\]*)"'),
}

Facts = tuple[str | None, tuple[str, ...]]
"""(response id, finish reasons): `(None, ())` when the body says neither."""


def answer_facts(dialect: str, body: str | None, stream: bool) -> Facts:
    """The id and finish reasons of one answer body (`stream`: an SSE body) in `dialect`."""
    if not body or dialect not in _REASON:
        return None, ()
    if stream:
        return _stream_id(dialect, body), tuple(_REASON[dialect].findall(body))
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, ()
    if not isinstance(data, dict):
        return None, ()
    if dialect == "openai":
        return _str(data.get("id")), _reasons(data.get("choices"), "finish_reason")
    if dialect == "anthropic":
        reason = _str(data.get("stop_reason"))
        return _str(data.get("id")), () if reason is None else (reason,)
    return _str(data.get("responseId")), _reasons(data.get("candidates"), "finishReason")


def _stream_id(dialect: str, body: str) -> str | None:
    """The id in a stream's first `data:` event."""
    start = body.find("data:")
    if start < 0:
        return None
    end = body.find("\n", start)
    try:
        event = orjson.loads(body[start + 5 : end if end >= 0 else len(body)])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    if dialect == "anthropic":
        message = event.get("message")
        return _str(message.get("id")) if isinstance(message, dict) else None
    return _str(event.get("responseId" if dialect == "gemini" else "id"))


def _reasons(items: Any, key: str) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(r for item in items if isinstance(item, dict) and isinstance(r := item.get(key), str))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


__all__ = ["Facts", "answer_facts"]
