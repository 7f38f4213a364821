"""The canonical form of a Chat Completions request, for cache keys, and which requests are cacheable.

Two requests that normalise to the same dict must get the same answer from the same model; two that may
get different answers must never normalise to the same dict. When in doubt a rule is left out: a missed
equivalence costs a cache miss, a wrong one serves an answer to a question that was not asked. The full
table of rules, with the reason for each, is in docs/cache.md ("Normalisation").

Pure: no I/O, no configuration. The input is never modified (the result shares unchanged sub-objects
with it, so treat the result as read-only too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from seawall._types import ChatRequest, JSONDict

_NEUTRAL: Final = frozenset(
    {
        "stream",  # how the answer is delivered: a stored answer is re-encoded for either form
        "stream_options",  # idem (`include_usage` only adds the trailing usage chunk)
        "user",  # an end-user id for the provider's abuse tracking: never reaches the model
        "safety_identifier",  # the successor of `user`
        "metadata",  # tags for the provider's stored-completions dashboard
        "store",  # whether the provider keeps the completion for evals; not what it answers
        "prompt_cache_key",  # routing hint for the provider's prompt cache: latency and price only
        "prompt_cache_retention",  # idem
        "seawall",  # Seawall's own controls: the snapshot it names is a key part of its own
    }
)
"""Fields that do not change the answer: left out of the key."""

_MISSING: Final = object()

_SCALAR_DEFAULTS: Final[Mapping[str, object]] = {
    "temperature": 1,
    "top_p": 1,
    "n": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "parallel_tool_calls": True,
}
"""Fields whose documented default is a constant: given with that value == absent."""

_NUMBERS: Final = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
"""Sampling parameters that are plain numbers: `0.0` and `0` are one value."""


def _same_value(value: object, default: object) -> bool:
    """`value == default` without Python's `True == 1` (a boolean where a number is due, or the
    reverse, is a different request: the upstream rejects it)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value is default
    return isinstance(value, int | float) and value == default


def _number(value: Any) -> Any:
    """An integral float as an int (`1.0` → `1`), so both spellings encode alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text_part(part: Any) -> str | None:
    """The text of a content part that is plain text and nothing else, else None."""
    if isinstance(part, dict) and len(part) == 2 and part.get("type") == "text":
        text = part.get("text")
        if isinstance(text, str):
            return text
    return None


def _message(message: Any) -> Any:
    """One message with `null` fields dropped and a lone plain-text content part as a string."""
    if not isinstance(message, dict):
        return message
    if len(message) == 2 and type(message.get("content")) is str and "role" in message:
        return message  # the usual {role, content: "text"}: already canonical (and never mutated)
    out = {k: v for k, v in message.items() if v is not None}
    content = out.get("content")
    if isinstance(content, list) and len(content) == 1:
        text = _text_part(content[0])
        if text is not None:
            out["content"] = text
    return out


def _max_tokens(out: JSONDict) -> None:
    """`max_tokens` (deprecated) and `max_completion_tokens` as one field, when they do not conflict."""
    legacy = out.get("max_tokens")
    if legacy is None:
        return
    current = out.get("max_completion_tokens")
    if current is None or (current == legacy and type(current) is type(legacy)):
        del out["max_tokens"]
        out["max_completion_tokens"] = legacy


def _tools(out: JSONDict) -> None:
    """No tools == an empty tool list; `tool_choice` at its default (`auto` with tools, `none`
    without) == absent."""
    if out.get("tools") == []:
        del out["tools"]
    choice = out.get("tool_choice")
    if choice is not None and choice == ("auto" if "tools" in out else "none"):
        del out["tool_choice"]


def _stop(out: JSONDict) -> None:
    """`stop: "x"` == `stop: ["x"]`; an empty list == absent."""
    stop = out.get("stop")
    if isinstance(stop, str):
        out["stop"] = [stop]
    elif stop == []:
        del out["stop"]


def _empty_defaults(out: JSONDict) -> None:
    """Structured fields given with their default value: text output, no bias, text modality."""
    if out.get("response_format") == {"type": "text"}:
        del out["response_format"]
    if out.get("logit_bias") == {}:
        del out["logit_bias"]
    if out.get("modalities") == ["text"]:
        del out["modalities"]


def normalized_request(body: Mapping[str, Any]) -> JSONDict:
    """The canonical form of a Chat Completions body for cache keys (rules: docs/cache.md).

    Kept exactly as given (never merged): `model`, message roles and text, tool schemas,
    `response_format` schemas, `seed`, every field Seawall does not know (vendor extensions)."""
    out: JSONDict = {}
    for key, value in body.items():
        if value is None or key in _NEUTRAL:
            continue
        default = _SCALAR_DEFAULTS.get(key, _MISSING)
        if default is not _MISSING and _same_value(value, default):
            continue
        out[key] = value
    for key in _NUMBERS:
        if key in out:
            out[key] = _number(out[key])
    messages = out.get("messages")
    if isinstance(messages, list):
        out["messages"] = [_message(m) for m in messages]
    # each rule only when its field is there (most requests have none of them)
    if "max_tokens" in out:
        _max_tokens(out)
    if "tools" in out or "tool_choice" in out:
        _tools(out)
    if "stop" in out:
        _stop(out)
    if "response_format" in out or "logit_bias" in out or "modalities" in out:
        _empty_defaults(out)
    return out


def _wants_audio(body: Mapping[str, Any]) -> bool:
    modalities = body.get("modalities")
    return body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities)


def cacheable(body: Mapping[str, Any], *, allow_n: bool = False) -> str | None:
    """Why this body must not be served from (or stored in) the cache; None when it may be.

    `allow_n`: cache requests for several choices (`n > 1`) too; off by default, since a client
    asking for several samples usually wants them drawn afresh (docs/cache.md, "Never cached")."""
    if not isinstance(body.get("messages"), list) or not isinstance(body.get("model"), str):
        return "not a chat completions request"
    n = body.get("n")
    if isinstance(n, int) and n > 1 and not allow_n:
        return "n > 1: several samples are drawn afresh unless the model's cache allows n"
    if body.get("logprobs") is True:
        return "logprobs: per-token sampling data is not kept with a cached answer"
    if ("audio" in body or "modalities" in body) and _wants_audio(body):
        return "audio output: not kept by the cache"
    if body.get("web_search_options") is not None:
        return "web search: the answer depends on live search results"
    return None


def request_cacheable(request: ChatRequest, *, allow_n: bool = False) -> str | None:
    """`cacheable` for a whole `ChatRequest`: also refuses canary probes (a probe measures the
    upstream), requests whose canonical body is partial (`untranslatable`) and requests carrying
    dialect headers for the upstream (`anthropic-beta` may change the answer; it is not in `body`)."""
    if request.probe_target is not None:
        return "canary probe"
    if request.untranslatable is not None:
        return "the request uses a feature the canonical body does not carry"
    if request.native_headers:
        return "dialect headers for the upstream (e.g. anthropic-beta) are not part of the key"
    return cacheable(request.body, allow_n=allow_n)


__all__ = ["cacheable", "normalized_request", "request_cacheable"]
