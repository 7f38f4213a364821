"""Configuration: the schema (`GatewayConfig`), loading with `${ENV}` interpolation, and defaults."""

from seawall.config._load import default_config, format_path, interpolate, load_config, validate
from seawall.config._model import (
    GatewayConfig,
    ModelConfig,
    ProviderConfig,
    RetentionConfig,
    ServerConfig,
    TargetConfig,
    TracesConfig,
)
from seawall.config._resilience import ResilienceConfig, ResilienceOverrides, TargetPolicies

__all__ = [
    "GatewayConfig",
    "ModelConfig",
    "ProviderConfig",
    "ResilienceConfig",
    "ResilienceOverrides",
    "RetentionConfig",
    "ServerConfig",
    "TargetConfig",
    "TargetPolicies",
    "TracesConfig",
    "default_config",
    "format_path",
    "interpolate",
    "load_config",
    "validate",
]
