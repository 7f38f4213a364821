"""The OpenAI Chat Completions dialect at Seawall's ingress (`POST /v1/chat/completions`, library mode).

The canonical form *is* this dialect, so parsing is validation (`_openai_validate`) and answers
are the upstream's own bytes when they are OpenAI-shaped (`Completion.raw`, `Chunk.raw`). A
stream is `data: <chunk>` events ended by `data: [DONE]`; a failure after the commit point is a
`data: {"error": ...}` event, which the official SDKs raise as `APIError`.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from seawall._types import ChatRequest, Chunk, Completion, Dialect, JSONDict
from seawall.errors import InvalidRequest, SeawallError
from seawall.ingress._errors import openai_error_body
from seawall.ingress._openai_validate import parse_openai_request

DONE = b"data: [DONE]\n\n"


class OpenAIStreamEncoder:
    """`data: <chunk>` per canonical chunk. A chunk without choices carries usage: it is sent only
    when the client asked for it (`stream_options.include_usage`), and kept for the trace anyway."""

    __slots__ = ("include_usage", "usage")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.usage: JSONDict | None = None

    def encode(self, chunk: Chunk) -> bytes:
        data = chunk.data
        if not data:
            return b""  # an upstream event with no meaning in this dialect (e.g. an Anthropic ping)
        raw = chunk.raw if chunk.raw is not None else orjson.dumps(data)
        if data.get("choices"):
            return b"data: " + raw + b"\n\n"
        self.usage = data.get("usage") or self.usage
        return b"data: " + raw + b"\n\n" if self.include_usage else b""

    def end(self) -> bytes:
        return DONE


class OpenAIDialect:
    """OpenAI Chat Completions, as the official `openai` SDKs speak it."""

    name = Dialect.OPENAI

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> ChatRequest:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
        return parse_openai_request(parsed, headers)

    def encode_answer(self, request: ChatRequest, completion: Completion) -> bytes:
        return completion.raw if completion.raw is not None else orjson.dumps(completion.body)

    def stream_encoder(self, request: ChatRequest) -> OpenAIStreamEncoder:
        return OpenAIStreamEncoder(request.include_usage)

    def error_response(self, exc: SeawallError) -> tuple[int, bytes]:
        return exc.status, openai_error_body(exc)

    def error_event(self, exc: SeawallError) -> bytes:
        return b"data: " + openai_error_body(exc) + b"\n\n"


OPENAI = OpenAIDialect()

__all__ = ["DONE", "OPENAI", "OpenAIDialect", "OpenAIStreamEncoder"]
