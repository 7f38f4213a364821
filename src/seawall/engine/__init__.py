"""The request engine: routing, attempts, fallback, deadlines and the streaming commit point."""

from seawall.engine._engine import Engine, RetrySettings, StreamHandle, TargetHealth
from seawall.engine._routing import ModelRoute, exhausted_error, next_target

__all__ = [
    "Engine",
    "ModelRoute",
    "RetrySettings",
    "StreamHandle",
    "TargetHealth",
    "exhausted_error",
    "next_target",
]
