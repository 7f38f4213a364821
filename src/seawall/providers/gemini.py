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

import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import aiohttp
import orjson

from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Dialect, Target
from seawall.errors import UpstreamBadResponse, UpstreamError, UpstreamStreamCut
from seawall.providers._gemini_wire import (
    GeminiStreamDecoder,
    classify_gemini_error,
    from_gemini_response,
    to_gemini_request,
)
from seawall.providers._http import SSEParser, make_session, ratelimit_headers, transport_error
from seawall.providers.openai import chunk_has_content
from seawall.resilience import parse_retry_after

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_RL_PREFIXES = ("x-ratelimit-",)


class GeminiProvider:
    """Speaks Gemini `generateContent` to `base_url` (the API root; `/v1beta` is appended unless
    the URL already names an API version)."""

    dialect = Dialect.GEMINI

    def __init__(
        self,
        name: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 1000,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        root = base_url.rstrip("/")
        self._root = root if root.endswith(("/v1beta", "/v1", "/v1alpha")) else root + "/v1beta"
        self._headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self._headers["x-goog-api-key"] = api_key
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
        data = self._body(request)
        url = self._url(target, stream=False)
        info.url, info.request_body = url, data
        try:
            async with self.session.post(url, data=data, headers=self._headers) as resp:
                info.status = resp.status
                info.ratelimit = ratelimit_headers(resp.headers, _RL_PREFIXES)
                raw = await resp.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc) from exc
        info.response_body = raw
        if resp.status >= 300:
            raise _classify(resp.status, raw, resp.headers)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"gemini sent invalid JSON: {exc}", upstream_status=resp.status
            ) from None
        if isinstance(answer, dict):
            info.response_model = (
                answer.get("modelVersion") if isinstance(answer.get("modelVersion"), str) else None
            )
        body = from_gemini_response(answer, request_model=target.model)
        info.usage = body["usage"]
        return Completion(body)

    async def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        data = self._body(request)
        url = self._url(target, stream=True)
        info.url, info.request_body = url, data
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.idle)
        decoder = GeminiStreamDecoder(request_model=target.model)
        answered = False
        try:
            async with self.session.post(url, data=data, headers=self._headers, timeout=timeout) as resp:
                answered = True
                info.status = resp.status
                info.ratelimit = ratelimit_headers(resp.headers, _RL_PREFIXES)
                if resp.status >= 300:
                    raw = await resp.read()
                    info.response_body = raw
                    raise _classify(resp.status, raw, resp.headers)
                parser = SSEParser()
                # No terminal sentinel: read to the end (the last event may still carry usage).
                async for piece in resp.content.iter_any():
                    for _event, payload in parser.feed(piece):
                        try:
                            event = orjson.loads(payload)
                        except orjson.JSONDecodeError:
                            raise UpstreamBadResponse(
                                f"gemini sent a malformed stream event: {payload[:120]!r}"
                            ) from None
                        if not isinstance(event, dict):
                            raise UpstreamBadResponse("gemini stream event is not a JSON object")
                        for chunk in decoder.feed(event):
                            yield Chunk(chunk, None, chunk_has_content(chunk))
                        if info.response_model is None and isinstance(event.get("modelVersion"), str):
                            info.response_model = event["modelVersion"]
                        info.usage = decoder.usage
        except (aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, streaming=answered) from exc
        if not decoder.done:
            raise UpstreamStreamCut("gemini stream ended before every candidate finished")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _classify(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    error = classify_gemini_error(status, body, headers)
    if error.retry_after_s is None:
        error.retry_after_s = parse_retry_after(headers, now_epoch=time.time())
    return error


__all__ = ["GeminiProvider"]
