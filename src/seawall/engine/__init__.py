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
from seawall.engine._targets import ResilienceState, TargetState

__all__ = [
    "AttemptObserver",
    "Candidates",
    "Engine",
    "ModelRoute",
    "ResilienceState",
    "Skip",
    "StreamHandle",
    "TargetHealth",
    "TargetState",
    "candidates",
    "exhausted_error",
    "rotation",
]
