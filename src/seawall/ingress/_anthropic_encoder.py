"""Canonical `chat.completion.chunk`s → Anthropic Messages SSE events, for Anthropic-dialect clients.

`AnthropicStreamEncoder.feed` takes each canonical chunk and returns `(event, data)` pairs, ready
to be framed as `event: <event>\\ndata: <json>\\n\\n`. What a client sees, in order:

    message_start            on the first chunk; `usage.input_tokens` when already known, else 0
    content_block_start      a `text` block, or a `tool_use` block `{id, name, input: {}}`
    content_block_delta      `text_delta` / `input_json_delta` (tool arguments, fragment by fragment)
    content_block_stop       when the next block starts or the choice finishes
    message_delta            `stop_reason` + cumulative `usage` (output, and input when known)
    message_stop

Anthropic needs `usage.output_tokens` in `message_delta`, but canonical streams report usage in a
trailing chunk *after* the finish chunk: so the finish chunk only closes the open block, and
`message_delta` / `message_stop` go out when the usage chunk arrives, or on `finish()` when the
upstream sent none. `error()` produces the terminal `error` event for a stream that broke after
the commit point. The output is what the official `anthropic` SDK's `MessageStream` accumulates.
"""

from __future__ import annotations

from typing import Any

from seawall._types import JSONDict
from seawall.errors import UpstreamBadResponse
from seawall.providers._wire_common import int_field

Event = tuple[str, JSONDict]

#: Canonical `finish_reason` → Anthropic `stop_reason`.
STOP_REASON: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def anthropic_error_body(type: str, message: str) -> JSONDict:
    """An Anthropic-shaped error body (HTTP error responses and the in-stream `error` event)."""
    return {"type": "error", "error": {"type": type, "message": message}}


def anthropic_usage_from_canonical(usage: JSONDict) -> JSONDict:
    """Canonical usage → Anthropic usage (cached prompt tokens become cache reads)."""
    details = usage.get("prompt_tokens_details")
    cached = int_field(details, "cached_tokens") if isinstance(details, dict) else 0
    return {
        "input_tokens": max(0, int_field(usage, "prompt_tokens") - cached),
        "output_tokens": int_field(usage, "completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def message_id(raw: Any) -> str:
    """An Anthropic-looking message id (`msg_…`) derived from the canonical completion id."""
    text = raw if isinstance(raw, str) and raw else "seawall"
    return text if text.startswith("msg_") else f"msg_{text}"


class AnthropicStreamEncoder:
    """Encodes one canonical stream for an Anthropic-dialect client. One instance per response."""

    def __init__(self, *, model: str, message_id: str | None = None, input_tokens: int | None = None) -> None:
        self._model = model
        self._id = message_id
        self._input_tokens = input_tokens
        self._started = False
        self._closed = False
        self._next_index = 0
        self._open: tuple[str, int] | None = None  # ("text" | "tool", block index)
        self._tools: dict[int, int] = {}  # canonical tool-call index → block index
        self._finish_reason: str | None = None
        self._usage: JSONDict | None = None

    @property
    def done(self) -> bool:
        """True once `message_stop` (or a terminal `error`) has been produced."""
        return self._closed

    def feed(self, chunk: JSONDict) -> list[Event]:
        """Encode one canonical chunk."""
        if self._closed:
            return []
        events = self._start(chunk) if not self._started else []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # an Anthropic message carries exactly one answer
            raw_delta = choice.get("delta")
            delta: JSONDict = raw_delta if isinstance(raw_delta, dict) else {}
            for key in ("content", "refusal"):
                text = delta.get(key)
                if isinstance(text, str) and text:
                    events += self._text(text)
            for call in delta.get("tool_calls") or []:
                events += self._tool_call(call)
            finish = choice.get("finish_reason")
            if isinstance(finish, str) and finish:
                self._finish_reason = finish
                events += self._close_block()
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
            if self._finish_reason is not None:
                events += self._end()
        return events

    def finish(self) -> list[Event]:
        """Close the message when the canonical stream ended (no-op if already closed)."""
        if self._closed:
            return []
        events = self._start({}) if not self._started else []
        return events + self._end()

    def error(self, type: str, message: str) -> list[Event]:
        """A terminal in-stream `error` event; nothing is produced after it."""
        if self._closed:
            return []
        self._closed = True
        return [("error", anthropic_error_body(type, message))]

    def _start(self, chunk: JSONDict) -> list[Event]:
        self._started = True
        if self._id is None:
            self._id = message_id(chunk.get("id"))
        usage = chunk.get("usage")
        if self._input_tokens is None and isinstance(usage, dict):
            self._input_tokens = anthropic_usage_from_canonical(usage)["input_tokens"]
        message: JSONDict = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens or 0, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _open_block(self, kind: str, content_block: JSONDict) -> list[Event]:
        events = self._close_block()
        index = self._next_index
        self._next_index += 1
        self._open = (kind, index)
        start = {"type": "content_block_start", "index": index, "content_block": content_block}
        return [*events, ("content_block_start", start)]

    def _close_block(self) -> list[Event]:
        if self._open is None:
            return []
        index = self._open[1]
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _text(self, text: str) -> list[Event]:
        events = (
            []
            if self._open is not None and self._open[0] == "text"
            else self._open_block("text", {"type": "text", "text": ""})
        )
        return [*events, self._delta({"type": "text_delta", "text": text})]

    def _tool_call(self, call: Any) -> list[Event]:
        if not isinstance(call, dict):
            raise UpstreamBadResponse("tool call delta is not an object")
        position = call.get("index", 0)
        raw_function = call.get("function")
        function: JSONDict = raw_function if isinstance(raw_function, dict) else {}
        events: list[Event] = []
        if position not in self._tools:
            block: JSONDict = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{self._id}_{position}",
                "name": function.get("name") or "",
                "input": {},
            }
            events = self._open_block("tool", block)
            self._tools[position] = self._next_index - 1
        elif self._open != ("tool", self._tools[position]):
            # Anthropic blocks are sequential: a closed block cannot grow again.
            raise UpstreamBadResponse("tool call fragments arrived interleaved; cannot encode for Anthropic")
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        return events

    def _delta(self, delta: JSONDict) -> Event:
        assert self._open is not None
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._open[1], "delta": delta},
        )

    def _end(self) -> list[Event]:
        events = self._close_block()
        self._closed = True
        stop_reason = STOP_REASON.get(self._finish_reason or "stop", "end_turn")
        usage: JSONDict = {"output_tokens": 0}
        if self._usage is not None:
            converted = anthropic_usage_from_canonical(self._usage)
            usage = {
                "input_tokens": converted["input_tokens"],
                "output_tokens": converted["output_tokens"],
                "cache_read_input_tokens": converted["cache_read_input_tokens"],
            }
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": usage,
        }
        return [*events, ("message_delta", delta), ("message_stop", {"type": "message_stop"})]
