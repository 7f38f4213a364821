"""Provider adapters, one per wire dialect, built from config by `build_provider`, and the transport
seam they send through (`Transport`; `MockTransport` answers from a function, for tests)."""

from __future__ import annotations

from seawall._clock import Clock
from seawall.config import ProviderConfig
from seawall.errors import ConfigError
from seawall.providers._base import Provider
from seawall.providers._mock import MockResponse, MockTransport
from seawall.providers._transport import (
    USE_CLIENT_DEFAULT,
    ConnectError,
    Disconnected,
    ProtocolError,
    Transport,
    TransportError,
    UpstreamRequest,
    UpstreamResponse,
    UseClientDefault,
)
from seawall.providers.anthropic import AnthropicProvider
from seawall.providers.gemini import GeminiProvider
from seawall.providers.openai import OpenAIProvider, classify_openai_error


def build_provider(
    pc: ProviderConfig,
    *,
    base_url: str | None = None,
    transport: Transport | None = None,
    clock: Clock | None = None,
) -> Provider:
    """Create the adapter for one configured provider.

    `base_url` overrides the configured one: for `kind: simulated` it is the embedded simulator's
    root URL, which serves all three dialects (`dialect:` picks the one this provider speaks).
    `transport` replaces the provider's own pooled HTTP/1.1 client (e.g. a `MockTransport`), and
    `clock` the real clock (`MonotonicClock`); both are the adapter's to use and close.
    """
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
            transport=transport,
            clock=clock,
        )
    if dialect == "anthropic":
        return AnthropicProvider(
            pc.name,
            base_url or pc.base_url or "https://api.anthropic.com",
            anthropic_version=pc.anthropic_version,
            default_max_tokens=pc.default_max_tokens,
            sampling_params=pc.sampling_params,
            api_key=key,
            headers=pc.headers,
            max_connections=pc.max_connections,
            connect_timeout_s=pc.connect_timeout_s,
            transport=transport,
            clock=clock,
        )
    if dialect == "gemini":
        return GeminiProvider(
            pc.name,
            base_url or pc.base_url or "https://generativelanguage.googleapis.com",
            api_key=key,
            headers=pc.headers,
            max_connections=pc.max_connections,
            connect_timeout_s=pc.connect_timeout_s,
            transport=transport,
            clock=clock,
        )
    raise ConfigError(f"providers[{pc.name}].kind: provider kind {dialect!r} is not available")


__all__ = [
    "USE_CLIENT_DEFAULT",
    "AnthropicProvider",
    "ConnectError",
    "Disconnected",
    "GeminiProvider",
    "MockResponse",
    "MockTransport",
    "OpenAIProvider",
    "ProtocolError",
    "Provider",
    "Transport",
    "TransportError",
    "UpstreamRequest",
    "UpstreamResponse",
    "UseClientDefault",
    "build_provider",
    "classify_openai_error",
]
