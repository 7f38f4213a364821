"""Finding traces: `TraceQuery`, what a listing asks of a store, and reading one from text.

The query is plain data, independent of any store's query language: each store turns it into its own
(SQLite: `_sqlite_query`). The CLI (`seawall traces list --since 2h ...`) and the admin API
(`GET /admin/traces?since=2h&...`) both read theirs with `query_from_params`, so the two accept the
same spellings and report a bad value the same way: a `QueryError` naming the parameter.

No I/O here; "now" is passed in (relative times such as `2h` count back from it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import TypeVar

import msgspec

from seawall._units import parse_duration
from seawall.errors import ErrorClass

T = TypeVar("T")

StatusRange = tuple[int, int]
"""Inclusive bounds of an HTTP status: `(503, 503)`, `(500, 599)`."""

MAX_LIMIT = 1000
"""Most rows one admin API listing returns (the CLI may ask for more)."""


class TraceQuery(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Which traces to list: every given filter must hold. Newest (highest id) first; ids start
    with the time in ms, so id order is time order, and `before` pages through a listing (keyset:
    the last id of the previous page)."""

    since: float | None = None
    """Arrived at or after this wall-clock time (seconds since the epoch)."""
    until: float | None = None
    """Arrived before this time."""
    model: str | None = None
    """The model the client asked for."""
    target: str | None = None
    """`provider/model`: some attempt went to it (or it answered), not only the one that answered."""
    status: tuple[StatusRange, ...] = ()
    """The status the client got is in one of these ranges."""
    error_class: str | None = None
    """Some attempt failed with this class of error (`timeout`, `server_error`, ...), or the client's
    error has it; with `status`, only failed requests (`status=error`)."""
    conversation_id: str | None = None
    """The `x-seawall-conversation-id` the client sent."""
    text: str | None = None
    """Words in the request's messages or in the answer's text (all of them; `"a phrase"`, `pre*`)."""
    before: str | None = None
    """Only traces whose id sorts before this one."""
    limit: int = 50


class QueryError(ValueError):
    """A filter value that cannot be read; `param` names it as the admin API spells it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


PARAMS = (
    "since",
    "until",
    "model",
    "target",
    "status",
    "error_class",
    "conversation_id",
    "q",
    "before",
    "limit",
    "errors",
)
"""Every filter's name (admin API query parameters; the CLI's options map onto them)."""

_ERROR_CLASSES = tuple(c.value for c in ErrorClass)
_TIME_HELP = "epoch seconds, an ISO 8601 time (2024-05-01T12:00:00Z) or a duration ago (15m, 2h, 7d)"
_STATUS_HELP = "a status (503), a class (4xx, 5xx), error (>= 400) or ok (< 400), comma-separated"
_MAX_TEXT = 64


def parse_time(value: str, now: float) -> float:
    """Seconds since the epoch from epoch seconds, an ISO 8601 time (local time when it names no
    zone, as `traces list` prints them) or a duration counted back from `now` (`15m`, `2h`)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"expected {_TIME_HELP}, got {value!r}")
        return seconds
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"expected {_TIME_HELP}, got {value!r}") from None


def parse_status(value: str) -> tuple[StatusRange, ...]:
    """Status ranges from `503`, `5xx`, `error`, `ok`, or several of them: `429,5xx`."""
    ranges: list[StatusRange] = []
    for raw in value.split(","):
        part = raw.strip().lower()
        if part == "error":
            ranges.append((400, 999))
        elif part == "ok":
            ranges.append((0, 399))
        elif len(part) == 3 and part[0] in "12345" and part[1:] == "xx":
            ranges.append((int(part[0]) * 100, int(part[0]) * 100 + 99))
        elif part.isdigit() and 100 <= int(part) <= 599:
            ranges.append((int(part), int(part)))
        else:
            raise ValueError(f"expected {_STATUS_HELP}, got {value!r}")
    return tuple(ranges)


def query_from_params(
    params: Mapping[str, str], *, now: float, default_limit: int = 50, max_limit: int = MAX_LIMIT
) -> TraceQuery:
    """A query from filter parameters (`PARAMS`; an empty value is no filter). Raises `QueryError`
    naming the first parameter that is unknown or cannot be read. `limit` is kept within
    `1..max_limit`."""
    for key in params:
        if key not in PARAMS:
            raise QueryError(key, f"unknown filter {key!r} (expected one of: {', '.join(PARAMS)})")
    given = {key: value.strip() for key, value in params.items() if value is not None and value.strip()}
    since = _read(given, "since", lambda v: parse_time(v, now))
    until = _read(given, "until", lambda v: parse_time(v, now))
    if since is not None and until is not None and until <= since:
        raise QueryError("until", "until must be later than since")
    status = _read(given, "status", parse_status) or ()
    errors = given.get("errors")
    if errors is not None:
        if errors not in ("0", "1", "true", "false"):
            raise QueryError("errors", f"expected 1 or 0, got {errors!r}")
        if errors in ("1", "true"):
            if status:
                raise QueryError("errors", "give status or errors, not both (status=error is the same)")
            status = ((400, 999),)
    target = given.get("target")
    if target is not None and "/" not in target.strip("/"):
        raise QueryError("target", f"expected provider/model, got {target!r}")
    error_class = given.get("error_class")
    if error_class is not None and error_class not in _ERROR_CLASSES:
        raise QueryError(
            "error_class",
            f"unknown error class {error_class!r} (expected one of: {', '.join(_ERROR_CLASSES)})",
        )
    text = given.get("q")
    if text is not None and not search_terms(text):
        raise QueryError("q", "the search has no words to look for")
    if text is not None and len(search_terms(text)) > _MAX_TEXT:
        raise QueryError("q", f"the search has more than {_MAX_TEXT} terms")
    limit = _read(given, "limit", int)
    if limit is None:
        limit = default_limit
    return TraceQuery(
        since=since,
        until=until,
        model=given.get("model"),
        target=target,
        status=status,
        error_class=error_class,
        conversation_id=given.get("conversation_id"),
        text=text,
        before=given.get("before"),
        limit=max(1, min(max_limit, limit)),
    )


def search_terms(text: str) -> list[tuple[str, bool]]:
    """The terms of a search: each word, or each `"quoted phrase"`, with whether it ends in `*`
    (a prefix). Every term must match. Store-agnostic: each store matches terms its own way."""
    terms: list[tuple[str, bool]] = []
    rest = text.strip()
    while rest:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            phrase, rest = (rest[1:], "") if end == -1 else (rest[1:end], rest[end + 1 :])
            prefix = rest.startswith("*")
            rest = rest.removeprefix("*")
        else:
            word, *more = rest.split(None, 1)
            rest = more[0] if more else ""
            prefix = word.endswith("*")
            phrase = word.rstrip("*")
        if any(ch.isalnum() for ch in phrase):
            terms.append((phrase.strip(), prefix))
        rest = rest.strip()
    return terms


def as_query(
    query: TraceQuery | None, *, limit: int | None, model: str | None, errors_only: bool
) -> TraceQuery:
    """The query of `TraceStore.list`'s older keyword form (`limit=`, `model=`, `errors_only=`)."""
    if query is not None:
        if limit is not None or model is not None or errors_only:
            raise TypeError("list(): give a TraceQuery or the keywords limit/model/errors_only, not both")
        return query
    return TraceQuery(
        model=model or None, status=((400, 999),) if errors_only else (), limit=50 if limit is None else limit
    )


def _read(given: Mapping[str, str], key: str, parse: Callable[[str], T]) -> T | None:
    value = given.get(key)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        message = str(exc)
        if key == "limit":
            message = f"expected an integer, got {value!r}"
        raise QueryError(key, message) from None
