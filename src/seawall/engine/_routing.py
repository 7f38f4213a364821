"""Pure routing decisions: which target comes next, and what the client is told when none is left.

No I/O and no clock reads: the engine passes in what it knows (time now, per-target eligibility).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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

    @property
    def max_attempts(self) -> int:
        """Upstream attempts per request: the model-level retry policy (global, or the model's override)."""
        return self.policies[0].retry.max_attempts


def candidates(targets: Sequence[Target], attempt: int, failed_for_good: set[str]) -> Iterator[Target]:
    """The targets attempt `attempt` may try, in order: preference order rotated so attempt n starts
    at target n mod len, without those that failed this request in a way a retry cannot fix.

    The first attempt tries the primary; later attempts fall back down the list before coming back
    to a target that already failed. The engine takes the first candidate that passes its gates.
    """
    n = len(targets)
    for offset in range(n):
        target = targets[(attempt + offset) % n]
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
