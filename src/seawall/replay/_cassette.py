"""Cassettes: recorded traces as a self-contained file, and a transport that plays them back.

`seawall traces export ID... -o FILE` writes a cassette: the traces in full (client requests, every
attempt's upstream request and answer with its read timing) and the configs they ran under. A
cassette is a fixture: `seawall.testing` runs a user's own code against a gateway whose providers
answer from it (`CassetteTransport`), with no network, as VCR and Betamax do for HTTP clients.

Playback matches each upstream call by provider and exact request body (so the user's code may make
its calls in any order), answers in the recorded order for repeated calls (the last one again
once they are used up), and hands the recorded bytes back at once, read by read; a recorded
transport failure is raised again. A call the cassette has no recording of fails loudly
(`CassetteMiss`), naming the provider and the body. Must not: touch the network.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from seawall.config import GatewayConfig, validate
from seawall.providers import UpstreamRequest
from seawall.replay._recorded import failure_from
from seawall.trace._codec import to_json
from seawall.trace._schema import SCHEMA_VERSION, Attempt, TraceRecord

FORMAT = 1
"""The cassette format this Seawall writes and reads."""


class CassetteError(ValueError):
    """Raised when a file is not a cassette this Seawall can read (the message says why)."""


class CassetteMiss(LookupError):
    """Raised when the code under test makes an upstream call the cassette has no recording of."""


class _File(msgspec.Struct, frozen=True):
    seawall_cassette: int
    schema_version: int
    traces: list[TraceRecord]
    configs: dict[str, Any] = {}


@dataclass(frozen=True)
class Cassette:
    """Recorded traces and the configs they ran under (by config hash)."""

    traces: tuple[TraceRecord, ...]
    configs: Mapping[str, Any]

    def config(self) -> GatewayConfig:
        """The config the first trace ran under (a cassette from one gateway has one)."""
        for trace in self.traces:
            if trace.config_hash and trace.config_hash in self.configs:
                return validate(self.configs[trace.config_hash], f"cassette config {trace.config_hash[:12]}")
        raise CassetteError("the cassette holds no config: pass one to the gateway instead")


def export(records: Iterable[TraceRecord], configs: Mapping[str, bytes]) -> bytes:
    """A cassette of `records` (bodies in full) and their configs (`config_hash` → recorded JSON)."""
    traces = [to_json(r) for r in records]
    data = {
        "seawall_cassette": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "configs": {h: msgspec.json.decode(c) for h, c in configs.items()},
        "traces": traces,
    }
    return msgspec.json.format(msgspec.json.encode(data), indent=1)


def load(path: str | Path) -> Cassette:
    """Read a cassette; a file from another Seawall version or format gets a `CassetteError`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read the cassette: {exc.strerror or exc}") from None
    try:
        head = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise CassetteError(f"{path}: not a cassette (not JSON: {exc})") from None
    if not isinstance(head, dict) or "seawall_cassette" not in head:
        raise CassetteError(f"{path}: not a Seawall cassette (no 'seawall_cassette' field)")
    if head.get("seawall_cassette") != FORMAT:
        raise CassetteError(
            f"{path}: cassette format {head.get('seawall_cassette')!r}; this Seawall reads format {FORMAT}"
        )
    if not isinstance(head.get("schema_version"), int) or head["schema_version"] > SCHEMA_VERSION:
        raise CassetteError(
            f"{path}: traces of schema version {head.get('schema_version')!r}; this Seawall reads up to "
            f"{SCHEMA_VERSION} (export them again with this version, or upgrade Seawall)"
        )
    try:
        parsed = msgspec.convert(head, _File)
    except msgspec.ValidationError as exc:
        raise CassetteError(f"{path}: a malformed cassette: {exc}") from None
    return Cassette(tuple(parsed.traces), parsed.configs)


def _key(provider: str, body: bytes) -> tuple[str, str]:
    return provider, hashlib.sha256(body).hexdigest()


class _Played:
    """One recorded answer, handed back at once."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self.status = attempt.status or 0
        self.headers: Mapping[str, str] = attempt.ratelimit or {}

    def _failure(self) -> BaseException | None:
        end = self._attempt.body_end
        if end is None:
            return TimeoutError()  # the recorded reader gave up waiting: a timeout here
        return failure_from(end)

    async def read(self) -> bytes:
        body = self._attempt.response_body
        if body is None or self._attempt.body_end != "eof":
            failure = self._failure()
            if failure is not None:
                raise failure
        return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""

    async def iter_chunks(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        text = self._attempt.response_body
        body = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else b""
        start = 0
        for _offset, size in self._attempt.reads or ((0.0, len(body)),):
            yield body[start : start + size]
            start += size
        if self._attempt.body_end not in (None, "eof"):
            failure = self._failure()
            if failure is not None:
                raise failure

    def release(self) -> None:
        return None


class CassetteTransport:
    """A provider's `Transport` answering from a cassette (see the module docstring)."""

    def __init__(self, provider: str, book: _Book) -> None:
        self._provider = provider
        self._book = book

    async def send(self, request: UpstreamRequest) -> _Played:
        attempt = self._book.take(self._provider, request)
        if attempt.head_ms is None:  # the recorded call never got an answer
            failure = failure_from(attempt.body_end) if attempt.body_end else TimeoutError()
            raise failure if failure is not None else TimeoutError()
        return _Played(attempt)

    async def aclose(self) -> None:
        return None


class _Book:
    """The recorded attempts by (provider, request body), in recorded order."""

    def __init__(self, cassette: Cassette) -> None:
        self._answers: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
        self._used: dict[tuple[str, str], int] = defaultdict(int)
        for trace in cassette.traces:
            for attempt in trace.attempts:
                if isinstance(attempt.request_body, str):
                    body = attempt.request_body.encode("utf-8", "surrogatepass")
                    self._answers[_key(attempt.provider, body)].append(attempt)

    def take(self, provider: str, request: UpstreamRequest) -> Attempt:
        key = _key(provider, request.body)
        answers = self._answers.get(key)
        if not answers:
            raise CassetteMiss(
                f"the cassette has no recorded answer from provider {provider!r} to {request.method} "
                f"{request.url} with this body: {request.body[:300]!r}"
            )
        used = self._used[key]
        self._used[key] = used + 1
        return answers[min(used, len(answers) - 1)]


def cassette_transports(cassette: Cassette) -> Any:
    """A `transports=` function for `Gateway`: every provider answers from `cassette`."""
    book = _Book(cassette)

    def transport_for(provider: Any) -> CassetteTransport:
        return CassetteTransport(provider.name, book)

    return transport_for


__all__ = [
    "FORMAT",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "CassetteTransport",
    "cassette_transports",
    "export",
    "load",
]
