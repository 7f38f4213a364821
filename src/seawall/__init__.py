"""Seawall: keeps AI features answering while the model providers underneath change, slow down and fail."""

from typing import TYPE_CHECKING, Any

from seawall.errors import (
    ConfigError,
    DeadlineExceeded,
    ModelNotFound,
    NoTargetAvailable,
    Overloaded,
    SeawallError,
    UpstreamError,
)

if TYPE_CHECKING:
    from seawall._gateway import Gateway

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # `Gateway` pulls in the HTTP client and engine; load it on first use so `import seawall` stays light.
    if name == "Gateway":
        from seawall._gateway import Gateway

        return Gateway
    raise AttributeError(f"module 'seawall' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DeadlineExceeded",
    "Gateway",
    "ModelNotFound",
    "NoTargetAvailable",
    "Overloaded",
    "SeawallError",
    "UpstreamError",
    "__version__",
]
