"""Provider adapters, one per wire dialect, built from config by `build_provider`."""

from __future__ import annotations

from seawall.config import ProviderConfig
from seawall.errors import ConfigError
from seawall.providers._base import Provider
from seawall.providers.openai import OpenAIProvider, classify_openai_error


def build_provider(pc: ProviderConfig, *, base_url: str | None = None) -> Provider:
    """Create the adapter for one configured provider (`base_url` overrides, for simulators)."""
    key = pc.api_key.get_secret_value() if pc.api_key is not None else None
    dialect = pc.dialect if pc.kind == "simulated" else pc.kind
    if dialect == "openai":
        url = base_url + "/v1" if base_url is not None else pc.base_url
        assert url is not None
        return OpenAIProvider(
            pc.name,
            url,
            api_key=key,
            headers=pc.headers,
            max_connections=pc.max_connections,
            connect_timeout_s=pc.connect_timeout_s,
        )
    raise ConfigError(f"providers[{pc.name}].kind: provider kind {dialect!r} is not available yet")


__all__ = ["OpenAIProvider", "Provider", "build_provider", "classify_openai_error"]
