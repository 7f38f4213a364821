"""Anthropic Messages SSE events → canonical `chat.completion.chunk` dicts (target direction).

The decoder is a pure state machine: the adapter parses SSE framing and feeds `(event, data)`
pairs; the decoder returns the chunks to relay. Order of what it emits:

1. a role chunk (`delta: {"role": "assistant", "content": ""}`) on `message_start`;
2. text deltas; for each `tool_use` block a tool-call delta carrying `index`, `id`, `type` and
   `function.name` (with `arguments: ""`), then one delta per non-empty `input_json_delta`
   fragment (a tool block that streamed no fragment gets `"{}"` when it stops, so accumulated
   arguments always parse);
3. a finish chunk (`delta: {}`, `finish_reason`) on `message_delta` with a `stop_reason`;
4. on `message_stop`, a usage chunk with `choices: []` (forward it only when the client asked for
   `stream_options.include_usage`), and `.done` becomes true.

Thinking, redacted-thinking, citation and signature blocks/deltas carry nothing a Chat Completions
client can receive (OpenAI hides reasoning too) and are skipped. Unknown event types are ignored,
as Anthropic's versioning policy asks. An `error` event raises the mapped `UpstreamError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seawall._types import JSONDict
from seawall.errors import UpstreamBadResponse
from seawall.providers._anthropic_errors import error_from_anthropic_event
from seawall.providers._wire_common import chunk, dumps_compact, int_field, now_s, openai_usage, usage_chunk

#: Anthropic `stop_reason` → canonical `finish_reason`.
FINISH_REASON: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def anthropic_usage(usage: JSONDict) -> JSONDict:
    """Anthropic `usage` → canonical usage. Cache reads and writes are both prompt tokens."""
    fresh = int_field(usage, "input_tokens")
    written = int_field(usage, "cache_creation_input_tokens")
    read = int_field(usage, "cache_read_input_tokens")
    cached = read if ("cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage) else None
    return openai_usage(fresh + written + read, int_field(usage, "output_tokens"), cached=cached)


@dataclass(slots=True)
class _Block:
    kind: str  # "text" | "tool" | "skip"
    tool_index: int = -1
    has_arguments: bool = False


class AnthropicStreamDecoder:
    """Turns one Anthropic message stream into canonical chunks. One instance per attempt."""

    def __init__(self, *, request_model: str, created: int | None = None) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self._model = request_model
        self._created = created if created is not None else now_s()
        self._id = ""
        self._started = False
        self._blocks: dict[int, _Block] = {}
        self._tool_count = 0
        self._usage: JSONDict = {}

    @property
    def usage(self) -> JSONDict | None:
        """Canonical usage seen so far (`None` before `message_start`)."""
        return anthropic_usage(self._usage) if self._started else None

    def feed(self, event: str, data: JSONDict) -> list[JSONDict]:
        """Consume one SSE event; return the canonical chunks it produces (possibly none)."""
        kind = event or str(data.get("type", ""))
        if kind == "error":
            raise error_from_anthropic_event(data)
        if kind == "ping" or self.done:
            return []
        if kind == "message_start":
            return self._message_start(data)
        if kind not in ("content_block_start", "content_block_delta", "content_block_stop", "message_delta"):
            if kind == "message_stop":
                return self._message_stop()
            return []
        if not self._started:
            raise UpstreamBadResponse(f"anthropic stream sent {kind} before message_start")
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "content_block_stop":
            return self._block_stop(data)
        return self._message_delta(data)

    def _chunk(self, delta: JSONDict, finish_reason: str | None = None) -> JSONDict:
        return chunk(
            id=self._id, created=self._created, model=self._model, delta=delta, finish_reason=finish_reason
        )

    def _message_start(self, data: JSONDict) -> list[JSONDict]:
        message = data.get("message")
        if not isinstance(message, dict):
            raise UpstreamBadResponse("anthropic message_start without a message")
        self._started = True
        self._id = str(message.get("id") or "")
        if isinstance(message.get("model"), str) and message["model"]:
            self._model = message["model"]
        usage = message.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: JSONDict) -> list[JSONDict]:
        index = _index(data)
        block = data.get("content_block")
        block = block if isinstance(block, dict) else {}
        block_type = block.get("type")
        if block_type == "text":
            self._blocks[index] = _Block("text")
            text = block.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if block_type == "tool_use":
            state = _Block("tool", tool_index=self._tool_count)
            self._tool_count += 1
            self._blocks[index] = state
            call: JSONDict = {
                "index": state.tool_index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            out = [self._chunk({"tool_calls": [call]})]
            initial = block.get("input")
            if isinstance(initial, dict) and initial:
                state.has_arguments = True
                out.append(self._arguments(state, dumps_compact(initial)))
            return out
        self._blocks[index] = _Block("skip")
        return []

    def _block_delta(self, data: JSONDict) -> list[JSONDict]:
        state = self._blocks.get(_index(data))
        delta = data.get("delta")
        if state is None or not isinstance(delta, dict):
            raise UpstreamBadResponse("anthropic content_block_delta for a block that never started")
        delta_type = delta.get("type")
        if state.kind == "text" and delta_type == "text_delta":
            text = delta.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if state.kind == "tool" and delta_type == "input_json_delta":
            fragment = delta.get("partial_json")
            if isinstance(fragment, str) and fragment:
                state.has_arguments = True
                return [self._arguments(state, fragment)]
        return []

    def _block_stop(self, data: JSONDict) -> list[JSONDict]:
        state = self._blocks.get(_index(data))
        if state is not None and state.kind == "tool" and not state.has_arguments:
            state.has_arguments = True
            return [self._arguments(state, "{}")]
        return []

    def _arguments(self, state: _Block, fragment: str) -> JSONDict:
        return self._chunk({"tool_calls": [{"index": state.tool_index, "function": {"arguments": fragment}}]})

    def _message_delta(self, data: JSONDict) -> list[JSONDict]:
        usage = data.get("usage")
        if isinstance(usage, dict):
            # message_delta counts are cumulative; absent ones keep the message_start value.
            self._usage.update({k: v for k, v in usage.items() if v is not None})
        delta = data.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if not isinstance(stop_reason, str) or self.finish_reason is not None:
            return []
        self.finish_reason = FINISH_REASON.get(stop_reason, "stop")
        return [self._chunk({}, self.finish_reason)]

    def _message_stop(self) -> list[JSONDict]:
        if not self._started:
            raise UpstreamBadResponse("anthropic stream sent message_stop before message_start")
        out: list[JSONDict] = []
        if self.finish_reason is None:
            self.finish_reason = "stop"
            out.append(self._chunk({}, self.finish_reason))
        self.done = True
        out.append(
            usage_chunk(
                id=self._id, created=self._created, model=self._model, usage=anthropic_usage(self._usage)
            )
        )
        return out


def _index(data: JSONDict) -> int:
    index: Any = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise UpstreamBadResponse("anthropic content block event without an integer index")
    return index
