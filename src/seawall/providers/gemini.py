"""Adapter for Google's Gemini API (`kind: gemini`; `kind: simulated` with `dialect: gemini`).

Canonical requests are translated by `to_gemini_request` and sent to
`{base_url}/v1beta/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` for streams
(one `GenerateContentResponse` per SSE event, no terminal sentinel: the stream is complete when
every candidate has a `finishReason`). Answers come back through `from_gemini_response` /
`GeminiStreamDecoder`. Seawall has no Gemini ingress, so there is no pass-through here.

Wire errors are mapped once, in `_gemini_errors`: HTTP errors by status and RPC status, an
in-stream `{"error": …}` event likewise, and safety blocks (`promptFeedback.blockReason`, a
`SAFETY`-like `finishReason`) to `ContentFiltered`, which is returned to the client and never
retried elsewhere. The API key travels in `x-goog-api-key`, never in the URL, so it cannot leak
into traces. The adapter never retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from urllib.parse import quote

import orjson

from seawall._clock import Clock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Dialect, Target
from seawall.errors import UpstreamError, UpstreamStreamCut
from seawall.providers._gemini_wire import (
    GeminiStreamDecoder,
    classify_gemini_error,
    from_gemini_response,
    to_gemini_request,
)
from seawall.providers._http import HTTPProvider, SSEParser, decode_read, provider_headers, ratelimit_headers
from seawall.providers._transport import Transport
from seawall.providers._wire_common import chunk_has_content

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_RL_PREFIXES = ("x-ratelimit-",)


class GeminiProvider(HTTPProvider):
    """Speaks Gemini `generateContent` to `base_url` (the API root; `/v1beta` is appended unless
    the URL already names an API version)."""

    dialect = Dialect.GEMINI
    label = "gemini"

    def __init__(
        self,
        name: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1000,
        connect_timeout_s: float = 10.0,
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        own = provider_headers(
            {"content-type": "application/json"}, headers, ("x-goog-api-key", api_key) if api_key else None
        )
        super().__init__(
            name,
            own,
            max_connections=max_connections,
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            clock=clock,
        )
        self._root = root if root.endswith(("/v1beta", "/v1", "/v1alpha")) else root + "/v1beta"

    def classify(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return classify_gemini_error(status, body, headers)

    def ratelimit(self, headers: Mapping[str, str]) -> dict[str, str]:
        return ratelimit_headers(headers, _RL_PREFIXES)

    def _url(self, target: Target, *, stream: bool) -> str:
        model = quote(target.model.removeprefix("models/"), safe="-._~@")
        if stream:
            return f"{self._root}/models/{model}:streamGenerateContent?alt=sse"
        return f"{self._root}/models/{model}:generateContent"

    @staticmethod
    def _body(request: ChatRequest) -> bytes:
        if request.untranslatable is not None:
            raise request.untranslatable
        return orjson.dumps(to_gemini_request(request.body))

    async def complete(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> Completion:
        answer, _raw = await self.post(
            self._url(target, stream=False), self._body(request), self._headers, info
        )
        if isinstance(answer, dict):
            info.response_model = (
                answer.get("modelVersion") if isinstance(answer.get("modelVersion"), str) else None
            )
        body = from_gemini_response(answer, request_model=target.model, created=int(self._clock.wall()))
        info.usage = body["usage"]
        return Completion(body)

    async def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        data = self._body(request)
        decoder = GeminiStreamDecoder(request_model=target.model, created=int(self._clock.wall()))
        parser = SSEParser()

        def read(piece: bytes) -> Iterator[Chunk]:
            for _event, payload, _block in parser.events(piece):
                event = self.event_json(payload)
                for chunk in decoder.feed(event):
                    yield Chunk(chunk, None, chunk_has_content(chunk))
                if info.response_model is None and isinstance(event.get("modelVersion"), str):
                    info.response_model = event["modelVersion"]
                info.usage = decoder.usage

        # No terminal sentinel: read to the end (the last event may still carry usage).
        async for piece in self.pieces(self._url(target, stream=True), data, self._headers, timeouts, info):
            chunks, end = decode_read(read(piece))
            for chunk in chunks:
                yield chunk
            if end is not None:
                raise end
        if not decoder.done:
            raise UpstreamStreamCut("gemini stream ended before every candidate finished")


__all__ = ["GeminiProvider"]
