"""The request's context reference: which conversation state it belongs to and which retrieval
snapshot it was built from (docs/context.md), read once for every ingress dialect.

Given as headers (`x-seawall-conversation-id`, `x-seawall-state-version`,
`x-seawall-context-snapshot`) or as a `seawall` object in the body (`{"conversation_id",
"state_version", "context_snapshot"}`, so the SDKs' `extra_body` works); the object is removed from
the body before anything is sent upstream. Given both ways, they must agree. Also the client's
`cache-control` (`no-cache`: do not answer from the cache; `no-store`: do not store the answer).
Must not: look anything up (whether a snapshot exists is the gateway's business).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from seawall._types import ContextRef
from seawall.context import parse_conversation, parse_hash, parse_version
from seawall.errors import InvalidRequest

BODY_KEY = "seawall"
CONVERSATION_HEADER = "x-seawall-conversation-id"
VERSION_HEADER = "x-seawall-state-version"
SNAPSHOT_HEADER = "x-seawall-context-snapshot"
_FIELDS: dict[str, tuple[str, Callable[[object], Any]]] = {
    "conversation_id": (CONVERSATION_HEADER, parse_conversation),
    "state_version": (VERSION_HEADER, parse_version),
    "context_snapshot": (SNAPSHOT_HEADER, parse_hash),
}


def read_context(body: dict[str, Any], headers: Mapping[str, str]) -> ContextRef | None:
    """The context reference of a request (None: it names none), the body's `seawall` object
    removed from `body`. Raises `InvalidRequest` naming the header or body field that is wrong."""
    ext = body.pop(BODY_KEY, None) if BODY_KEY in body else None
    if ext is None and (  # the usual request names no context: three lookups, nothing built
        CONVERSATION_HEADER not in headers
        and VERSION_HEADER not in headers
        and SNAPSHOT_HEADER not in headers
    ):
        return None
    given = {
        field: _checked(parse, value.strip() if field != "conversation_id" else value, header)
        for field, (header, parse) in _FIELDS.items()
        if (value := headers.get(header)) is not None
    }
    if ext is not None:
        _merge(ext, given)
    if "state_version" in given and "conversation_id" not in given:
        raise InvalidRequest(
            f"A state version needs a conversation id ({CONVERSATION_HEADER} or seawall.conversation_id).",
            param=VERSION_HEADER,
        )
    return ContextRef(given.get("conversation_id"), given.get("state_version"), given.get("context_snapshot"))


def _merge(ext: Any, given: dict[str, Any]) -> None:
    """The body's `seawall` object into `given` (what the headers said): each field checked, and
    equal to its header when both are there."""
    if not isinstance(ext, dict):
        raise InvalidRequest(
            "'seawall' must be an object with conversation_id, state_version and/or context_snapshot.",
            param=BODY_KEY,
        )
    for key, raw in ext.items():
        if key not in _FIELDS:
            raise InvalidRequest(
                f"Unknown field seawall.{key} (expected conversation_id, state_version or context_snapshot).",
                param=f"{BODY_KEY}.{key}",
            )
        header, parse = _FIELDS[key]
        value = _checked(parse, raw, f"{BODY_KEY}.{key}")
        if key in given and given[key] != value:
            raise InvalidRequest(
                f"seawall.{key} ({value!r}) and the {header} header ({given[key]!r}) disagree.",
                param=f"{BODY_KEY}.{key}",
            )
        given[key] = value


def _checked(parse: Callable[[object], Any], value: object, where: str) -> Any:
    """`parse(value)` (seawall.context's own checks), its ValueError as a 400 naming `where`."""
    try:
        return parse(value)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid {where}: {exc}.", param=where) from None


def cache_directives(headers: Mapping[str, str]) -> tuple[bool, bool]:
    """(no_cache, no_store) from the client's `cache-control` header."""
    value = headers.get("cache-control")
    if not value:
        return False, False
    parts = {p.strip().split("=", 1)[0].lower() for p in value.split(",")}
    return "no-cache" in parts or "no-store" in parts, "no-store" in parts


__all__ = ["cache_directives", "read_context"]
