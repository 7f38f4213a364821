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

import re
from collections.abc import Mapping
from typing import Any

from seawall._types import ContextRef
from seawall.errors import InvalidRequest

BODY_KEY = "seawall"
CONVERSATION_HEADER = "x-seawall-conversation-id"
VERSION_HEADER = "x-seawall-state-version"
SNAPSHOT_HEADER = "x-seawall-context-snapshot"
MAX_CONVERSATION = 256
MAX_VERSION = 2**53  # what a JSON number holds exactly everywhere
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_DIGITS = re.compile(r"^[0-9]{1,16}$")
_FIELDS = {
    "conversation_id": CONVERSATION_HEADER,
    "state_version": VERSION_HEADER,
    "context_snapshot": SNAPSHOT_HEADER,
}


def read_context(body: dict[str, Any], headers: Mapping[str, str]) -> ContextRef | None:
    """The context reference of a request (None: it names none), the body's `seawall` object
    removed from `body`. Raises `InvalidRequest` naming the header or body field that is wrong."""
    ext = body.pop(BODY_KEY, None) if BODY_KEY in body else None
    if ext is None and not headers:
        return None
    conversation = headers.get(CONVERSATION_HEADER)
    version_text = headers.get(VERSION_HEADER)
    snapshot = headers.get(SNAPSHOT_HEADER)
    if ext is None and conversation is None and version_text is None and snapshot is None:
        return None
    version = None if version_text is None else _header_version(version_text)
    if conversation is not None:
        conversation = _conversation(conversation, CONVERSATION_HEADER)
    if snapshot is not None:
        snapshot = _snapshot(snapshot.strip(), SNAPSHOT_HEADER)
    if ext is not None:
        conversation, version, snapshot = _merge(ext, conversation, version, snapshot)
    if version is not None and conversation is None:
        raise InvalidRequest(
            f"A state version needs a conversation id ({CONVERSATION_HEADER} or seawall.conversation_id).",
            param=VERSION_HEADER,
        )
    return ContextRef(conversation, version, snapshot)


def _merge(
    ext: Any, conversation: str | None, version: int | None, snapshot: str | None
) -> tuple[str | None, int | None, str | None]:
    if not isinstance(ext, dict):
        raise InvalidRequest(
            "'seawall' must be an object with conversation_id, state_version and/or context_snapshot.",
            param=BODY_KEY,
        )
    for key in ext:
        if key not in _FIELDS:
            raise InvalidRequest(
                f"Unknown field seawall.{key} (expected conversation_id, state_version or context_snapshot).",
                param=f"{BODY_KEY}.{key}",
            )
    given: dict[str, Any] = {}
    if "conversation_id" in ext:
        given["conversation_id"] = _conversation(ext["conversation_id"], "seawall.conversation_id")
    if "state_version" in ext:
        given["state_version"] = _body_version(ext["state_version"])
    if "context_snapshot" in ext:
        given["context_snapshot"] = _snapshot(ext["context_snapshot"], "seawall.context_snapshot")
    from_headers: dict[str, Any] = {
        "conversation_id": conversation,
        "state_version": version,
        "context_snapshot": snapshot,
    }
    for key, value in given.items():
        if from_headers[key] is not None and from_headers[key] != value:
            raise InvalidRequest(
                f"seawall.{key} ({value!r}) and the {_FIELDS[key]} header ({from_headers[key]!r}) disagree.",
                param=f"{BODY_KEY}.{key}",
            )
        from_headers[key] = value
    return from_headers["conversation_id"], from_headers["state_version"], from_headers["context_snapshot"]


def _conversation(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Invalid {where}: expected a non-empty string.", param=where)
    text: str = value.strip()
    if len(text) > MAX_CONVERSATION or not text.isprintable():
        raise InvalidRequest(
            f"Invalid {where}: at most {MAX_CONVERSATION} printable characters.", param=where
        )
    return text


def _header_version(text: str) -> int:
    text = text.strip()
    if not _DIGITS.match(text) or int(text) > MAX_VERSION:
        raise InvalidRequest(
            f"Invalid {VERSION_HEADER} header {text[:40]!r}: expected a whole number from 0 to 2^53.",
            param=VERSION_HEADER,
        )
    return int(text)


def _body_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VERSION:
        raise InvalidRequest(
            f"Invalid seawall.state_version {value!r}: expected a whole number from 0 to 2^53.",
            param="seawall.state_version",
        )
    return value


def _snapshot(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _HASH.match(value):  # the only way back is a str
        shown = value[:80] if isinstance(value, str) else value
        raise InvalidRequest(
            f"Invalid {where} {shown!r}: expected a snapshot hash 'sha256:' + 64 lowercase hex digits "
            "(as POST /v1/context/snapshots returns it).",
            param=where,
        )
    return str(value)


def cache_directives(headers: Mapping[str, str]) -> tuple[bool, bool]:
    """(no_cache, no_store) from the client's `cache-control` header."""
    value = headers.get("cache-control")
    if not value:
        return False, False
    parts = {p.strip().split("=", 1)[0].lower() for p in value.split(",")}
    return "no-cache" in parts or "no-store" in parts, "no-store" in parts


__all__ = ["cache_directives", "read_context"]
