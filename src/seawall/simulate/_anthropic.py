"""Anthropic Messages on the wire: `POST /v1/messages`, JSON or an SSE event stream.

Streams: ``message_start``, ``content_block_start``, ``ping``, one ``content_block_delta`` per
word (``text_delta``) or argument fragment (``input_json_delta``), ``content_block_stop``,
``message_delta`` (stop reason, output tokens), ``message_stop``. An in-stream failure is
``event: error`` with an ``overloaded_error``, as the real API sends when it is overloaded
mid-answer. `max_tokens` is required, as it is by the real API; `anthropic-version` is not
enforced (it is recorded with the other headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from seawall.simulate._model import Answer, Finish, Prompt, Tool, ToolChoice
from seawall.simulate._wire import (
    Call,
    Dialect,
    Events,
    Limits,
    Rejected,
    Reply,
    WireError,
    dumps,
    retry_after_seconds,
    rfc3339,
    sse,
    texts,
)

_STOP = {
    Finish.STOP: "end_turn",
    Finish.LENGTH: "max_tokens",
    Finish.TOOL_CALL: "tool_use",
    Finish.BLOCKED: "refusal",
}
_REFUSAL = {
    "type": "refusal",
    "category": None,
    "explanation": "This request was declined by the simulated provider's safety filter.",
}
_ERRORS = {
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 10,000 requests per minute. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("overloaded_error", "Overloaded"),
    529: ("overloaded_error", "Overloaded"),
}


def _error(status: int, kind: str, message: str) -> WireError:
    return WireError(status, {"type": "error", "error": {"type": kind, "message": message}})


def _required(field: str) -> Rejected:
    return Rejected(_error(400, "invalid_request_error", f"{field}: Field required"))


class AnthropicDialect(Dialect):
    name: ClassVar[str] = "anthropic"

    def parse(self, body: Any, *, path_model: str | None = None, stream: bool | None = None) -> Call:
        if not isinstance(body, Mapping):
            raise Rejected(self.invalid("The request body is not a JSON object."))
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _required("model")
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise _required("messages")
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise _required("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise Rejected(
                _error(400, "invalid_request_error", "max_tokens: Input should be a valid integer >= 1")
            )
        if not messages:
            raise Rejected(_error(400, "invalid_request_error", "messages: at least one message is required"))
        system = texts(body.get("system"))
        chars = sum(map(len, system))
        user_text = ""
        for msg in messages:
            if not isinstance(msg, Mapping):
                continue
            content = msg.get("content")
            parts = texts(content)
            chars += sum(map(len, parts))
            for block in content if isinstance(content, list) else ():
                if isinstance(block, Mapping) and block.get("type") == "tool_use":
                    chars += len(dumps(block.get("input", {})))
                elif isinstance(block, Mapping) and block.get("type") == "tool_result":
                    chars += sum(map(len, texts(block.get("content"))))
            if msg.get("role") == "user" and parts:
                user_text = "\n".join(parts)
        last = messages[-1] if isinstance(messages[-1], Mapping) else {}
        blocks = last.get("content")
        results = [
            "\n".join(texts(b.get("content")))
            for b in (blocks if isinstance(blocks, list) else [])
            if isinstance(b, Mapping) and b.get("type") == "tool_result"
        ]
        tools = tuple(
            Tool(
                t["name"],
                t["input_schema"],
                t["description"] if isinstance(t.get("description"), str) else "",
            )
            for t in body.get("tools") or ()
            if isinstance(t, Mapping)
            and isinstance(t.get("name"), str)
            and isinstance(t.get("input_schema"), Mapping)
        )
        chars += len(dumps([{"name": t.name, "input_schema": t.schema} for t in tools])) if tools else 0
        choice, forced = _tool_choice(body.get("tool_choice"))
        schema = _output_schema(body)
        prompt = Prompt(
            user_text=user_text,
            system="\n".join(system),
            tool_result="\n".join(results) if results and last.get("role") == "user" else None,
            ends_with_user=last.get("role") == "user",
            tools=tools,
            tool_choice=choice,
            forced_tool=forced,
            json_mode=schema is not None,
            json_schema=schema,
            max_tokens=max_tokens,
            prompt_chars=chars,
        )
        return Call(model=model, prompt=prompt, stream=body.get("stream") is True)

    def invalid(self, message: str) -> WireError:
        return _error(400, "invalid_request_error", message)

    def context_exceeded(self, tokens: int, limit: int) -> WireError:
        return _error(400, "invalid_request_error", f"prompt is too long: {tokens} tokens > {limit} maximum")

    def error(self, status: int, *, retry_after: float) -> WireError:
        kind, message = _ERRORS.get(status, ("api_error", "Internal server error"))
        err = _error(status, kind, message)
        if status == 429:
            return WireError(429, err.body, {"retry-after": retry_after_seconds(retry_after)})
        return err

    def headers(self, limits: Limits) -> dict[str, str]:
        requests_reset = rfc3339(limits.now + limits.requests_reset_s)
        tokens_reset = rfc3339(limits.now + limits.tokens_reset_s)
        out = {
            "request-id": limits.request_id,
            "anthropic-ratelimit-requests-limit": str(limits.requests_limit),
            "anthropic-ratelimit-requests-remaining": str(limits.requests_remaining),
            "anthropic-ratelimit-requests-reset": requests_reset,
        }
        for kind in ("tokens", "input-tokens", "output-tokens"):
            out[f"anthropic-ratelimit-{kind}-limit"] = str(limits.tokens_limit)
            out[f"anthropic-ratelimit-{kind}-remaining"] = str(limits.tokens_remaining)
            out[f"anthropic-ratelimit-{kind}-reset"] = tokens_reset
        return out

    def body(self, call: Call, reply: Reply) -> Any:
        answer = reply.answer
        if answer.tool_call is not None:
            content: list[dict[str, Any]] = [
                {
                    "type": "tool_use",
                    "id": _tool_id(reply),
                    "name": answer.tool_call.name,
                    "input": answer.tool_call.arguments,
                }
            ]
        elif answer.finish is Finish.BLOCKED:
            content = []
        else:
            content = [{"type": "text", "text": answer.text}]
        out = _message(reply, content, _STOP[answer.finish], _usage(answer, answer.completion_tokens))
        if answer.finish is Finish.BLOCKED:
            out["stop_details"] = _REFUSAL
        return out

    def events(self, call: Call, reply: Reply) -> Events:
        answer = reply.answer
        start = _message(reply, [], None, _usage(answer, 1))
        opening = sse({"type": "message_start", "message": start}, "message_start")
        tool = answer.tool_call
        if tool is not None:
            block: dict[str, Any] | None = {
                "type": "tool_use",
                "id": _tool_id(reply),
                "name": tool.name,
                "input": {},
            }
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in tool.fragments]
        elif answer.finish is Finish.BLOCKED:
            block, deltas = None, []
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in answer.pieces]
        closing = b""
        if block is not None:
            opening += sse(
                {"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"
            )
            closing = sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        opening += sse({"type": "ping"}, "ping")
        content = [
            sse({"type": "content_block_delta", "index": 0, "delta": d}, "content_block_delta")
            for d in deltas
        ]
        delta: dict[str, Any] = {"stop_reason": _STOP[answer.finish], "stop_sequence": None}
        if answer.finish is Finish.BLOCKED:
            delta["stop_details"] = _REFUSAL
        closing += sse(
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": answer.completion_tokens}},
            "message_delta",
        )
        closing += sse({"type": "message_stop"}, "message_stop")
        return Events(opening, content, closing)

    def stream_error(self, call: Call, *, first: bool) -> bytes:
        return sse(_error(529, "overloaded_error", "Overloaded").body, "error")

    def broken_event(self, call: Call, *, first: bool) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"ty\n\n'


def _message(reply: Reply, content: list[dict[str, Any]], stop: str | None, usage: Any) -> dict[str, Any]:
    return {
        "id": f"msg_{reply.token}",
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _tool_id(reply: Reply) -> str:
    return f"toolu_{reply.token[:24]}"


def _usage(answer: Answer, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": answer.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _tool_choice(value: Any) -> tuple[ToolChoice, str | None]:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "none":
        return ToolChoice.NONE, None
    if kind == "any":
        return ToolChoice.REQUIRED, None
    if kind == "tool" and isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return ToolChoice.REQUIRED, value["name"]
    return ToolChoice.AUTO, None


def _output_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Structured outputs: `output_config.format` (or the beta `output_format`) of type json_schema."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else body.get("output_format")
    schema = fmt.get("schema") if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, Mapping) else None
