"""The request engine: admission, routing, gated attempts, fallback, deadlines, the streaming commit point."""

from seawall.engine._engine import Engine, StreamHandle
from seawall.engine._routing import ModelRoute, Skip, exhausted_error, next_target
from seawall.engine._targets import ResilienceState, TargetState

__all__ = [
    "Engine",
    "ModelRoute",
    "ResilienceState",
    "Skip",
    "StreamHandle",
    "TargetState",
    "exhausted_error",
    "next_target",
]
