"""What every wire dialect provides, and the small value objects passed between server and dialect.

A `Dialect` is the only place that knows a provider's JSON: it parses a request body into a
`Call` (or raises `Rejected` with the 4xx the real API would send), and renders an `Answer`
back as a JSON body or as an `Events` stream, plus that provider's error bodies and headers.

Must not: do I/O, sleep or draw random numbers; the server decides *when* bytes go out.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from seawall.simulate._model import Answer, Prompt


@dataclass(frozen=True, slots=True)
class WireError:
    """An error answer in one dialect's shape."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class Rejected(Exception):
    """Raised by a dialect's parser when the real API would refuse the request as sent."""

    def __init__(self, error: WireError) -> None:
        super().__init__(f"{error.status}: {error.body}")
        self.error = error


@dataclass(frozen=True, slots=True)
class Call:
    """One parsed model call."""

    model: str
    prompt: Prompt
    stream: bool = False
    include_usage: bool = False
    """OpenAI: `stream_options.include_usage`."""
    choices: int = 1
    """OpenAI: `n`."""
    sse: bool = True
    """Gemini: `alt=sse`; without it a stream is one JSON array sent piece by piece."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer plus the identity the response reports."""

    answer: Answer
    model: str
    token: str
    """Random hex that response / message / tool-call ids are made from."""
    created: int
    fingerprint: str = ""


@dataclass(slots=True)
class Events:
    """A stream: the opening bytes (role / message_start), one item per content chunk, the ending."""

    opening: bytes
    content: list[bytes]
    closing: bytes


@dataclass(frozen=True, slots=True)
class Limits:
    """The rate-limit state reported in response headers."""

    request_id: str
    now: float
    """Wall-clock time of the answer, for absolute reset times."""
    requests_limit: int = 10_000
    requests_remaining: int = 10_000
    requests_reset_s: float = 0.0
    tokens_limit: int = 10_000_000
    tokens_remaining: int = 10_000_000
    tokens_reset_s: float = 0.0


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def sse(obj: Any, event: str | None = None, *, sep: bytes = b"\n\n") -> bytes:
    """One server-sent event carrying `obj` as JSON."""
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + orjson.dumps(obj) + sep


def truncate(body: bytes) -> bytes:
    """A JSON body cut in half: never valid JSON, since an object's closing brace is missing."""
    return body[: max(1, len(body) // 2)]


class Dialect(ABC):
    """One provider's wire format."""

    name: ClassVar[str]
    json_type: ClassVar[str] = "application/json"
    stream_type: ClassVar[str] = "text/event-stream; charset=utf-8"

    @abstractmethod
    def parse(self, body: Any, *, path_model: str | None = None, stream: bool | None = None) -> Call:
        """Parse a request body. Raises `Rejected` with the real API's 400 when it is invalid."""

    @abstractmethod
    def invalid(self, message: str) -> WireError:
        """A 400 for a body that is not a JSON object."""

    @abstractmethod
    def context_exceeded(self, tokens: int, limit: int) -> WireError:
        """The 400 for a prompt larger than the context window."""

    @abstractmethod
    def error(self, status: int, *, retry_after: float) -> WireError:
        """The error answer for a 429 or a 5xx (the dialect may map the status to its own)."""

    @abstractmethod
    def headers(self, limits: Limits) -> dict[str, str]:
        """Headers sent with every answer: request id, rate limits."""

    @abstractmethod
    def body(self, call: Call, reply: Reply) -> Any:
        """The JSON body of a non-streamed answer."""

    @abstractmethod
    def events(self, call: Call, reply: Reply) -> Events:
        """The event stream of a streamed answer."""

    @abstractmethod
    def stream_error(self, call: Call, *, first: bool) -> bytes:
        """An in-stream error event ending the stream. `first`: nothing was sent before it."""

    @abstractmethod
    def broken_event(self, call: Call, *, first: bool) -> bytes:
        """A malformed event (truncated JSON) to send in place of the first content chunk."""


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def retry_after_seconds(seconds: float) -> str:
    """`retry-after` allows whole seconds only: round up, so a client never comes back too early."""
    return str(math.ceil(seconds))


def texts(content: Any) -> list[str]:
    """The text pieces of a message's content: a string, or a list of text parts / blocks."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        p["text"]
        for p in content
        if isinstance(p, Mapping) and isinstance(p.get("text"), str) and p.get("type", "text") == "text"
    ]
