"""The configuration schema: pydantic models in the shape of DESIGN.md's example.

Validation happens once, at load time; nothing here is consulted per request except the frozen
values the engine copies out. Every model forbids unknown keys so a typo fails loudly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from seawall._units import parse_duration, parse_size
from seawall.config._base import PathError, Strict
from seawall.config._context import CacheConfig, ContextConfig, ModelCacheConfig, ModelContextConfig
from seawall.config._quality import ModelQualityConfig, QualityConfig
from seawall.config._resilience import (
    ResilienceConfig,
    ResilienceOverrides,
    TargetPolicies,
    gateway_policies,
    target_policies,
)

ProviderKind = Literal["openai", "anthropic", "gemini", "simulated"]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")]


class ProviderConfig(Strict):
    """One upstream provider: where it is, how to authenticate, how to pool connections."""

    name: Name
    kind: ProviderKind
    base_url: str | None = None
    api_key: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    # simulated only: which wire dialect the embedded simulator speaks, and its behaviour settings.
    dialect: Literal["openai", "anthropic", "gemini"] = "openai"
    simulate: dict[str, Any] = Field(default_factory=dict)
    # anthropic only: Messages API requires max_tokens; used when the client omits it.
    default_max_tokens: int = Field(default=4096, ge=1)
    anthropic_version: str = "2023-06-01"
    # anthropic only: false leaves temperature/top_p/top_k out of requests (models that reject them).
    sampling_params: bool = True

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderConfig:
        if self.kind != "simulated" and self.base_url is None and self.kind == "openai":
            raise ValueError("base_url is required for kind 'openai' (e.g. https://api.openai.com/v1)")
        if self.kind != "simulated" and self.simulate:
            raise ValueError("'simulate' settings apply only to kind 'simulated'")
        return self


class TargetConfig(Strict):
    """One entry of a model's fallback list."""

    provider: Name
    model: str = Field(min_length=1)
    # Targets sharing a tier are equally preferred and picked by weight; a target without a tier is
    # in the tier of its position in the list, so an untiered list is a strict preference order.
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    tier: int | None = Field(default=None, ge=0)
    resilience: ResilienceOverrides | None = None


class ModelConfig(Strict):
    """A client-facing model name and the ordered targets that serve it."""

    name: Name
    targets: list[TargetConfig] = Field(min_length=1)
    timeout_s: float = Field(default=120.0, gt=0, description="deadline for the whole request")
    attempt_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="limit for one non-streamed attempt (default: what is left of the deadline)",
    )
    first_token_timeout_s: float | None = Field(default=30.0, gt=0)
    idle_timeout_s: float | None = Field(default=30.0, gt=0)
    resilience: ResilienceOverrides | None = None
    # canary probes of every target and what their quality does to routing (docs/quality.md)
    quality: ModelQualityConfig | None = None
    # exact-match response caching (docs/cache.md); context snapshot consistency (docs/context.md)
    cache: ModelCacheConfig | None = None
    context: ModelContextConfig = Field(default_factory=ModelContextConfig)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    admin_token: SecretStr | None = None  # when set, /admin/* requires `Authorization: Bearer <token>`


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class OtlpConfig(Strict):
    """OpenTelemetry export of every finished request (docs/traces.md#opentelemetry): where the
    collector is, how to reach it, and how many finished requests may wait for export."""

    endpoint: str
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    # Sent to the collector with every export (e.g. an auth token): secrets, never logged or shown.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    service_name: str = Field(default="seawall", min_length=1)
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    queue_size: int = Field(default=2048, ge=1, le=1_000_000)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL, e.g. http://localhost:4318")
        if parts.query or parts.fragment:
            raise ValueError("the endpoint takes no query or fragment")
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        # Checked here so an error never echoes a value (they are secrets).
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of header names to values")
        for name, header in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if not isinstance(header, str):
                raise ValueError(f"the value of {name!r} must be a string (quote it)")
            if "\r" in header or "\n" in header:
                raise ValueError(f"the value of {name!r} must be one line")
        return value

    @model_validator(mode="after")
    def _grpc_has_no_path(self) -> OtlpConfig:
        if self.protocol == "grpc" and urlsplit(self.endpoint).path not in ("", "/"):
            raise PathError(
                ("traces", "otlp", "endpoint"),
                "a gRPC endpoint has no path: scheme://host:port (http:// for plain text, https:// for TLS)",
            )
        return self

    def url(self) -> str:
        """The endpoint spans are sent to. For OTLP/HTTP a URL without a path gets the traces
        path (`/v1/traces`), as a collector's base URL would in `OTEL_EXPORTER_OTLP_ENDPOINT`."""
        if self.protocol == "http/protobuf" and urlsplit(self.endpoint).path in ("", "/"):
            return self.endpoint.rstrip("/") + "/v1/traces"
        return self.endpoint


class RetentionConfig(Strict):
    """How much of the trace store to keep (docs/traces.md#retention): traces older than `max_age`
    are deleted, then the oldest until the store holds at most `max_bytes`, every `interval`, in the
    background. Human units: `7d`, `12h`; `2GB`, `500MB`, `1.5GiB` (a plain number is seconds or
    bytes)."""

    max_age: float | None = None
    max_bytes: int | None = None
    interval: float = 60.0

    @field_validator("max_age", "interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("max_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_size(value)

    @field_validator("interval")
    @classmethod
    def _often(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value

    @model_validator(mode="after")
    def _something(self) -> RetentionConfig:
        if self.max_age is None and self.max_bytes is None:
            raise ValueError("set max_age, max_bytes or both (leave retention out to keep every trace)")
        return self


class TracesConfig(Strict):
    """Where traces go. `store: none` disables recording (benchmarks only); `otlp` also sends
    every request as OpenTelemetry spans to a collector."""

    store: str = "sqlite:///./seawall-traces.db"
    journal_dir: str | None = None
    record_chunks: bool = True
    # keep every clock reading and random draw of a request's execution, so it can be replayed
    capture: bool = True
    # JSON paths whose values are replaced by "[redacted]" in every recorded body (docs/traces.md)
    redact: list[str] = Field(default_factory=list)
    otlp: OtlpConfig | None = None
    # keep traces for this long, or up to this size (none: keep every trace)
    retention: RetentionConfig | None = None

    @field_validator("redact")
    @classmethod
    def _redact(cls, value: list[str]) -> list[str]:
        from seawall.trace._redact import parse_path

        for path in value:
            parse_path(path)  # a ValueError naming the path becomes a config error naming the key
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if value == "none" or value.startswith("sqlite://"):
            return value
        if value.startswith(("postgresql://", "postgres://")):
            raise ValueError("the PostgreSQL trace store is not available yet; use sqlite:///PATH or none")
        raise ValueError("expected sqlite:///PATH or none")


class GatewayConfig(Strict):
    """The whole configuration file."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    providers: list[ProviderConfig] = Field(min_length=1)
    models: list[ModelConfig] = Field(min_length=1)
    traces: TracesConfig = Field(default_factory=TracesConfig)
    state: str = "memory"
    resilience: ResilienceConfig = Field(default_factory=lambda: ResilienceConfig())  # noqa: PLW0108 (defined below)
    quality: QualityConfig | None = None
    cache: CacheConfig = Field(default_factory=CacheConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value == "memory":
            return value
        if value.startswith(("redis://", "rediss://")):
            raise ValueError("shared state in Redis is not available yet; use 'memory' (one gateway process)")
        raise ValueError("expected 'memory'")

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        seen: set[str] = set()
        for i, provider in enumerate(self.providers):
            if provider.name in seen:
                raise PathError(("providers", i, "name"), f"duplicate provider name {provider.name!r}")
            seen.add(provider.name)
        gateway_policies(self.resilience)  # raises PathError naming the key
        names: set[str] = set()
        for i, model in enumerate(self.models):
            if model.name in names:
                raise PathError(("models", i, "name"), f"duplicate model name {model.name!r}")
            names.add(model.name)
            for j, target in enumerate(model.targets):
                if target.provider not in seen:
                    raise PathError(
                        ("models", i, "targets", j, "provider"),
                        f"unknown provider {target.provider!r} (expected one of: {', '.join(sorted(seen))})",
                    )
                self.policies_for(i, j)  # validate every effective policy now, not on first use
            if model.quality is not None:
                known = {"builtin", *(self.quality.suites if self.quality else {})}
                if model.quality.suite not in known:
                    raise PathError(
                        ("models", i, "quality", "suite"),
                        f"unknown suite {model.quality.suite!r} (expected one of: {', '.join(sorted(known))};"
                        " name suite files under quality.suites)",
                    )
        return self

    def policies_for(self, model_index: int, target_index: int) -> TargetPolicies:
        """The effective policies of one target of one model (global → model → target)."""
        model = self.models[model_index]
        target = model.targets[target_index]
        return target_policies(
            [
                (self.resilience, ("resilience",)),
                (model.resilience, ("models", model_index, "resilience")),
                (target.resilience, ("models", model_index, "targets", target_index, "resilience")),
            ]
        )
