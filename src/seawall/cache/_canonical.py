"""Canonical JSON for cache keys: sorted keys, no whitespace, UTF-8 (not ASCII-escaped).

Private to `seawall.cache`. `seawall.context.canonical_json` (RFC 8785 numbers, for snapshot hashes)
gives the same bytes for request bodies but costs ten times as much (5.4 µs against 0.5 for a small
request), and keys are computed for every request of a cached model; the hash form is shared
(`seawall.context.hash_bytes`). Keys live only in memory, but changing this form changes every key
(bump `KEY_VERSION` if it ever has to).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from seawall.context._canonical import hash_bytes

_OPTIONS = orjson.OPT_SORT_KEYS


def canonical_json(value: Any) -> bytes:
    """`value` as canonical JSON bytes. orjson does the work; what it refuses (integers beyond 64
    bits, non-string keys: never in a parsed request body, possible from library callers) falls back
    to the standard library with the same conventions, so every input has exactly one encoding."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8", "surrogatepass")  # a lone surrogate (library callers) keeps its own bytes


def digest(value: Any) -> str:
    """`sha256:<hex>` of `value`'s canonical JSON (the hash form of `seawall.context.hash_bytes`)."""
    try:  # the usual case, inline: this runs twice for every request of a cached model
        data = orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        data = canonical_json(value)
    return hash_bytes(data)


__all__ = ["canonical_json", "digest"]
