"""Adapter for OpenAI and every OpenAI-compatible server (Azure-style, vLLM, Ollama `/v1`, Together, Groq…).

Canonical requests are already OpenAI-shaped, so this adapter only swaps in the target's model
name and forwards; answers are forwarded as the upstream's own bytes. Unknown request fields an
OpenAI-dialect client sent pass through untouched. A body Seawall translated from another ingress
dialect loses the Seawall extensions strict OpenAI servers reject (`strip_extensions`). Wire errors
are classified here, once (`classify_openai_error`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson

from seawall._clock import Clock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Dialect, Target
from seawall.errors import (
    ContentFiltered,
    ContextLengthExceeded,
    ErrorClass,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamStreamCut,
    UpstreamUnavailable,
)
from seawall.providers._http import HTTPProvider, SSEParser, decode_read, provider_headers, ratelimit_headers
from seawall.providers._transport import Transport
from seawall.providers._wire_common import chunk_has_content
from seawall.resilience import parse_retry_after

_RL_PREFIXES = ("x-ratelimit-",)


def _error_fields(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, type) from an OpenAI-style error body, tolerating anything."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace") or "(empty body)", None, None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code = err.get("code")
        etype = err.get("type")
        return (
            str(err.get("message") or "(no message)"),
            str(code) if code is not None else None,
            str(etype) if etype is not None else None,
        )
    if isinstance(err, str):
        return err, None, None
    return str(data)[:300], None, None


def classify_openai_error(
    status: int, body: bytes, headers: Mapping[str, str], *, now_epoch: float | None = None
) -> UpstreamError:
    """Map one non-2xx OpenAI-style answer to Seawall's error tree. A `Retry-After` HTTP date is
    resolved only with `now_epoch` (the wall clock; the adapter resolves it with its own clock)."""
    message, code, etype = _error_fields(body)
    text = f"upstream {status}: {message}"
    low = message.lower()
    if status == 429:
        if code == "insufficient_quota":
            return UpstreamRejected(text, error_class=ErrorClass.AUTH, upstream_status=status, body=body)
        return UpstreamRateLimited(
            text, upstream_status=status, retry_after_s=parse_retry_after(headers, now_epoch=now_epoch)
        )
    if status == 529 or etype == "overloaded_error":
        return UpstreamUnavailable(
            text,
            error_class=ErrorClass.OVERLOADED,
            upstream_status=status,
            retry_after_s=parse_retry_after(headers, now_epoch=now_epoch),
        )
    if status >= 500 or status in (408, 409):
        cls = ErrorClass.TIMEOUT if status in (408, 504) else ErrorClass.SERVER_ERROR
        return UpstreamUnavailable(
            text,
            error_class=cls,
            upstream_status=status,
            retry_after_s=parse_retry_after(headers, now_epoch=now_epoch),
        )
    if code == "context_length_exceeded" or "maximum context length" in low or "context length" in low:
        return ContextLengthExceeded(text, upstream_status=status, body=body)
    if code in ("content_filter", "content_policy_violation") or "content management policy" in low:
        return ContentFiltered(text, upstream_status=status, body=body)
    if status in (401, 403):
        return UpstreamRejected(text, error_class=ErrorClass.AUTH, upstream_status=status, body=body)
    if status == 404:
        return UpstreamRejected(text, error_class=ErrorClass.NOT_FOUND, upstream_status=status, body=body)
    return UpstreamRejected(text, upstream_status=status, body=body)


#: Seawall extension fields of canonical bodies translated from another dialect (Anthropic ingress):
#: `top_k` (a sampling hint OpenAI has no knob for) and `cache_control` (Anthropic's prompt-caching
#: marker; OpenAI caches prompts automatically). Neither changes the shape of the answer.
EXTENSION_FIELDS = ("top_k", "cache_control")


def strip_extensions(body: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of a translated canonical body without Seawall's extension fields, at the top
    level, on content parts and on tools. Only containers that change are copied."""
    out = {k: v for k, v in body.items() if k not in EXTENSION_FIELDS}
    messages = out.get("messages")
    if isinstance(messages, list):
        out["messages"] = [_strip_message(m) for m in messages]
    tools = out.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_without_cache_control(t) for t in tools]
    return out


def _strip_message(message: Any) -> Any:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content):
        return {**message, "content": [_without_cache_control(p) for p in content]}
    return message


def _without_cache_control(item: Any) -> Any:
    if isinstance(item, dict) and "cache_control" in item:
        return {k: v for k, v in item.items() if k != "cache_control"}
    return item


class OpenAIProvider(HTTPProvider):
    """Speaks OpenAI Chat Completions to `base_url` (which ends in `/v1` or the server's equivalent)."""

    dialect = Dialect.OPENAI

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1000,
        connect_timeout_s: float = 10.0,
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        own = provider_headers(
            {"content-type": "application/json"},
            headers,
            ("authorization", f"Bearer {api_key}") if api_key else None,
        )
        super().__init__(
            name,
            own,
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            clock=clock,
        )
        self._url = base_url.rstrip("/") + "/chat/completions"

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return classify_openai_error(status, body, headers)

    def ratelimit(self, headers: Mapping[str, str]) -> dict[str, str]:
        return ratelimit_headers(headers, _RL_PREFIXES)

    def _body(self, request: ChatRequest, target: Target, *, stream: bool) -> bytes:
        if request.untranslatable is not None:
            raise request.untranslatable
        body = dict(request.body) if request.ingress is Dialect.OPENAI else strip_extensions(request.body)
        body["model"] = target.model
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return orjson.dumps(body)

    async def complete(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> Completion:
        body, raw = await self.post(self._url, self._body(request, target, stream=False), self._headers, info)
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamBadResponse("upstream answer has no 'choices' list", upstream_status=info.status)
        info.response_model = body.get("model")
        info.system_fingerprint = body.get("system_fingerprint")
        info.service_tier = _str(body.get("service_tier"))
        info.usage = body.get("usage")
        return Completion(body, raw)

    async def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        data = self._body(request, target, stream=True)
        parser = SSEParser()
        done = False

        def read(piece: bytes) -> Iterator[Chunk]:
            nonlocal done
            for _event, payload, _block in parser.events(piece):
                if payload == b"[DONE]":
                    done = True
                    return
                chunk = self.event_json(payload)
                if "error" in chunk:
                    raise _stream_error(chunk["error"], payload)
                if info.response_model is None:
                    info.response_model = chunk.get("model")
                    info.system_fingerprint = chunk.get("system_fingerprint")
                    info.service_tier = _str(chunk.get("service_tier"))
                if chunk.get("usage"):
                    info.usage = chunk["usage"]
                yield Chunk(chunk, payload, chunk_has_content(chunk))

        async for piece in self.pieces(self._url, data, self._headers, timeouts, info):
            chunks, end = decode_read(read(piece))
            for chunk in chunks:
                yield chunk
            if end is not None:
                raise end
            if done:
                return
        raise UpstreamStreamCut("upstream stream ended without [DONE]")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _stream_error(err: Any, payload: bytes) -> UpstreamError:
    """An in-stream `{"error": ...}` event (what OpenAI sends when a stream fails server-side)."""
    message = str(err.get("message") if isinstance(err, dict) else err)
    etype = err.get("type") if isinstance(err, dict) else None
    if etype in ("overloaded_error", "server_error", "api_error", None):
        cls = ErrorClass.OVERLOADED if etype == "overloaded_error" else ErrorClass.SERVER_ERROR
        return UpstreamUnavailable(f"upstream stream error: {message}", error_class=cls, body=payload)
    if etype in ("rate_limit_error", "rate_limit_exceeded"):
        return UpstreamRateLimited(f"upstream stream error: {message}", body=payload)
    return UpstreamRejected(f"upstream stream error: {message}", body=payload)
