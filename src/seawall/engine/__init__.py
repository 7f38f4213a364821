"""The request engine: admission, routing, gated attempts, fallback, deadlines, the streaming commit point."""

from seawall.engine._engine import AttemptObserver, Engine, StreamHandle
from seawall.engine._routing import (
    Candidates,
    ModelRoute,
    Skip,
    TargetHealth,
    candidates,
    exhausted_error,
    rotation,
)
from seawall.engine._targets import Clearance, Gate, Resilience, ResilienceState, TargetState

__all__ = [
    "AttemptObserver",
    "Candidates",
    "Clearance",
    "Engine",
    "Gate",
    "ModelRoute",
    "Resilience",
    "ResilienceState",
    "Skip",
    "StreamHandle",
    "TargetHealth",
    "TargetState",
    "candidates",
    "exhausted_error",
    "rotation",
]
