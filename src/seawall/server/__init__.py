"""HTTP ingress: the ASGI app (`SeawallApp`) and `create_app`."""

from __future__ import annotations

from typing import Any

from seawall._gateway import Gateway
from seawall.server._app import SeawallApp


def create_app(config: Any = None) -> SeawallApp:
    """ASGI app for a config path / dict / `GatewayConfig` (None: built-in simulated defaults)."""
    return SeawallApp(Gateway.from_config(config))


__all__ = ["SeawallApp", "create_app"]
