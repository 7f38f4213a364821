"""The response cache, library part: request normalisation, cache keys, entries and backends.

Exact-match only, opt-in per model. This package is pure logic plus an in-memory backend: it does no
HTTP, reads no configuration and knows nothing of the engine; the gateway decides when to look up and
store (docs/cache.md). Public names are re-exported here; the modules are private.
"""

from seawall.cache._answer import chunks_from_completion, completion_from_chunks
from seawall.cache._key import (
    ANONYMOUS_TENANT,
    KEY_VERSION,
    CacheKey,
    Identity,
    cache_key,
    request_digest,
)
from seawall.cache._normalize import cacheable, normalized_request, request_cacheable
from seawall.cache._store import ENTRY_OVERHEAD, CacheBackend, Entry, MemoryCache, check_entry

__all__ = [
    "ANONYMOUS_TENANT",
    "ENTRY_OVERHEAD",
    "KEY_VERSION",
    "CacheBackend",
    "CacheKey",
    "Entry",
    "Identity",
    "MemoryCache",
    "cache_key",
    "cacheable",
    "check_entry",
    "chunks_from_completion",
    "completion_from_chunks",
    "normalized_request",
    "request_cacheable",
    "request_digest",
]
