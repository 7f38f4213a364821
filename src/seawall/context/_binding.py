"""Conversation state bindings: (conversation, state version) → exactly one snapshot, atomically.

`bind()` uses only the `StateBackend`'s exact primitives, so what holds in one process with
`MemoryBackend` holds across replicas with a shared backend (each primitive atomic there):

* **One snapshot per state.** The binding is `set_if_absent("context.binding", "<conversation>#<version>",
  hash)`. Of any number of concurrent binders exactly one stores (`BOUND`); every other one gets the
  stored hash back: the same (`SAME`) or another (`CONFLICT`, carrying both hashes).
* **Newest version per conversation** (monotonic reads). A counter `"context.newest"/<conversation>`
  holds the highest version seen. Raising it is a compare-and-set made of `add`: read the total `t`
  (`add(…, 0)`), and if `t < version` call `add(…, version - t, limit=version)`. Counters here are
  only ever raised, so the total is at least `t`, and the add applies exactly when the total still
  is `t` (`total + version - t <= version`): it is a CAS to `version`. When it does not apply, the
  answer carries the newer total and the loop goes again with it; it ends as soon as the total
  reaches `version`, after at most one retry per concurrent writer. A request is *stale* when the
  total it ends on is above its version: some request with a higher version had been counted first.
  There are no false alarms: the total only ever becomes a version some request carried. Versions
  are at most 2^53, so every total and difference is exact in a binary64 counter.
* **A request with a version but no snapshot** binds nothing: it reads the state's binding
  (`READ`, with the bound hash for the gateway to use and record) or finds none (`UNBOUND`). Such a
  request is usually a follow-up turn that does not carry the context itself; letting it bind
  "no snapshot" would make the service that does carry it conflict.

Both keys live `ttl_s` from when they were made (a counter's expiry does not slide with use), so
`ttl_s` is the horizon of both guarantees: choose it longer than a conversation lives. After a
binding expires the state can be bound afresh; after the counter expires staleness is judged from
the next request on, and can only be missed, never invented.

Whether a conflict is refused (`strict`: 409 naming both hashes) or served and flagged (`warn`)
is the `BindingPolicy`'s; staleness is always flagged, never refused. This module does no I/O of
its own and knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from seawall.context._canonical import parse_hash
from seawall.errors import ContextConflict
from seawall.state import StateBackend

BINDINGS = "context.binding"
"""The `StateBackend` namespace of (conversation, version) → snapshot hash."""
NEWEST = "context.newest"
"""The `StateBackend` counter namespace of a conversation's newest version."""

MAX_VERSION = 2**53
MAX_CONVERSATION = 256
_MAX_ROUNDS = 64  # CAS retries before answering with the last total seen (never reached in practice)

Consistency = Literal["strict", "warn"]


class BindOutcome(StrEnum):
    """What `bind` found for the request's conversation state."""

    BOUND = "bound"
    """This request bound the state to its snapshot (it was the first)."""
    SAME = "same"
    """The state was already bound to the snapshot the request names."""
    CONFLICT = "conflict"
    """The state is bound to another snapshot than the one the request names."""
    READ = "read"
    """The request names no snapshot; the state is bound to `BindResult.bound`."""
    UNBOUND = "unbound"
    """The request names no snapshot and the state has none."""


@dataclass(frozen=True, slots=True)
class BindResult:
    """The outcome of one `bind`, for the gateway to act on and the trace to record."""

    outcome: BindOutcome
    conversation: str
    version: int
    requested: str | None
    """The snapshot hash the request named, if any."""
    bound: str | None
    """The snapshot hash the state is bound to after the call (None only when `UNBOUND`)."""
    newest: int
    """The newest version seen for the conversation, this request's included (within `ttl_s`)."""

    @property
    def conflict(self) -> bool:
        """The request names another snapshot than the one its state is bound to."""
        return self.outcome is BindOutcome.CONFLICT

    @property
    def stale(self) -> bool:
        """A newer version of the conversation was seen before this request (a non-monotonic read)."""
        return self.newest > self.version


@dataclass(frozen=True, slots=True)
class BindingPolicy:
    """What a conflict does: `strict` refuses it (409), `warn` serves it, flagged. Staleness is always
    only flagged."""

    consistency: Consistency = "strict"

    def __post_init__(self) -> None:
        if self.consistency not in ("strict", "warn"):
            raise ValueError(f"consistency must be 'strict' or 'warn', got {self.consistency!r}")

    def refuses(self, result: BindResult) -> bool:
        """Whether the request must not be served."""
        return result.conflict and self.consistency == "strict"

    def check(self, result: BindResult) -> None:
        """Raise `ContextConflict` when the policy refuses `result`; return otherwise (the caller then
        flags a conflict or a stale read in the trace, metrics and log)."""
        if self.refuses(result):
            raise conflict_error(result)


def conflict_error(result: BindResult, *, param: str | None = None) -> ContextConflict:
    """The 409 for a conflicting `result`; the message names both hashes."""
    return ContextConflict(
        f"conversation {result.conversation!r} state version {result.version} is bound to context "
        f"snapshot {result.bound}, but this request names {result.requested}",
        param=param,
    )


async def bind(
    backend: StateBackend,
    conversation: str,
    version: int,
    snapshot: str | None,
    *,
    ttl_s: float | None,
) -> BindResult:
    """Bind (`conversation`, `version`) to `snapshot`, or read its binding when `snapshot` is None, and
    note `version` as seen (see the module docstring). Raises `ValueError` for a malformed
    conversation id, version or hash (the gateway validated them already, naming their source)."""
    conversation = parse_conversation(conversation)
    version = parse_version(version)
    if snapshot is not None:
        snapshot = parse_hash(snapshot)
    newest = await _observe(backend, conversation, version, ttl_s)
    key = f"{conversation}#{version}"
    if snapshot is None:
        found = await backend.get(BINDINGS, key)
        bound = None if found is None else found.decode()
        outcome = BindOutcome.UNBOUND if bound is None else BindOutcome.READ
        return BindResult(outcome, conversation, version, None, bound, newest)
    prior = await backend.set_if_absent(BINDINGS, key, snapshot.encode(), ttl_s=ttl_s)
    if prior is None:
        return BindResult(BindOutcome.BOUND, conversation, version, snapshot, snapshot, newest)
    bound = prior.decode()
    outcome = BindOutcome.SAME if bound == snapshot else BindOutcome.CONFLICT
    return BindResult(outcome, conversation, version, snapshot, bound, newest)


async def _observe(backend: StateBackend, conversation: str, version: int, ttl_s: float | None) -> int:
    """Raise the conversation's newest-version counter to at least `version` (a CAS loop of `add`);
    the total it ends on."""
    _, total = await backend.add(NEWEST, conversation, 0)
    for _ in range(_MAX_ROUNDS):
        if total >= version:
            break
        applied, total = await backend.add(NEWEST, conversation, version - total, limit=version, ttl_s=ttl_s)
        if applied:
            break
    return max(int(total), version)


def parse_conversation(value: object) -> str:
    """`value` if it is a valid conversation id (1 to 256 printable characters), else `ValueError`."""
    if not isinstance(value, str):
        raise ValueError(f"a conversation id must be a string, got {_kind(value)}")
    if not value:
        raise ValueError("a conversation id must not be empty")
    if len(value) > MAX_CONVERSATION:
        raise ValueError(f"a conversation id has at most {MAX_CONVERSATION} characters, got {len(value)}")
    if not value.isprintable():
        at = next(i for i, c in enumerate(value) if not c.isprintable())
        raise ValueError(
            f"a conversation id must be printable; character {at + 1} is {value[at]!r} "
            f"(U+{ord(value[at]):04X})"
        )
    return value


def parse_version(value: object) -> int:
    """A state version from a header (`"12"`) or a JSON body (`12`): an integer from 0 to 2^53, else
    `ValueError`. Text is ASCII digits only (no sign, spaces, `_` or other digits)."""
    if isinstance(value, str):
        if not value:
            raise ValueError("a state version must not be empty")
        if not (value.isascii() and value.isdigit()):
            raise ValueError(
                f"a state version is a non-negative integer in decimal digits, got {_excerpt(value)}"
            )
        if len(value.lstrip("0")) > len(str(MAX_VERSION)):
            raise ValueError(f"a state version is at most 2^53 ({MAX_VERSION}), got {_excerpt(value)}")
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a state version must be an integer, got {_kind(value)}")
    if value < 0:
        raise ValueError(f"a state version must not be negative, got {value}")
    if value > MAX_VERSION:
        raise ValueError(f"a state version is at most 2^53 ({MAX_VERSION}), got {value}")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
