"""The request engine: admission, routing, gated attempts, fallback, deadlines, the streaming commit point."""

from seawall.engine._engine import Engine, StreamHandle
from seawall.engine._routing import ModelRoute, Skip, candidates, exhausted_error
from seawall.engine._targets import ResilienceState, TargetState

__all__ = [
    "Engine",
    "ModelRoute",
    "ResilienceState",
    "Skip",
    "StreamHandle",
    "TargetState",
    "candidates",
    "exhausted_error",
]
