"""Adapter for Anthropic's Messages API (`kind: anthropic`; `kind: simulated` with `dialect: anthropic`).

Two modes, chosen per request:

- **translated** (the client spoke OpenAI): the canonical body goes through `to_anthropic_request`,
  answers come back through `from_anthropic_response` / `AnthropicStreamDecoder`.
- **pass-through** (the client spoke Anthropic, `ChatRequest.passthrough`): the client's own body is
  sent with only the model swapped (extended thinking, server tools, betas: nothing is lost), and the
  upstream's exact bytes ride back in `Completion.native` / `Chunk.native`. The canonical forms are
  still decoded alongside, for the commit point, usage and traces.

Wire errors are mapped once, in `_anthropic_errors` (`classify_anthropic_error` for HTTP answers,
`error_from_anthropic_event` for an in-stream `error` event such as `overloaded_error`): 529 /
`overloaded_error` is provider-wide overload (retryable, the target stays eligible); 429 is our own
quota there (the target is blocked until `retry-after`). `anthropic-ratelimit-*` headers and
`retry-after` are kept for traces. The adapter never retries.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from seawall._types import (
    AttemptInfo,
    AttemptTimeouts,
    ChatRequest,
    Chunk,
    Completion,
    Dialect,
    JSONDict,
    Target,
)
from seawall.errors import UpstreamBadResponse, UpstreamError, UpstreamStreamCut
from seawall.providers._anthropic_wire import (
    AnthropicStreamDecoder,
    classify_anthropic_error,
    from_anthropic_response,
    parse_anthropic_ratelimit,
    to_anthropic_request,
)
from seawall.providers._http import SSEParser, make_session, transport_error
from seawall.providers.openai import chunk_has_content
from seawall.resilience import parse_retry_after

DEFAULT_BASE_URL = "https://api.anthropic.com"
#: Request fields models without sampling knobs reject (see `to_anthropic_request`).
_SAMPLING = ("temperature", "top_p", "top_k")
#: Client headers a pass-through forwards (merged with the provider's own).
_FORWARDED = ("anthropic-beta",)


class AnthropicProvider:
    """Speaks Anthropic Messages to `base_url` (the API root; `/v1/messages` is appended)."""

    dialect = Dialect.ANTHROPIC

    def __init__(
        self,
        name: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1000,
        connect_timeout_s: float = 10.0,
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
        sampling_params: bool = True,
    ) -> None:
        self.name = name
        root = base_url.rstrip("/")
        self._url = root + ("/messages" if root.endswith("/v1") else "/v1/messages")
        self._headers = {
            "content-type": "application/json",
            "anthropic-version": anthropic_version,
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        if api_key:
            self._headers["x-api-key"] = api_key
        self._default_max_tokens = default_max_tokens
        self._sampling_params = sampling_params
        self._max_connections = max_connections
        self._connect_timeout_s = connect_timeout_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = make_session(
                max_connections=self._max_connections, connect_timeout_s=self._connect_timeout_s
            )
        return self._session

    def _passthrough(self, request: ChatRequest) -> bool:
        return request.native_body is not None and request.ingress is self.dialect

    def _request(self, request: ChatRequest, target: Target, *, stream: bool) -> tuple[bytes, dict[str, str]]:
        """The wire body and headers of one attempt."""
        headers = self._headers
        if request.native_body is not None and self._passthrough(request):
            body = dict(request.native_body)
            body["model"] = target.model
            if not self._sampling_params:
                for key in _SAMPLING:
                    body.pop(key, None)
            headers = _merge_headers(headers, request.native_headers)
        else:
            if request.untranslatable is not None:
                raise request.untranslatable
            body = to_anthropic_request(
                request.body,
                target.model,
                default_max_tokens=self._default_max_tokens,
                sampling_params=self._sampling_params,
            )
        if stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return orjson.dumps(body), headers

    async def complete(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> Completion:
        data, headers = self._request(request, target, stream=False)
        info.url, info.request_body = self._url, data
        try:
            async with self.session.post(self._url, data=data, headers=headers) as resp:
                info.status = resp.status
                info.ratelimit = parse_anthropic_ratelimit(resp.headers)
                raw = await resp.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc) from exc
        info.response_body = raw
        if resp.status >= 300:
            raise _classify(resp.status, raw, resp.headers)
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"anthropic sent invalid JSON: {exc}", upstream_status=resp.status
            ) from None
        if not isinstance(message, dict) or message.get("type") == "error":
            raise UpstreamBadResponse(
                "anthropic answer is not a message", upstream_status=resp.status, body=raw
            )
        body = from_anthropic_response(message, request_model=target.model)
        info.response_model = message.get("model") if isinstance(message.get("model"), str) else None
        info.usage = body["usage"]
        return Completion(body, None, native=raw if self._passthrough(request) else None)

    async def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        data, headers = self._request(request, target, stream=True)
        native = self._passthrough(request)
        info.url, info.request_body = self._url, data
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.idle)
        decoder = AnthropicStreamDecoder(request_model=target.model)
        answered = False
        try:
            async with self.session.post(self._url, data=data, headers=headers, timeout=timeout) as resp:
                answered = True
                info.status = resp.status
                info.ratelimit = parse_anthropic_ratelimit(resp.headers)
                if resp.status >= 300:
                    raw = await resp.read()
                    info.response_body = raw
                    raise _classify(resp.status, raw, resp.headers)
                parser = SSEParser()
                async for piece in resp.content.iter_any():
                    for event, payload, block in parser.feed_raw(piece):
                        for chunk in _decode(decoder, event, payload, block if native else None, info):
                            yield chunk
                        if decoder.done:
                            return
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, streaming=answered) from exc
        raise UpstreamStreamCut("anthropic stream ended without message_stop")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _classify(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    error = classify_anthropic_error(status, body, headers)
    if error.retry_after_s is None:  # an HTTP-date `retry-after`, or `retry-after-ms`
        error.retry_after_s = parse_retry_after(headers, now_epoch=time.time())
    return error


def _decode(
    decoder: AnthropicStreamDecoder, event: str | None, payload: bytes, block: bytes | None, info: AttemptInfo
) -> list[Chunk]:
    """One SSE event → chunks. With `block` (pass-through) the first chunk carries its bytes."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse(f"anthropic sent a malformed stream event: {payload[:120]!r}") from None
    if not isinstance(data, dict):
        raise UpstreamBadResponse("anthropic stream event is not a JSON object")
    kind = event or str(data.get("type", ""))
    canonical = decoder.feed(kind, data)
    if kind == "message_start":
        message: Any = data.get("message")
        model = message.get("model") if isinstance(message, dict) else None
        info.response_model = model if isinstance(model, str) else None
    if kind in ("message_start", "message_delta", "message_stop"):
        info.usage = decoder.usage
    if block is None:
        return [Chunk(c, None, chunk_has_content(c)) for c in canonical]
    # Pass-through: every upstream event reaches the client, so one that decodes to nothing
    # canonical (ping, block stop, a thinking delta) still travels, in a carrier chunk.
    content = kind == "content_block_delta" or any(chunk_has_content(c) for c in canonical)
    first: JSONDict = canonical[0] if canonical else {}
    chunks = [Chunk(first, None, content, native=block)]
    chunks += [Chunk(c, None, chunk_has_content(c), native=b"") for c in canonical[1:]]
    return chunks


def _merge_headers(own: dict[str, str], client: Mapping[str, str]) -> dict[str, str]:
    """The provider's headers plus the client's forwarded ones (beta flags are unioned)."""
    merged = dict(own)
    for name in _FORWARDED:
        value = client.get(name)
        if not value:
            continue
        flags = [f.strip() for f in (merged.get(name, "") + "," + value).split(",") if f.strip()]
        merged[name] = ",".join(dict.fromkeys(flags))
    return merged


__all__ = ["AnthropicProvider"]
