"""Model identity: which model actually answered for a target, and when that changes.

A target names a model (`provider/model`); what answers is told by the provider in each answer: the
response `model` (`gpt-4o-mini-2024-07-18` for `gpt-4o-mini`), OpenAI's `system_fingerprint` (the
serving configuration) and the service tier. Together they are the target's *identity*. A provider
that swaps the model behind a name, or changes its serving stack, shows up here first — before any
canary fails — so a new identity is an event: it is recorded, counted, logged, and it starts a
probe battery (quality detection).

Providers serve one model name from several backends at once, and each may report its own
fingerprint: answers alternate between a few known identities all day. So a change is an identity
*not seen recently* at this target — not merely one different from the last answer. Each target
keeps its `max_known` most recently seen identities with their counts and last-seen times; one not
among them, or last seen more than `forget_after_s` ago, is new. The first identity a target ever
shows is its initial identity, not a change.

Pure: the caller passes the wall-clock time. Memory is bounded per target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec


class Identity(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What answered: the model asked for, the model the provider says answered, its fingerprint
    and service tier (None: the provider did not say)."""

    requested: str
    model: str | None
    fingerprint: str | None
    tier: str | None

    def describe(self) -> str:
        parts = [self.model or f"{self.requested} (no model reported)"]
        if self.fingerprint:
            parts.append(f"fingerprint {self.fingerprint}")
        if self.tier:
            parts.append(f"tier {self.tier}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """A target answered with an identity it had not shown recently."""

    target: str
    old: Identity | None
    """The identity it answered with most recently before (None: the first it ever showed)."""
    new: Identity
    at: float
    """Wall-clock seconds."""

    @property
    def initial(self) -> bool:
        return self.old is None

    def fields_changed(self) -> tuple[str, ...]:
        """Which of model, fingerprint, tier differ from the previous identity."""
        if self.old is None:
            return ()
        old, new = self.old, self.new
        pairs = (("model", old.model, new.model), ("fingerprint", old.fingerprint, new.fingerprint))
        return tuple(name for name, a, b in (*pairs, ("tier", old.tier, new.tier)) if a != b)


@dataclass(slots=True)
class _Seen:
    count: int
    first: float
    last: float


@dataclass(slots=True)
class TargetIdentities:
    """One target's recently seen identities (most recent last) and its change count."""

    known: dict[Identity, _Seen] = field(default_factory=dict)
    current: Identity | None = None
    changes: int = 0
    last_change: IdentityChange | None = None


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    max_known: int = 8
    """Identities remembered per target (the least recently seen is forgotten first)."""
    forget_after_s: float = 7 * 24 * 3600.0
    """An identity not seen for this long is new again when it comes back."""

    def __post_init__(self) -> None:
        if self.max_known < 1:
            raise ValueError(f"max_known must be >= 1, got {self.max_known}")
        if not self.forget_after_s > 0:
            raise ValueError(f"forget_after_s must be > 0, got {self.forget_after_s}")


class IdentityTracker:
    """Every target's identities; `observe()` says when one is new."""

    def __init__(self, policy: IdentityPolicy | None = None) -> None:
        self.policy = policy or IdentityPolicy()
        self.targets: dict[str, TargetIdentities] = {}

    def observe(self, target: str, identity: Identity, now: float) -> IdentityChange | None:
        """Note one answer's identity; the change it is, if it is one (the initial identity is
        returned too, with `old=None`, so it can be recorded; it is not counted as a change)."""
        state = self.targets.get(target)
        if state is None:
            state = self.targets[target] = TargetIdentities()
        seen = state.known.get(identity)
        previous = state.current
        state.current = identity
        if seen is not None and now - seen.last <= self.policy.forget_after_s:
            seen.count += 1
            seen.last = now
            if previous != identity:  # keep the dict in recency order: move it to the end
                del state.known[identity]
                state.known[identity] = seen
            return None
        if seen is not None:
            del state.known[identity]
        state.known[identity] = _Seen(1, now, now)
        while len(state.known) > self.policy.max_known:
            del state.known[next(iter(state.known))]
        change = IdentityChange(target, previous, identity, now)
        if previous is not None:
            state.changes += 1
            state.last_change = change
        return change

    def view(self, target: str) -> dict[str, object] | None:
        """For `GET /admin/targets`: the current identity, the ones seen recently, the changes."""
        state = self.targets.get(target)
        if state is None or state.current is None:
            return None
        current = state.current
        last = state.last_change
        return {
            "requested_model": current.requested,
            "response_model": current.model,
            "system_fingerprint": current.fingerprint,
            "service_tier": current.tier,
            "changes": state.changes,
            "last_change": None
            if last is None
            else {
                "at": last.at,
                "fields": list(last.fields_changed()),
                "old": None if last.old is None else last.old.describe(),
                "new": last.new.describe(),
            },
            "known": [
                {"identity": ident.describe(), "answers": seen.count, "last_seen": seen.last}
                for ident, seen in reversed(state.known.items())
            ],
        }


__all__ = ["Identity", "IdentityChange", "IdentityPolicy", "IdentityTracker", "TargetIdentities"]
