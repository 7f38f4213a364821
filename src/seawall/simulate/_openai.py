"""OpenAI Chat Completions on the wire: `POST /v1/chat/completions`, JSON or SSE.

Streams are ``data: {chat.completion.chunk}`` events: a role chunk (carrying the tool call's
id and name when the answer is a tool call), one chunk per word or argument fragment, a chunk
with `finish_reason`, a usage chunk with ``"choices": []`` when `stream_options.include_usage`
is set, then ``data: [DONE]``. An in-stream error is ``data: {"error": {...}}``.
"""

from __future__ import annotations

import math
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
    sse,
    texts,
)

_FINISH = {
    Finish.STOP: "stop",
    Finish.LENGTH: "length",
    Finish.TOOL_CALL: "tool_calls",
    Finish.BLOCKED: "content_filter",
}
_MAX_CHOICES = 16
_SERVER_ERRORS = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The server is overloaded or not ready yet.",
}


def _error(
    status: int, message: str, kind: str, *, param: str | None = None, code: str | None = None
) -> WireError:
    return WireError(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


def duration(seconds: float) -> str:
    """A reset time the way OpenAI writes it: ``6ms``, ``1s``, ``1m30s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


class OpenAIDialect(Dialect):
    name: ClassVar[str] = "openai"

    def parse(self, body: Any, *, path_model: str | None = None, stream: bool | None = None) -> Call:
        if not isinstance(body, Mapping):
            raise Rejected(self.invalid("The request body must be a JSON object."))
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise Rejected(_error(400, "you must provide a model parameter", "invalid_request_error"))
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise Rejected(
                _error(
                    400,
                    "Missing required parameter: 'messages'.",
                    "invalid_request_error",
                    param="messages",
                    code="missing_required_parameter",
                )
            )
        if not messages:
            raise Rejected(
                _error(
                    400,
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                    "but got an empty array instead.",
                    "invalid_request_error",
                    param="messages",
                    code="empty_array",
                )
            )
        system: list[str] = []
        user_text = ""
        chars = 0
        for msg in messages:
            if not isinstance(msg, Mapping):
                continue
            parts = texts(msg.get("content"))
            chars += sum(map(len, parts))
            for call in msg.get("tool_calls") or ():
                if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
                    chars += len(str(call["function"].get("arguments", "")))
            role = msg.get("role")
            if role in ("system", "developer"):
                system.extend(parts)
            elif role == "user":
                user_text = "\n".join(parts)
        last = messages[-1] if isinstance(messages[-1], Mapping) else {}
        tool_result = None
        if last.get("role") in ("tool", "function"):
            trailing: list[str] = []
            for msg in reversed(messages):
                if not isinstance(msg, Mapping) or msg.get("role") not in ("tool", "function"):
                    break
                trailing.insert(0, "\n".join(texts(msg.get("content"))))
            tool_result = "\n".join(trailing)

        tools = _tools(body)
        chars += len(dumps([{"name": t.name, "parameters": t.schema} for t in tools])) if tools else 0
        choice, forced = _tool_choice(body.get("tool_choice", body.get("function_call")))
        json_mode, schema = False, None
        fmt = body.get("response_format")
        if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
            json_mode = True
            spec = fmt.get("json_schema")
            if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
                schema = spec["schema"]
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        n = body.get("n")
        options = body.get("stream_options")
        prompt = Prompt(
            user_text=user_text,
            system="\n".join(system),
            tool_result=tool_result,
            ends_with_user=last.get("role") == "user",
            tools=tools,
            tool_choice=choice,
            forced_tool=forced,
            json_mode=json_mode,
            json_schema=schema,
            max_tokens=max_tokens
            if isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
            else None,
            prompt_chars=chars,
        )
        return Call(
            model=model,
            prompt=prompt,
            stream=body.get("stream") is True,
            include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
            choices=min(n, _MAX_CHOICES) if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1,
        )

    def invalid(self, message: str) -> WireError:
        return _error(400, message, "invalid_request_error")

    def context_exceeded(self, tokens: int, limit: int) -> WireError:
        return _error(
            400,
            f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
            f"{tokens} tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            param="messages",
            code="context_length_exceeded",
        )

    def error(self, status: int, *, retry_after: float) -> WireError:
        if status == 429:
            err = _error(
                429,
                "Rate limit reached for requests per min (RPM): Limit 10000, Used 10000, Requested 1. "
                f"Please try again in {duration(retry_after)}.",
                "requests",
                code="rate_limit_exceeded",
            )
            headers = {
                "retry-after": retry_after_seconds(retry_after),
                "retry-after-ms": str(math.ceil(retry_after * 1000)),
            }
            return WireError(429, err.body, headers)
        status = 503 if status == 529 else status
        return _error(status, _SERVER_ERRORS.get(status, "The server had an error."), "server_error")

    def headers(self, limits: Limits) -> dict[str, str]:
        return {
            "x-request-id": limits.request_id,
            "openai-version": "2020-10-01",
            "x-ratelimit-limit-requests": str(limits.requests_limit),
            "x-ratelimit-remaining-requests": str(limits.requests_remaining),
            "x-ratelimit-reset-requests": duration(limits.requests_reset_s),
            "x-ratelimit-limit-tokens": str(limits.tokens_limit),
            "x-ratelimit-remaining-tokens": str(limits.tokens_remaining),
            "x-ratelimit-reset-tokens": duration(limits.tokens_reset_s),
        }

    def body(self, call: Call, reply: Reply) -> Any:
        answer = reply.answer
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.text if answer.finish not in (Finish.TOOL_CALL, Finish.BLOCKED) else None,
            "refusal": None,
            "annotations": [],
        }
        if answer.tool_call is not None:
            message["tool_calls"] = [
                {
                    "id": _call_id(reply),
                    "type": "function",
                    "function": {"name": answer.tool_call.name, "arguments": answer.tool_call.arguments_json},
                }
            ]
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": _FINISH[answer.finish]}
            for i in range(call.choices)
        ]
        return {
            "id": _response_id(reply),
            "object": "chat.completion",
            "created": reply.created,
            "model": reply.model,
            "choices": choices,
            "usage": _usage(answer, call.choices),
            "service_tier": "default",
            "system_fingerprint": reply.fingerprint,
        }

    def events(self, call: Call, reply: Reply) -> Events:
        answer = reply.answer
        head = {
            "id": _response_id(reply),
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "service_tier": "default",
            "system_fingerprint": reply.fingerprint,
        }

        def chunk(index: int, delta: Mapping[str, Any], finish: str | None = None) -> bytes:
            obj = dict(head)
            obj["choices"] = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]
            if call.include_usage:
                obj["usage"] = None
            return sse(obj)

        tool = answer.tool_call
        role: dict[str, Any] = {"role": "assistant", "content": None if tool else "", "refusal": None}
        if tool is not None:
            role["tool_calls"] = [
                {
                    "index": 0,
                    "id": _call_id(reply),
                    "type": "function",
                    "function": {"name": tool.name, "arguments": ""},
                }
            ]
            deltas: list[dict[str, Any]] = [
                {"tool_calls": [{"index": 0, "function": {"arguments": f}}]} for f in tool.fragments
            ]
        else:
            deltas = [{"content": p} for p in answer.pieces]
        opening = b"".join(chunk(i, role) for i in range(call.choices))
        content = [chunk(i, d) for d in deltas for i in range(call.choices)]
        closing = b"".join(chunk(i, {}, _FINISH[answer.finish]) for i in range(call.choices))
        if call.include_usage:
            closing += sse({**head, "choices": [], "usage": _usage(answer, call.choices)})
        return Events(opening, content, closing + b"data: [DONE]\n\n")

    def stream_error(self, call: Call, *, first: bool) -> bytes:
        return sse(_error(500, _SERVER_ERRORS[500], "server_error").body)

    def broken_event(self, call: Call, *, first: bool) -> bytes:
        return (
            b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta":{"cont\n\n'
        )


def _response_id(reply: Reply) -> str:
    return f"chatcmpl-{reply.token}"


def _call_id(reply: Reply) -> str:
    return f"call_{reply.token[:24]}"


def _usage(answer: Answer, choices: int) -> dict[str, Any]:
    completion = answer.completion_tokens * choices
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": answer.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for tool in body.get("tools") or ():
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            out.append(Tool(fn["name"], params if isinstance(params, Mapping) else {}, _description(fn)))
    for fn in body.get("functions") or ():  # the legacy spelling
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            out.append(Tool(fn["name"], params if isinstance(params, Mapping) else {}, _description(fn)))
    return tuple(out)


def _description(fn: Mapping[str, Any]) -> str:
    description = fn.get("description")
    return description if isinstance(description, str) else ""


def _tool_choice(value: Any) -> tuple[ToolChoice, str | None]:
    if value == "none":
        return ToolChoice.NONE, None
    if value == "required":
        return ToolChoice.REQUIRED, None
    if isinstance(value, Mapping):
        fn = value.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else value.get("name")
        if isinstance(name, str):
            return ToolChoice.REQUIRED, name
    return ToolChoice.AUTO, None
