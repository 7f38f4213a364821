"""Ingress validation for the OpenAI dialect: the cheap type checks routing needs, with precise errors.

Only fields Seawall acts on (or whose wrong type an upstream would reject with a vaguer error) are
checked; everything else passes through untouched to OpenAI-compatible targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seawall._types import ChatRequest, Dialect, JSONDict
from seawall.errors import InvalidRequest
from seawall.ingress._controls import apply_controls

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _type_name(value: Any) -> str:
    return (
        "null"
        if value is None
        else {"bool": "boolean", "str": "string", "dict": "object", "list": "array"}.get(
            type(value).__name__, type(value).__name__
        )
    )


def _bad(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)}.", param=param
    )


def _int(body: Mapping[str, Any], key: str, minimum: int = 0) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(key, "an integer", value)
    if value < minimum:
        raise InvalidRequest(f"Invalid '{key}': must be at least {minimum}, got {value}.", param=key)


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _bad(key, "a number", value)
    if not low <= value <= high:
        raise InvalidRequest(
            f"Invalid '{key}': must be between {low:g} and {high:g}, got {value}.", param=key
        )


def _messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _bad("messages", "an array", messages)
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message.", param="messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad(f"messages[{i}]", "an object", msg)
        role = msg.get("role")
        if not isinstance(role, str):
            raise _bad(f"messages[{i}].role", "a string", role)
        if role not in _ROLES:
            raise InvalidRequest(
                f"Invalid value for 'messages[{i}].role': {role!r}; expected one of "
                f"{', '.join(sorted(_ROLES))}.",
                param=f"messages[{i}].role",
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _bad(f"messages[{i}].content", "a string or an array of content parts", content)


def _tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise _bad("tools", "an array", tools)
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools[{i}]", "an object", tool)
        fn = tool.get("function")
        if tool.get("type", "function") == "function":
            if not isinstance(fn, dict):
                raise _bad(f"tools[{i}].function", "an object", fn)
            if not isinstance(fn.get("name"), str) or not fn["name"]:
                raise _bad(f"tools[{i}].function.name", "a non-empty string", fn.get("name"))


def parse_openai_request(body: Any, headers: Mapping[str, str] | None = None) -> ChatRequest:
    """Validate a parsed Chat Completions body and wrap it as a `ChatRequest` (no copy), with the
    client's control headers applied (`seawall.ingress._controls`)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, got {_type_name(body)}.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        if model is None:
            raise InvalidRequest("Missing required parameter: 'model'.", param="model")
        raise _bad("model", "a non-empty string", model)
    if "messages" not in body:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
    _messages(body["messages"])
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad("stream", "a boolean", stream)
    opts = body.get("stream_options")
    if opts is not None:
        if not isinstance(opts, dict):
            raise _bad("stream_options", "an object", opts)
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
    _int(body, "max_tokens", 1)
    _int(body, "max_completion_tokens", 1)
    _int(body, "n", 1)
    _int(body, "seed", -(2**63))
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise _bad("stop", "a string or an array of strings", stop)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "a string", user)
    if "tools" in body and body["tools"] is not None:
        _tools(body["tools"])
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, str | dict):
        raise _bad("tool_choice", "a string or an object", choice)
    fmt = body.get("response_format")
    if fmt is not None:
        if not isinstance(fmt, dict):
            raise _bad("response_format", "an object", fmt)
        if fmt.get("type") not in ("text", "json_object", "json_schema"):
            raise InvalidRequest(
                "Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema'.",
                param="response_format.type",
            )
    request = ChatRequest(body=body, model=model, stream=stream, ingress=Dialect.OPENAI)
    return apply_controls(request, headers or {})


__all__ = ["JSONDict", "parse_openai_request"]
