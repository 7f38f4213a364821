"""What a detector says about one (target, suite) or (target, signal): the shared vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

HealthReason = Literal[
    "baseline_ready",  # warming_up → healthy: the warm-up fixed the baseline
    "warn",  # healthy → degraded: the statistic reached its warning threshold
    "crit",  # → failing: the statistic reached its critical threshold
    "eased",  # failing → degraded: the statistic fell back below the warning threshold
    "recovered",  # → healthy: the statistic stayed at or below the recovery level for the window
    "escalated",  # → degraded by a caller (a failed probe battery after a model change)
    "reset",  # → healthy (operator): the statistic forgotten, the baseline kept
    "rewarm",  # → warming_up (operator): the baseline forgotten and learned again
]


class Health(StrEnum):
    """Where a detector stands. Routing prefers `healthy`, avoids `degraded`, skips `failing`."""

    WARMING_UP = "warming_up"  # learning its baseline; says nothing yet
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class HealthTransition:
    """One change of `Health`, as handed to `on_transition` observers."""

    key: str  # what the detector watches, e.g. "alpha/gpt-4o|arithmetic" or "alpha/gpt-4o|ttft"
    old: Health
    new: Health
    reason: HealthReason
    at: float  # clock time
    statistic: float  # the detector's statistic just after the step that moved it


class SteppedRecord(Protocol):
    """What every detector's record keeps of its last transition (read by `after_step`)."""

    transitions: int
    state: Health
    last_from: Health
    last_reason: HealthReason | None
    last_at: float


def after_step(
    key: str,
    record: SteppedRecord,
    seen: int,
    statistic: float,
    *,
    on_change: Callable[[], None] | None,
    on_transition: Callable[[HealthTransition], None] | None,
) -> None:
    """What a facade does after stepping `record` (whose transition count was `seen` before):
    `on_change`, then `on_transition` when the step moved its state."""
    if on_change is not None:
        on_change()
    if record.transitions != seen and on_transition is not None:
        assert record.last_reason is not None
        on_transition(
            HealthTransition(
                key, record.last_from, record.state, record.last_reason, record.last_at, statistic
            )
        )
