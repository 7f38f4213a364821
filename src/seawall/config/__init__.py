"""Configuration: the schema (`GatewayConfig`), loading with `${ENV}` interpolation, and defaults."""

from seawall.config._load import default_config, format_path, interpolate, load_config, validate
from seawall.config._model import (
    GatewayConfig,
    ModelConfig,
    ProviderConfig,
    RetryConfig,
    ServerConfig,
    TargetConfig,
    TracesConfig,
)

__all__ = [
    "GatewayConfig",
    "ModelConfig",
    "ProviderConfig",
    "RetryConfig",
    "ServerConfig",
    "TargetConfig",
    "TracesConfig",
    "default_config",
    "format_path",
    "interpolate",
    "load_config",
    "validate",
]
