"""The trace codec: the one owner of a `TraceRecord`'s encoded forms.

Three forms, one module:

- **The JSON line** (`encode` / `decode`): what the recorder journals. Within one record a body
  already written earlier in it is written as a reference: an upstream request body equal to the
  client's is `{"$ref": "request.body"}`, a response equal to an attempt's answer is
  `{"$ref": "attempts.N.response_body"}` (a pass-through request's record is then about a quarter
  smaller). References point backwards only: request, then attempts in order, then response.
- **The stored form** (`to_stored` / `from_stored`): what every store receives, a `StoredTrace`, with
  what stores index to find it (`seawall.trace._text`). The line again, except that request bodies
  of `BLOB_MIN` characters or more are moved out into blobs keyed by their SHA-256 and written
  `{"$blob": "<sha256>"}`, so a prompt sent a thousand times is kept once. Answers stay inline (they
  rarely repeat; hashing them costs more than it saves). When no request body is that large, the
  stored data *is* the journal line (no second encode).
- **Plain builtins** (`to_json`): the fully expanded record as dicts and lists, for the admin API
  and `seawall traces show --json`; the key names are the schema's.

Decoding also reads **version 1** records (the untyped dicts written before `schema_version`
existed): journal lines and store rows alike. See `_v1_record` for how each part maps.

`encode` runs on the event loop for every request, so it does at most a couple of
`msgspec.structs.replace` and one msgspec encode; everything else here runs on the recorder's
writer thread or a reader's worker thread. No I/O: blobs are fetched through a callable.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from seawall.trace._schema import (
    SCHEMA_VERSION,
    AnyEvent,
    Attempt,
    ErrorInfo,
    Pointer,
    RequestPart,
    ResponsePart,
    Route,
    SkipCode,
    Skipped,
    StoredTrace,
    Text,
    TraceRecord,
    TraceSummary,
)
from seawall.trace._text import conversation_id

log = logging.getLogger("seawall.trace")

BLOB_MIN = 1024
"""Bodies this long (in characters) or longer are stored as blobs: a blob row costs more than it saves
below that."""

FetchBlob = Callable[[str], bytes | None]
"""Looks a blob up by its SHA-256 (hex); None when the store does not have it."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TraceRecord)
_V2_MARK = b',"schema_version":'  # how every line `encode` writes ends (the last field), then N}
_SAME_AS_REQUEST = Pointer(ref="request.body")


# -- the JSON line ---------------------------------------------------------------------------------
def encode(record: TraceRecord) -> bytes:
    """The record's JSON line, with bodies repeated within it written as `$ref`s."""
    return _encoder.encode(_with_refs(record))


def decode(data: bytes) -> TraceRecord:
    """A record from its JSON line (v2, or a v1 dict), with every `$ref` resolved.

    Raises `ValueError` (a `msgspec.DecodeError`) for bytes that are not a whole record, such as a
    journal line cut mid-write, and for a record that has `$blob` bodies (use `from_stored`)."""
    return _decode(data, None)


def _with_refs(record: TraceRecord) -> TraceRecord:
    """`record` with each body equal to one earlier in it replaced by a `$ref` pointer.

    The collector reuses the same `str` object for bodies whose bytes were equal, so `is` usually
    decides; `==` is tried only when the lengths match."""
    attempts = record.attempts
    if not attempts:
        return record
    sent = record.request.body
    if isinstance(sent, str):
        changed: list[Attempt] | None = None
        for i, attempt in enumerate(attempts):
            if _same(attempt.request_body, sent):
                if changed is None:
                    changed = list(attempts)
                changed[i] = msgspec.structs.replace(attempt, request_body=_SAME_AS_REQUEST)
        if changed is not None:
            attempts = tuple(changed)
    response = record.response
    answer = response.body
    if isinstance(answer, str):
        index = _answering_attempt(record.attempts, answer)
        if index is not None:
            response = msgspec.structs.replace(response, body=_answer_ref(index))
    if attempts is record.attempts and response is record.response:
        return record
    return msgspec.structs.replace(record, attempts=attempts, response=response)


def _same(body: Text, text: str) -> bool:
    return body is text or (isinstance(body, str) and len(body) == len(text) and body == text)


def _answering_attempt(attempts: tuple[Attempt, ...], answer: str) -> int | None:
    """The index of the last attempt whose answer is `answer` (usually the last attempt, and the
    very same object)."""
    last = len(attempts) - 1
    if attempts[last].response_body is answer:
        return last
    for i in range(last, -1, -1):
        if _same(attempts[i].response_body, answer):
            return i
    return None


_ANSWER_REFS = tuple(Pointer(ref=f"attempts.{i}.response_body") for i in range(8))


def _answer_ref(index: int) -> Pointer:
    if index < len(_ANSWER_REFS):
        return _ANSWER_REFS[index]
    return Pointer(ref=f"attempts.{index}.response_body")


def _decode(data: bytes, fetch: FetchBlob | None) -> TraceRecord:
    if data.find(_V2_MARK, len(data) - 32) != -1:
        record = _decoder.decode(data)  # the common case: a line `encode` wrote
    else:
        raw = msgspec.json.decode(data)
        if not isinstance(raw, dict):
            raise msgspec.ValidationError("a trace record must be a JSON object")
        if "schema_version" not in raw:
            try:
                return _v1_record(raw, fetch)
            except (KeyError, TypeError, AttributeError) as exc:
                raise msgspec.ValidationError(f"not a version 1 trace record: {exc!r}") from exc
        record = msgspec.convert(raw, TraceRecord)
    if record.schema_version > SCHEMA_VERSION:
        raise msgspec.ValidationError(
            f"trace record {record.id} has schema_version {record.schema_version}; this Seawall reads "
            f"up to {SCHEMA_VERSION}"
        )
    return _resolve(record, fetch)


def _resolve(record: TraceRecord, fetch: FetchBlob | None) -> TraceRecord:
    """`record` with every pointer replaced by the text it points to."""
    if not _has_pointers(record):
        return record  # nothing was deduplicated or moved out: the usual case
    resolved: dict[str, str | None] = {}

    def text(value: Text) -> str | None:
        if not isinstance(value, Pointer):
            return value
        if value.blob is not None:
            return _resolve_blob(value.blob, fetch)
        return resolved.get(value.ref or "")  # references point backwards: resolved already

    request = record.request
    resolved["request.body"] = body = text(request.body)
    if body is not request.body:
        request = msgspec.structs.replace(request, body=body)
    attempts = []
    for i, attempt in enumerate(record.attempts):
        resolved[f"attempts.{i}.request_body"] = sent = text(attempt.request_body)
        resolved[f"attempts.{i}.response_body"] = answer = text(attempt.response_body)
        if sent is not attempt.request_body or answer is not attempt.response_body:
            attempt = msgspec.structs.replace(attempt, request_body=sent, response_body=answer)  # noqa: PLW2901
        attempts.append(attempt)
    response = record.response
    if isinstance(response.body, Pointer):
        response = msgspec.structs.replace(response, body=text(response.body))
    return msgspec.structs.replace(record, request=request, attempts=tuple(attempts), response=response)


def _has_pointers(record: TraceRecord) -> bool:
    if isinstance(record.request.body, Pointer) or isinstance(record.response.body, Pointer):
        return True
    return any(
        isinstance(a.request_body, Pointer) or isinstance(a.response_body, Pointer) for a in record.attempts
    )


# -- the stored form -------------------------------------------------------------------------------
def to_stored(record: TraceRecord, line: bytes) -> StoredTrace:
    """What a store writes for `record`, whose JSON line (`encode(record)`) is `line`.

    Request bodies of `BLOB_MIN` characters or more (the client's, and what each attempt sent
    upstream) go into blobs by SHA-256: prompts are what repeats between requests (system prompts,
    few-shot examples, retrieved context), so each is stored once. Answers rarely repeat and stay
    inline (a body repeated within the record is a `$ref` already). With no request body that
    large, `data` is `line` itself: no second encode on the writer thread."""
    if _largest_request(record) < BLOB_MIN:
        return _stored(record, line, {})
    blobs: dict[str, bytes] = {}
    deduped = _with_refs(record)
    request = deduped.request
    stored = msgspec.structs.replace(
        deduped,
        request=msgspec.structs.replace(request, body=_blob(request.body, blobs)),
        attempts=tuple(
            msgspec.structs.replace(a, request_body=_blob(a.request_body, blobs)) for a in deduped.attempts
        ),
    )
    return _stored(record, _encoder.encode(stored), blobs)


def _stored(record: TraceRecord, data: bytes, blobs: dict[str, bytes]) -> StoredTrace:
    # what finds a trace (its targets, error classes, words) is not computed here: stores index it
    # later, from the stored record, off the writer's path (`_text`, `SQLiteTraceStore.maintain`)
    return StoredTrace(summary(record), data, blobs, config_hash=record.config_hash)


def from_stored(data: bytes, fetch_blob: FetchBlob) -> TraceRecord:
    """A record from a store's data (v2, or a v1 row), with `$ref`s resolved and `$blob` bodies
    fetched (a blob the store lacks reads as None)."""
    return _decode(data, fetch_blob)


def _largest_request(record: TraceRecord) -> int:
    largest = _size(record.request.body)
    for attempt in record.attempts:
        largest = max(largest, _size(attempt.request_body))
    return largest


def _size(body: Text) -> int:
    return len(body) if isinstance(body, str) else 0


def _blob(body: Text, blobs: dict[str, bytes]) -> Text:
    if not isinstance(body, str) or len(body) < BLOB_MIN:
        return body
    data = body.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return Pointer(blob=digest)


# -- readers ---------------------------------------------------------------------------------------
def summary(record: TraceRecord) -> TraceSummary:
    """The record's row in a listing (what stores index)."""
    error = record.error
    # positional, in field order: the writer thread builds one per trace
    return TraceSummary(
        record.id,
        record.ts,
        record.model,
        record.status,
        record.stream,
        record.duration_ms,
        len(record.attempts),
        record.answered_by,
        None if error is None else error.error_class,
        conversation_id(record),
    )


def to_json(record: TraceRecord) -> dict[str, Any]:
    """The whole record as plain dicts, lists and scalars (bodies in full), keyed as in the schema."""
    out: dict[str, Any] = msgspec.json.decode(_encoder.encode(record))
    return out


# -- version 1 -------------------------------------------------------------------------------------
def _v1_record(raw: dict[str, Any], fetch: FetchBlob | None) -> TraceRecord:
    """A v1 record (an untyped dict) as a v2 `TraceRecord`.

    - bodies: v1 `{"$ref": ...}` and `{"$blob": ...}` are resolved as v2's are;
    - `route`: the dict, or None for `{}` (a request rejected before routing); `priority` (added
      after the first v1 release) defaults to `interactive`, the only priority before it;
    - `events` (`[t_ms, kind, detail]`) become typed events (see `_v1_event`);
    - a stream's `response.chunks` (`[[t_ms, text], ...]`) become `response.body` and one
      `response.writes` entry per chunk. For the OpenAI ingress each text was one SSE event's JSON
      payload, sent as `data: <text>\\n\\n`; for the Anthropic ingress it was the SSE bytes
      themselves. v1 did not record the final `data: [DONE]` or error event, so neither is in the
      body. No chunks (a stream that failed before its first byte, or `record_chunks: false`) gives
      no body;
    - attempts: v1 did not record `retry`, `hedge`, `head_ms` or upstream stream reads, which keep
      their defaults.
    """
    request = raw.get("request") or {}
    request_body = _v1_text(request.get("body"), fetch)
    attempts = []
    for i, item in enumerate(raw.get("attempts") or ()):
        fields = dict(item)
        fields.setdefault("index", i)
        for key in ("request_body", "response_body"):
            value = fields.get(key)
            if isinstance(value, dict) and value.get("$ref") == "request.body":
                fields[key] = request_body
            else:
                fields[key] = _v1_text(value, fetch)
        attempts.append(msgspec.convert(fields, Attempt))
    response = raw.get("response") or {}
    if "chunks" in response:
        body, writes = _v1_stream_body(response.get("chunks") or (), raw.get("ingress"))
        part = ResponsePart(body=body, writes=writes, terminal=response.get("terminal"))
    else:
        answer = response.get("body")
        if isinstance(answer, dict) and "$ref" in answer:
            answer = _v1_attempt_body(attempts, str(answer["$ref"]))
        else:
            answer = _v1_text(answer, fetch)
        part = ResponsePart(body=answer, terminal=response.get("terminal"))
    route = raw.get("route") or None
    error = raw.get("error") or None
    return TraceRecord(
        id=raw["id"],
        ts=raw["ts"],
        model=raw.get("model") or "",
        ingress=raw.get("ingress") or "openai",
        stream=bool(raw.get("stream")),
        status=raw["status"],
        duration_ms=raw.get("duration_ms") or 0.0,
        ttft_ms=raw.get("ttft_ms"),
        answered_by=raw.get("answered_by"),
        error=None if error is None else msgspec.convert(error, ErrorInfo),
        usage=raw.get("usage"),
        request=RequestPart(headers=request.get("headers") or {}, body=request_body),
        route=None if route is None else msgspec.convert({"priority": "interactive", **route}, Route),
        attempts=tuple(attempts),
        events=tuple(_v1_events(raw.get("events") or ())),
        response=part,
    )


def _v1_text(value: Any, fetch: FetchBlob | None) -> str | None:
    if isinstance(value, dict) and "$blob" in value:
        return _resolve_blob(str(value["$blob"]), fetch)
    return value if isinstance(value, str) else None


def _resolve_blob(digest: str, fetch: FetchBlob | None) -> str | None:
    if fetch is None:
        raise msgspec.ValidationError("a trace record with $blob bodies: read it with from_stored()")
    data = fetch(digest)
    return None if data is None else data.decode("utf-8", "surrogatepass")


def _v1_attempt_body(attempts: list[Attempt], ref: str) -> str | None:
    """`attempts.N.response_body` (the only reference v1 wrote for a response)."""
    _, index, field = [*ref.split("."), "", ""][:3]
    try:
        attempt = attempts[int(index)]
    except (ValueError, IndexError):
        return None
    value = getattr(attempt, field, None) if field in ("request_body", "response_body") else None
    return value if isinstance(value, str) else None


def _v1_stream_body(
    chunks: Iterable[list[Any]], ingress: object
) -> tuple[str | None, tuple[tuple[float, int], ...] | None]:
    pieces: list[str] = []
    writes: list[tuple[float, int]] = []
    for t_ms, text in chunks:
        piece = text if ingress == "anthropic" else f"data: {text}\n\n"
        pieces.append(piece)
        writes.append((t_ms, len(piece.encode("utf-8", "surrogatepass"))))
    if not pieces:
        return None, None
    return "".join(pieces), tuple(writes)


# The v1 engine wrote a skip's reason only; v2 adds a code. These are the reasons it wrote
# (engine/_engine.py at schema v1: `_GATE_REASONS`, `_retry_allowance`, `_refused`, `_pick`), by prefix.
_V1_SKIP_CODES: tuple[tuple[str, SkipCode], ...] = (
    ("rate limited", "blocked"),  # "rate limited (Retry-After)"
    ("circuit open", "breaker"),
    ("rejected locally by the adaptive throttle", "throttled"),
    ("at its concurrency limit", "saturated"),
    ("Retry-After beyond", "retry_after"),  # "Retry-After beyond 60s"
    ("no time left before the deadline", "no_time"),
    ("too many concurrent retries", "retry_cap"),
    ("retry budget exhausted", "budget"),
    ("cannot serve this request", "refused"),  # "cannot serve this request: <why>"
)

_V1_EVENT_KINDS = frozenset(
    {
        "queued",
        "admitted",
        "shed",
        "backoff",
        "hedge",
        "attempt_cancelled",
        "breaker",
        "stream_failed_after_commit",
        "client_disconnect",
    }
)
"""v1 event kinds whose detail has exactly the fields of the v2 event of the same tag."""


def v1_skip_code(reason: str) -> SkipCode:
    """The code of a v1 `skip` event, from the reason text the v1 engine wrote (`refused` when the
    text is not one it wrote)."""
    for prefix, code in _V1_SKIP_CODES:
        if reason.startswith(prefix):
            return code
    return "refused"


def _v1_events(events: Iterable[list[Any]]) -> Iterable[AnyEvent]:
    for item in events:
        t_ms, kind, detail = item
        event = _v1_event(float(t_ms), str(kind), detail or {})
        if event is None:
            log.debug("trace v1 record: dropping an event of unknown kind %r", kind)
        else:
            yield event


def _v1_event(t_ms: float, kind: str, detail: dict[str, Any]) -> AnyEvent | None:
    """One v1 event as a typed event: same tag and fields, plus a skip's code; the two kinds of the
    first v1 release (`deadline_stop`, `target_blocked`) become the skips that replaced them."""
    if kind in _V1_EVENT_KINDS:
        event: AnyEvent = msgspec.convert({**detail, "type": kind, "t_ms": t_ms}, AnyEvent)
        return event
    if kind == "skip":
        reason = str(detail.get("reason", ""))
        return Skipped(t_ms=t_ms, target=str(detail.get("target")), reason=reason, code=v1_skip_code(reason))
    if kind == "deadline_stop":
        left = detail.get("remaining_ms")
        return Skipped(
            t_ms=t_ms,
            target=str(detail.get("target")),
            reason=f"no time left before the deadline ({left} ms left)",
            code="no_time",
        )
    if kind == "target_blocked":
        return Skipped(
            t_ms=t_ms,
            target=str(detail.get("target")),
            reason=f"rate limited (Retry-After, {detail.get('seconds')} s)",
            code="blocked",
        )
    return None


__all__ = [
    "BLOB_MIN",
    "FetchBlob",
    "decode",
    "encode",
    "from_stored",
    "summary",
    "to_json",
    "to_stored",
    "v1_skip_code",
]
