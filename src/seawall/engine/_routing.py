"""Pure routing decisions: the order a request tries its targets in, which comes next, and what the
client is told when none is left.

No I/O and no clock reads: the engine passes in what it knows (per-target health, an rng for
weighted choice, what failed so far).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from seawall._types import Target
from seawall.config import TargetPolicies
from seawall.errors import ErrorClass, NoTargetAvailable, SeawallError, UpstreamError

UNKNOWN_WAIT_S = 1.0  # Retry-After for a skipped target whose wait is unknown (AdmissionPolicy's minimum)


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A client-facing model and how it is served (copied out of config once)."""

    name: str
    targets: tuple[Target, ...]
    timeout_s: float
    attempt_timeout_s: float | None
    first_token_timeout_s: float | None
    idle_timeout_s: float | None
    policies: tuple[TargetPolicies, ...]
    weighted: bool = False
    """Some tier holds more than one target: each request draws its order by weight."""

    @property
    def max_attempts(self) -> int:
        """Upstream attempts per request: the model-level retry policy (global, or the model's override)."""
        return self.policies[0].retry.max_attempts


HealthStatus = Literal["healthy", "degraded", "failing"]


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """What is known about a target's answers (fed by quality detection): `degraded` targets are
    tried after the healthy ones, `failing` ones not at all; `reason` says why, for traces."""

    status: HealthStatus = "healthy"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Candidates:
    """One request's preference order, and the targets its health moved or removed, with why."""

    order: tuple[Target, ...]
    demoted: tuple[tuple[Target, str], ...] = ()
    excluded: tuple[tuple[Target, str], ...] = ()


def candidates(
    targets: Sequence[Target],
    health: Mapping[str, TargetHealth],
    rng: random.Random | None = None,
) -> Candidates:
    """The order one request tries `targets` in.

    Targets are preferred by tier (lower first; a target's tier defaults to its position, so an
    untiered list is a strict order). Within a tier the order is drawn by weight with `rng`
    (weighted sampling without replacement: a target of weight 3 leads three times as often as one
    of weight 1); without `rng` it stays as listed. Then health applies: degraded targets go after
    every other (keeping their relative order), failing ones are left out — unless nothing else is
    left, when they are kept, last, as demoted (a model with only failing targets still answers).
    """
    order = _by_tier(targets, rng) if rng is not None else tuple(targets)
    if not health:
        return Candidates(order)
    kept: list[Target] = []
    demoted: list[tuple[Target, str]] = []
    excluded: list[tuple[Target, str]] = []
    for target in order:
        verdict = health.get(target.key)
        if verdict is None or verdict.status == "healthy":
            kept.append(target)
        elif verdict.status == "degraded":
            demoted.append((target, verdict.reason or "degraded"))
        else:
            excluded.append((target, verdict.reason or "failing"))
    if not demoted and not excluded:
        return Candidates(order)
    if not kept and not demoted:
        last = tuple((t, f"{why} (kept: no other target left)") for t, why in excluded)
        return Candidates(order, last)
    return Candidates((*kept, *(t for t, _ in demoted)), tuple(demoted), tuple(excluded))


def _by_tier(targets: Sequence[Target], rng: random.Random) -> tuple[Target, ...]:
    tiers: dict[int, list[Target]] = {}
    for position, target in enumerate(targets):
        tiers.setdefault(position if target.tier is None else target.tier, []).append(target)
    out: list[Target] = []
    for tier in sorted(tiers):
        group = tiers[tier]
        if len(group) > 1:
            # Efraimidis-Spirakis: sort by u^(1/w), u uniform in (0, 1]: a weighted permutation.
            group = sorted(group, key=lambda t: (1.0 - rng.random()) ** (1.0 / t.weight), reverse=True)
        out.extend(group)
    return tuple(out)


def rotation(order: Sequence[Target], attempt: int, failed_for_good: set[str]) -> Iterator[Target]:
    """The targets attempt `attempt` may try, in order: `order` rotated so attempt n starts at
    target n mod len, without those that failed this request in a way a retry cannot fix.

    The first attempt tries the first target; later attempts fall back down the list before coming
    back to a target that already failed. The engine takes the first candidate that passes its gates.
    """
    n = len(order)
    for offset in range(n):
        target = order[(attempt + offset) % n]
        if target.key not in failed_for_good:
            yield target


@dataclass(frozen=True, slots=True)
class Skip:
    """A target passed over without an attempt, and for how long it stays ineligible."""

    target: str
    reason: str
    seconds: float
    rate_limited: bool = False

    def __str__(self) -> str:
        return f"{self.target}: {self.reason} for {self.seconds:.1f}s more"


def exhausted_error(errors: Sequence[UpstreamError], skipped: Sequence[Skip], model: str) -> SeawallError:
    """Summarise why no target answered, with the status a client can act on.

    - the prompt fits no target's context window → that 400 (`context_length_exceeded`)
    - every failure a timeout → 504
    - only rate limits (ours) → 429 with the earliest Retry-After
    - overload/unavailability → 503; anything else → 502
    """
    if not errors:
        why = "; ".join(map(str, skipped)) if skipped else "no eligible target"
        message = f"model {model!r}: no target available ({why})"
        # A skip with no known end (at its concurrency limit, throttled) frees up at an unknown time:
        # say UNKNOWN_WAIT_S (Retry-After's resolution), never "now", or SDKs retry at once and spin.
        wait = min((s.seconds if s.seconds > 0 else UNKNOWN_WAIT_S for s in skipped), default=None)
        if skipped and all(s.rate_limited for s in skipped):
            return NoTargetAvailable(message, status=429, retry_after_s=wait)
        return NoTargetAvailable(message, status=503, retry_after_s=wait)
    classes = {e.error_class for e in errors}
    if classes == {ErrorClass.CONTEXT_LENGTH}:
        return errors[-1]
    parts = [f"{e.message}" for e in errors[-3:]]
    message = f"model {model!r}: all {len(errors)} attempt(s) failed; last: " + " | ".join(parts)
    if skipped:
        message += f" (skipped: {'; '.join(map(str, skipped))})"
    if classes == {ErrorClass.TIMEOUT}:
        return NoTargetAvailable(message, status=504, should_retry=False, last_error=errors[-1])
    if classes == {ErrorClass.RATE_LIMITED}:
        waits = [e.retry_after_s for e in errors if e.retry_after_s is not None]
        return NoTargetAvailable(
            message, status=429, retry_after_s=min(waits) if waits else None, last_error=errors[-1]
        )
    status = (
        503 if classes <= {ErrorClass.OVERLOADED, ErrorClass.SERVER_ERROR, ErrorClass.RATE_LIMITED} else 502
    )
    return NoTargetAvailable(message, status=status, should_retry=False, last_error=errors[-1])
