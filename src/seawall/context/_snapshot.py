"""Retrieval snapshots: validating one, and its canonical bytes and content hash.

A snapshot is any JSON object with a `documents` list: each document an object with a non-empty
string `id`, ids unique within the snapshot. Everything else (content, scores, source or index
version, retriever config, other top-level members) is free-form and part of the hash. The size
limit applies to the canonical JSON (`seawall.context._canonical`), which is what is stored and
hashed; a JSON text is refused unread when it is more than `RAW_FACTOR` times the limit.

Pure: no storage, no I/O. Errors are `InvalidSnapshot` (400, `param` = JSON path) and
`SnapshotTooLarge` (413).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from seawall.context._canonical import UnencodableJSON, canonical_json, format_path, hash_bytes
from seawall.context._errors import InvalidSnapshot, SnapshotTooLarge

DEFAULT_MAX_BYTES = 1024 * 1024
"""The default limit on a snapshot's canonical JSON: 1 MiB."""

RAW_FACTOR = 4
"""A JSON text longer than this many times the limit is refused before it is parsed (whitespace
and escapes rarely more than double a document)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A valid snapshot: its canonical JSON, content hash and number of documents."""

    hash: str
    canonical: bytes
    documents: int

    @classmethod
    def from_value(cls, value: object, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Snapshot:
        """Validate a parsed JSON value as a snapshot (see the module docstring)."""
        count = _check(value)
        try:
            canonical = canonical_json(value)
        except UnencodableJSON as e:
            raise InvalidSnapshot(f"{e.path or 'the snapshot'}: {e.problem}", param=e.path or None) from None
        if len(canonical) > max_bytes:
            raise SnapshotTooLarge(
                f"the snapshot is {len(canonical):,} bytes as canonical JSON; the limit is {max_bytes:,}"
            )
        return cls(hash_bytes(canonical), canonical, count)

    @classmethod
    def from_json(cls, raw: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Snapshot:
        """Parse and validate a snapshot sent as JSON text (a request body)."""
        if len(raw) > RAW_FACTOR * max_bytes:
            raise SnapshotTooLarge(
                f"the snapshot body is {len(raw):,} bytes; the limit is {max_bytes:,} bytes of canonical JSON"
            )
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise InvalidSnapshot(f"the snapshot is not valid JSON: {e}") from None
        return cls.from_value(value, max_bytes=max_bytes)

    def value(self) -> object:
        """The snapshot as a parsed JSON value (a new object on every call)."""
        return orjson.loads(self.canonical)


def _check(value: object) -> int:
    """The number of documents of a snapshot, or `InvalidSnapshot` naming the first problem."""
    if not isinstance(value, dict):
        raise InvalidSnapshot(f"a snapshot must be a JSON object, got {_kind(value)}")
    if "documents" not in value:
        raise InvalidSnapshot("documents: Field required", param="documents")
    documents = value["documents"]
    if not isinstance(documents, list):
        raise InvalidSnapshot(
            f"documents: must be an array of objects, got {_kind(documents)}", param="documents"
        )
    seen: dict[str, int] = {}
    for i, document in enumerate(documents):
        at = format_path(["documents", i])
        if not isinstance(document, dict):
            raise InvalidSnapshot(f"{at}: a document must be an object, got {_kind(document)}", param=at)
        if "id" not in document:
            raise InvalidSnapshot(f"{at}.id: Field required", param=f"{at}.id")
        doc_id = document["id"]
        if not isinstance(doc_id, str) or not doc_id:
            got = "an empty string" if doc_id == "" else _kind(doc_id)
            raise InvalidSnapshot(f"{at}.id: must be a non-empty string, got {got}", param=f"{at}.id")
        first = seen.setdefault(doc_id, i)
        if first != i:
            raise InvalidSnapshot(
                f"{at}.id: {doc_id!r} is already the id of documents[{first}]; ids must be unique",
                param=f"{at}.id",
            )
    return len(documents)


_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _kind(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    return "null" if value is None else _JSON_KINDS.get(type(value), type(value).__name__)
