"""Small pure helpers shared by the dialect translators (Anthropic, Gemini, the Anthropic ingress).

Nothing here does I/O or knows about a particular provider: data-URL parsing, JSON tool-argument
handling, type checks that raise `InvalidRequest` naming the offending parameter, and the canonical
(OpenAI) usage/chunk shapes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from seawall._types import JSONDict
from seawall.errors import InvalidRequest, UpstreamBadResponse

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]+)(?:;[^;,]*)*?;base64,(?P<data>.*)$", re.DOTALL)


def now_s() -> int:
    """Wall-clock seconds for a response's `created` when the caller did not pass one."""
    return int(time.time())


def parse_data_url(url: str) -> tuple[str, str] | None:
    """Split `data:<mime>[;param…];base64,<data>` into `(mime, data)`; `None` for any other URL."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    return match.group("mime").strip().lower(), match.group("data")


def dumps_compact(value: Any) -> str:
    """JSON text the way OpenAI writes tool-call arguments: compact, UTF-8 kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_tool_arguments(arguments: Any, *, param: str) -> JSONDict:
    """OpenAI tool-call `arguments` (a JSON string) → the object it encodes.

    An empty string means "no arguments" (some models emit it for parameterless tools).
    Raises `InvalidRequest` when the text is not a JSON object: the target dialects carry
    arguments as objects and would otherwise receive something the model never meant.
    """
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        raise InvalidRequest("tool call `arguments` must be a JSON string", param=param)
    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise InvalidRequest(f"tool call `arguments` is not valid JSON: {exc}", param=param) from exc
    if not isinstance(parsed, dict):
        raise InvalidRequest("tool call `arguments` must encode a JSON object", param=param)
    return parsed


def parse_upstream_arguments(arguments: Any) -> JSONDict:
    """Like `parse_tool_arguments`, for arguments produced by an upstream model.

    Raises `UpstreamBadResponse` (retryable): the model, not the client, produced broken JSON.
    """
    try:
        return parse_tool_arguments(arguments, param="tool_calls.function.arguments")
    except InvalidRequest as exc:
        raise UpstreamBadResponse(f"upstream tool call arguments unusable: {exc.message}") from exc


def expect_dict(value: Any, param: str) -> JSONDict:
    if not isinstance(value, dict):
        raise InvalidRequest(f"`{param}` must be an object", param=param)
    return value


def expect_list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidRequest(f"`{param}` must be an array", param=param)
    return value


def expect_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"`{param}` must be a string", param=param)
    return value


def expect_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"`{param}` must be an integer", param=param)
    if minimum is not None and value < minimum:
        raise InvalidRequest(f"`{param}` must be ≥ {minimum}", param=param)
    return value


def expect_number(value: Any, param: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"`{param}` must be a number", param=param)
    if not low <= value <= high:
        raise InvalidRequest(f"`{param}` must be between {low:g} and {high:g}", param=param)
    return float(value) if isinstance(value, float) else value


def stop_list(value: Any, param: str = "stop") -> list[str]:
    """OpenAI `stop` (a string, a list of strings, or null) → a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    items = expect_list(value, param)
    return [expect_str(item, f"{param}[{i}]") for i, item in enumerate(items)]


def text_of_parts(content: Any, param: str) -> list[JSONDict]:
    """Message `content` (string, list of parts, or null) → a list of part objects."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    parts = expect_list(content, param)
    return [expect_dict(part, f"{param}[{i}]") for i, part in enumerate(parts)]


def openai_usage(
    prompt: int,
    completion: int,
    *,
    total: int | None = None,
    cached: int | None = None,
    reasoning: int | None = None,
) -> JSONDict:
    """The canonical `usage` object."""
    usage: JSONDict = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def int_field(obj: Mapping[str, Any], key: str) -> int:
    """An integer counter from an upstream object; absent, null or malformed counts as 0."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value


def chunk(
    *, id: str, created: int, model: str, delta: JSONDict, finish_reason: str | None = None, index: int = 0
) -> JSONDict:
    """One canonical `chat.completion.chunk` with a single choice."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def usage_chunk(*, id: str, created: int, model: str, usage: JSONDict) -> JSONDict:
    """The trailing usage-only chunk (`choices: []`), as OpenAI sends with `include_usage`."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }


def chunk_has_content(data: Mapping[str, Any]) -> bool:
    """True if a canonical chunk carries something beyond the opening role announcement: text, a
    tool-call piece, a refusal, a finish reason or usage (what makes it the commit point)."""
    choices = data.get("choices")
    if not choices:
        return data.get("usage") is not None
    for choice in choices:
        if choice.get("finish_reason"):
            return True
        delta = choice.get("delta") or {}
        if (
            delta.get("content")
            or delta.get("tool_calls")
            or delta.get("refusal")
            or delta.get("function_call")
        ):
            return True
    return False
