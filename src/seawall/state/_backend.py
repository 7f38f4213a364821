"""The state backend interface: where resilience records live, plus a few exact shared primitives.

Two kinds of state, two halves of the interface:

* **Records** (`record`, `changed`, `shares`, `keys`): the plain state records of
  `seawall.resilience` (a breaker's `BreakerRecord`, a budget's `BudgetRecord`, ...), one per
  (kind, key), e.g. ("breaker", "openai/gpt-4o"). They are read and stepped on every request, so
  access is local and synchronous: a routing decision never waits for a network. A backend shared
  by many replicas keeps a local copy of each record and reconciles it with the others in the
  background (bounded staleness); "exact" is not on offer here, and the policies do not need it
  (a breaker that opens a second later on one replica is fine).
* **Exact primitives** (`set_if_absent`, `get`, `add`, `delete`): for what must not be
  approximate across replicas (quotas, conversation → snapshot bindings, cache entries). They are
  async because a shared backend does them remotely and atomically (Redis: one Lua script each).

This module defines the interface only; it must not import a backend, a policy or the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

R = TypeVar("R")


class StateBackend(Protocol):
    """Where resilience records live, and the exact shared primitives (see the module docstring).

    Records: `record()` returns the *live* object, the same one on every call for the backend's
    lifetime, so callers (the resilience facades) may hold on to it. A backend that learns of
    another replica's state never replaces a record it handed out, nor a record nested in it (a
    breaker's window, a limiter's algorithm record): it updates fields in place (see
    `assign_record`). Times inside records are readings of the stepping process's `Clock.now`
    (monotonic, so meaningless elsewhere): a backend that ships records between processes
    translates them (e.g. through `Clock.wall`).
    """

    def record(self, kind: str, key: str, factory: Callable[[], R]) -> R:
        """The live record for (`kind`, `key`), made by `factory()` on first use.

        Local and synchronous: never waits for a network. A shared backend starts from what it
        last heard from other replicas, if anything, and from `factory()` otherwise.
        """
        ...

    def changed(self, kind: str, key: str, record: object) -> None:
        """A step changed `record` (the live object for `kind`, `key`). A shared backend publishes
        it, or its difference, in the background; it must not block or raise for network reasons."""
        ...

    def shares(self, kind: str) -> bool:
        """Whether records of `kind` are seen by other processes. When `False`, `changed()` for that
        kind does nothing and callers may skip it (it runs several times per request)."""
        ...

    def keys(self, kind: str) -> list[str]:
        """Keys that have a record of `kind` here (made here, or heard of from another replica),
        sorted."""
        ...

    async def set_if_absent(
        self, namespace: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> bytes | None:
        """Store `value` unless the key holds one: `None` when stored, else the value already there.

        Atomic across every replica: of many concurrent callers exactly one stores. `ttl_s` (> 0)
        applies to a value stored now; `None` keeps it until `delete`.
        """
        ...

    async def get(self, namespace: str, key: str) -> bytes | None:
        """The value stored by `set_if_absent`, or `None` (never stored, deleted, or expired)."""
        ...

    async def add(
        self,
        namespace: str,
        key: str,
        amount: float,
        *,
        limit: float | None = None,
        ttl_s: float | None = None,
    ) -> tuple[bool, float]:
        """Atomically add `amount` to a counter unless the total would exceed `limit`.

        Returns (applied, total after the call). A missing or expired counter is 0. A positive
        `amount` that would take the total over `limit` is not applied (nothing is created);
        zero and negative amounts always are (`add(ns, key, 0)` reads the total). `ttl_s` (> 0)
        takes effect when this call creates the counter; an existing counter keeps its expiry,
        so a quota window does not slide. Counters and `set_if_absent` values are separate
        keyspaces: `get` does not read counters.
        """
        ...

    async def delete(self, namespace: str, key: str) -> None:
        """Remove the key's value and its counter, if any."""
        ...

    async def start(self) -> None:
        """Connect and start background work (subscriptions, refreshes). Idempotent."""
        ...

    async def aclose(self) -> None:
        """Stop background work and release connections. Idempotent."""
        ...
