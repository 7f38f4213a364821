"""Resilience settings in config: global → per model → per target overrides, built into policy objects.

Each section is a partial mapping of one policy dataclass's fields (`seawall.resilience`); the
effective policy for a target is the dataclass defaults, overridden by the global section, then the
model's, then the target's. Building happens once at load time so a bad value fails loudly, naming
its key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from seawall.config._base import PathError, Strict
from seawall.resilience import (
    AdmissionPolicy,
    AIMDPolicy,
    BreakerPolicy,
    Gradient2Policy,
    HedgePolicy,
    RetryBudgetPolicy,
    RetryConcurrencyPolicy,
    RetryPolicy,
    ThrottlePolicy,
)

Section = dict[str, Any]


class ConcurrencySection(Strict):
    algorithm: Literal["aimd", "gradient2", "none"] = "aimd"
    settings: Section = Field(default_factory=dict)


class ResilienceOverrides(Strict):
    """What a model or a target may override."""

    retry: Section = Field(default_factory=dict)
    budget: Section = Field(default_factory=dict)
    breaker: Section = Field(default_factory=dict)
    concurrency: ConcurrencySection | None = None
    hedging: Section = Field(default_factory=dict)


class ResilienceConfig(ResilienceOverrides):
    """The global `resilience:` section."""

    throttle: Section = Field(default_factory=dict)
    admission: Section = Field(default_factory=dict)
    retry_concurrency: Section = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetPolicies:
    """Every policy that applies to one target."""

    retry: RetryPolicy
    budget: RetryBudgetPolicy
    breaker: BreakerPolicy
    concurrency: AIMDPolicy | Gradient2Policy | None
    hedging: HedgePolicy


def build(cls: type[Any], merged: Section, path: tuple[str | int, ...]) -> Any:
    """Construct a policy dataclass from a mapping; errors name the key under `path`."""
    known = {f.name for f in fields(cls)}
    for key in merged:
        if key not in known:
            raise PathError((*path, key), f"unknown setting (expected one of: {', '.join(sorted(known))})")
    try:
        return TypeAdapter(cls).validate_python(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise PathError((*path, *loc), msg) from None
    except (ValueError, TypeError) as exc:
        raise PathError(path, str(exc)) from None


def target_policies(
    layers: list[tuple[ResilienceOverrides | None, tuple[str | int, ...]]],
) -> TargetPolicies:
    """Merge override layers (global first) and build the policies, naming the deepest path on error."""

    def merged(section: str) -> tuple[Section, tuple[str | int, ...]]:
        out: Section = {}
        path: tuple[str | int, ...] = ("resilience", section)
        for layer, where in layers:
            if layer is not None and getattr(layer, section):
                out.update(getattr(layer, section))
                path = (*where, section)
        return out, path

    conc: ConcurrencySection = ConcurrencySection()
    conc_path: tuple[str | int, ...] = ("resilience", "concurrency")
    settings: Section = {}
    for layer, where in layers:
        if layer is not None and layer.concurrency is not None:
            conc = layer.concurrency
            settings.update(layer.concurrency.settings)
            conc_path = (*where, "concurrency", "settings")
    concurrency: AIMDPolicy | Gradient2Policy | None = None
    if conc.algorithm == "aimd":
        concurrency = build(AIMDPolicy, settings, conc_path)
    elif conc.algorithm == "gradient2":
        concurrency = build(Gradient2Policy, settings, conc_path)
    return TargetPolicies(
        retry=build(RetryPolicy, *merged("retry")),
        budget=build(RetryBudgetPolicy, *merged("budget")),
        breaker=build(BreakerPolicy, *merged("breaker")),
        concurrency=concurrency,
        hedging=build(HedgePolicy, *merged("hedging")),
    )


def gateway_policies(
    config: ResilienceConfig,
) -> tuple[AdmissionPolicy, RetryConcurrencyPolicy, ThrottlePolicy]:
    return (
        build(AdmissionPolicy, config.admission, ("resilience", "admission")),
        build(RetryConcurrencyPolicy, config.retry_concurrency, ("resilience", "retry_concurrency")),
        build(ThrottlePolicy, config.throttle, ("resilience", "throttle")),
    )
