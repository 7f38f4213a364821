"""Canonical JSON for cache keys: sorted keys, no whitespace, UTF-8 (not ASCII-escaped).

Private to `seawall.cache`, and deliberately small: `seawall.context` grows its own canonical form for
snapshot hashes, and the two are to be unified into one module later. Until then this one must stay
byte-for-byte stable: changing it changes every key (bump `KEY_VERSION` if it ever has to).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

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


def sha256_hex(data: bytes) -> str:
    """`sha256:<hex>` of `data`: the form every content hash in Seawall takes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


__all__ = ["canonical_json", "sha256_hex"]
