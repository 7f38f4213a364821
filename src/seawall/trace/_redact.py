"""Redaction of configured JSON paths in a record's bodies, before the record is written anywhere.

Credentials never reach a trace (client headers are an allow-list, upstream credentials are not
part of the recorded request), but bodies can carry what a team must not keep: a user's email, a
tool's secret, a pasted key. `traces.redact` lists JSON paths (`user`, `metadata.email`,
`messages[*].content`, `tools[*].function.parameters`); each value found there, in the client's
request and answer and in every attempt's upstream request and answer (JSON bodies, and the
`data:` events of streams), is replaced by `"[redacted]"`.

A redacted body is re-serialised, so replaying such a trace sends the redacted text; a replay can
then diverge where the redacted value mattered (documented in docs/replay.md). Paths are parsed
once, at start. Must not: do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import orjson

from seawall.trace._schema import Text, TraceRecord

MARK = "[redacted]"
_STEP = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]")

Path = tuple[str | int, ...]
"""A parsed path: keys, indexes, and `-1` for `[*]` (every element)."""
_ANY = -1


def parse_path(text: str) -> Path:
    """`a.b[*].c` → ("a", "b", -1, "c"). Raises ValueError naming the path when it is malformed."""
    steps: list[str | int] = []
    pos = 0
    for match in _STEP.finditer(text):
        gap = text[pos : match.start()]
        if gap and (gap != "." or pos == 0 or match.group(2) is not None):
            raise ValueError(f"{text!r} is not a JSON path (expected keys, [N] or [*], joined by '.')")
        key, index = match.groups()
        steps.append(key if key is not None else (_ANY if index == "*" else int(index)))
        pos = match.end()
    if not steps or pos != len(text) or text.startswith("."):
        raise ValueError(f"{text!r} is not a JSON path (expected keys, [N] or [*], joined by '.')")
    return tuple(steps)


def _redact(node: Any, path: Path) -> bool:
    """Redact what `path` names under `node` (in place); whether anything was found."""
    step, rest = path[0], path[1:]
    found = False
    if isinstance(node, dict) and isinstance(step, str) and step in node:
        if rest:
            found = _redact(node[step], rest)
        else:
            node[step], found = MARK, True
    elif isinstance(node, list) and isinstance(step, int):
        indexes = range(len(node)) if step == _ANY else ([step] if 0 <= step < len(node) else [])
        for i in indexes:
            if rest:
                found = _redact(node[i], rest) or found
            else:
                node[i], found = MARK, True
    return found


def _json_text(text: str, paths: Sequence[Path]) -> str:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    found = False
    for path in paths:
        found = _redact(data, path) or found
    return orjson.dumps(data).decode() if found else text


def redact_text(text: Text, paths: Sequence[Path]) -> Text:
    """A body with the values at `paths` replaced: a JSON document, or an SSE stream whose `data:`
    lines are JSON. Anything else is kept as it is."""
    if not isinstance(text, str) or not text:
        return text
    if text.lstrip().startswith(("{", "[")):
        return _json_text(text, paths)
    if "data:" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("data:"):
            payload = line[5:].lstrip(" ")
            if payload.startswith(("{", "[")):
                lines[i] = "data: " + _json_text(payload, paths)
    return "\n".join(lines)


def redactor(paths: Sequence[str]) -> Callable[[TraceRecord], TraceRecord] | None:
    """A function that redacts `paths` in a record's bodies, or None when there is nothing to do."""
    parsed = [parse_path(p) for p in paths]
    if not parsed:
        return None

    def redact(record: TraceRecord) -> TraceRecord:
        replace = msgspec.structs.replace
        attempts = tuple(
            replace(
                a,
                request_body=redact_text(a.request_body, parsed),
                response_body=redact_text(a.response_body, parsed),
            )
            for a in record.attempts
        )
        return replace(
            record,
            request=replace(record.request, body=redact_text(record.request.body, parsed)),
            attempts=attempts,
            response=replace(record.response, body=redact_text(record.response.body, parsed)),
        )

    return redact


__all__ = ["MARK", "parse_path", "redact_text", "redactor"]
