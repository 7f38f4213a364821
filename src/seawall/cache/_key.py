"""Cache keys: what an answer is stored under, and what must match for it to be served again.

A key is the SHA-256 of the canonical JSON of its parts (docs/cache.md, "The key"):

    [KEY_VERSION, request digest, target, identity, snapshot, tenant]

* the request digest: SHA-256 of the normalised request (`normalized_request`), kept separately so a
  trace can show which request a key is for without holding the body of another request;
* the resolved target (`provider/model`), not the client's model name alone: an alias must not
  serve one target's answers for another;
* that target's model identity as last seen (response model, `system_fingerprint`; None while
  unknown): when the provider changes what answers, older entries become unreachable;
* the context snapshot hash (None: the request names none): the same question over other documents
  is another question;
* the tenant (`ANONYMOUS_TENANT` while auth is off): no answer crosses tenants.

Streamed and non-streamed requests share one key: an entry holds one completed answer, re-encoded
for whichever form asked (`seawall.cache._answer`).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from seawall._types import JSONDict
from seawall.cache._canonical import digest

KEY_VERSION: Final = 1
"""The key schema version: bumped whenever a rule of `normalized_request`, the canonical JSON or the
parts change meaning, so entries made under the old rules are never served under the new ones."""

ANONYMOUS_TENANT: Final = "-"
"""The one tenant while authentication is off."""

Identity = tuple[str | None, str | None]
"""A target's model identity for keys: (response model, system_fingerprint), each None when the
provider does not report it."""


class CacheKey(msgspec.Struct, frozen=True, gc=False):
    """A cache key and its parts (a frozen struct: built positionally on the hot path).

    `digest` is what a backend indexes; the other fields say what went into it, for traces and
    checks, and never include the request body."""

    digest: str
    """`sha256:<hex>` over all the parts below."""
    request: str
    """`sha256:<hex>` of the normalised request's canonical JSON."""
    target: str
    identity: Identity | None
    snapshot: str | None
    tenant: str
    version: int = KEY_VERSION

    def parts(self) -> JSONDict:
        """The key's parts as plain JSON values (what a trace records)."""
        return {
            "digest": self.digest,
            "request": self.request,
            "target": self.target,
            "identity": list(self.identity) if self.identity is not None else None,
            "snapshot": self.snapshot,
            "tenant": self.tenant,
            "version": self.version,
        }

    def under(self, target: str, identity: Identity | None) -> CacheKey:
        """The same request, snapshot and tenant under another target and identity: the key an answer
        is stored under when it came from a fallback target, or from a newly seen identity."""
        if target == self.target and identity == self.identity:
            return self  # the usual case: the first choice answered, as it was last seen
        return _build(self.request, target, identity, self.snapshot, self.tenant)


def _check(target: str, tenant: str, snapshot: str | None) -> None:
    if not isinstance(target, str) or not target:
        raise ValueError(f"cache key: target must be a non-empty 'provider/model' string, got {target!r}")
    if not isinstance(tenant, str) or not tenant:
        raise ValueError(f"cache key: tenant must be a non-empty string, got {tenant!r}")
    if snapshot is not None and (not isinstance(snapshot, str) or not snapshot):
        raise ValueError(f"cache key: snapshot must be a hash string or None, got {snapshot!r}")


def _build(
    request: str, target: str, identity: Identity | None, snapshot: str | None, tenant: str
) -> CacheKey:
    _check(target, tenant, snapshot)
    if identity is not None:
        model, fingerprint = identity  # a list from JSON keys like the tuple; any other length raises
        identity = (model, fingerprint)
    parts: list[Any] = [KEY_VERSION, request, target, identity, snapshot, tenant]
    return CacheKey(digest(parts), request, target, identity, snapshot, tenant)


def request_digest(normalized: JSONDict) -> str:
    """`sha256:<hex>` of a normalised request's canonical JSON."""
    return digest(normalized)


def cache_key(
    *,
    normalized: JSONDict,
    target: str,
    identity: Identity | None,
    snapshot: str | None,
    tenant: str,
) -> CacheKey:
    """The key for a normalised request (`normalized_request`) served by `target`, whose current model
    identity is `identity`, over context `snapshot`, for `tenant` (`ANONYMOUS_TENANT` while auth is off)."""
    return _build(digest(normalized), target, identity, snapshot, tenant)


__all__ = ["ANONYMOUS_TENANT", "KEY_VERSION", "CacheKey", "Identity", "cache_key", "request_digest"]
