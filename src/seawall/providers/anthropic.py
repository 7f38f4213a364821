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

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson

from seawall._clock import Clock
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
from seawall.providers._http import HTTPProvider, SSEParser, decode_read, provider_headers
from seawall.providers._transport import Transport
from seawall.providers._wire_common import chunk_has_content

DEFAULT_BASE_URL = "https://api.anthropic.com"
#: Request fields models without sampling knobs reject (see `to_anthropic_request`).
_SAMPLING = ("temperature", "top_p", "top_k")
#: Client headers a pass-through forwards (merged with the provider's own).
_FORWARDED = ("anthropic-beta",)


class AnthropicProvider(HTTPProvider):
    """Speaks Anthropic Messages to `base_url` (the API root; `/v1/messages` is appended)."""

    dialect = Dialect.ANTHROPIC
    label = "anthropic"

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
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        own = provider_headers(
            {"content-type": "application/json", "anthropic-version": anthropic_version},
            headers,
            ("x-api-key", api_key) if api_key else None,
        )
        super().__init__(
            name,
            own,
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            clock=clock,
        )
        self._url = root + ("/messages" if root.endswith("/v1") else "/v1/messages")
        self._default_max_tokens = default_max_tokens
        self._sampling_params = sampling_params

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return classify_anthropic_error(status, body, headers)

    def ratelimit(self, headers: Mapping[str, str]) -> dict[str, str]:
        return parse_anthropic_ratelimit(headers)

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
        message, raw = await self.post(self._url, data, headers, info)
        if not isinstance(message, dict) or message.get("type") == "error":
            raise UpstreamBadResponse(
                "anthropic answer is not a message", upstream_status=info.status, body=raw
            )
        body = from_anthropic_response(message, request_model=target.model, created=int(self._clock.wall()))
        info.response_model = message.get("model") if isinstance(message.get("model"), str) else None
        info.usage = body["usage"]
        info.service_tier = _service_tier(message.get("usage"))
        return Completion(body, None, native=raw if self._passthrough(request) else None)

    async def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        data, headers = self._request(request, target, stream=True)
        native = self._passthrough(request)
        decoder = AnthropicStreamDecoder(request_model=target.model, created=int(self._clock.wall()))
        parser = SSEParser()

        def read(piece: bytes) -> Iterator[Chunk]:
            for event, payload, block in parser.events(piece):
                yield from self._decode(decoder, event, payload, block + b"\n\n" if native else None, info)
                if decoder.done:
                    return

        async for piece in self.pieces(self._url, data, headers, timeouts, info):
            chunks, end = decode_read(read(piece))
            for chunk in chunks:
                yield chunk
            if end is not None:
                raise end
            if decoder.done:
                return
        raise UpstreamStreamCut("anthropic stream ended without message_stop")

    def _decode(
        self,
        decoder: AnthropicStreamDecoder,
        event: str | None,
        payload: bytes,
        block: bytes | None,
        info: AttemptInfo,
    ) -> list[Chunk]:
        """One SSE event → chunks. With `block` (pass-through) the first chunk carries its bytes."""
        data = self.event_json(payload)
        kind = event or str(data.get("type", ""))
        canonical = decoder.feed(kind, data)
        if kind == "message_start":
            message: Any = data.get("message")
            model = message.get("model") if isinstance(message, dict) else None
            info.response_model = model if isinstance(model, str) else None
            info.service_tier = _service_tier(message.get("usage") if isinstance(message, dict) else None)
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


def _service_tier(usage: Any) -> str | None:
    tier = usage.get("service_tier") if isinstance(usage, dict) else None
    return tier if isinstance(tier, str) else None


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
