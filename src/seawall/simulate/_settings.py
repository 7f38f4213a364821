"""Behaviour settings of the simulated provider, and how changes to them are validated.

`SimulatorSettings` is a frozen value object: every field has a safe default (a fast, healthy
provider) and construction fails with a `ValueError` that names the bad field. The control
endpoint, `Simulator.update` and the CLI all go through `settings_from_mapping`, so a change is
validated in one place and applied whole or not at all.

This module must not do I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ERROR_STATUSES = (500, 502, 503, 529)
"""Statuses `error_status` may take. 529 is Anthropic's "overloaded"; the other dialects answer 503."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """How the simulated provider behaves. Rates are probabilities in [0, 1], drawn per request.

    Faults (`*_rate`, `context_limit_tokens`) apply only to requests for `only_models` when that is
    set; latencies apply to every model call. The `help` metadata of each field is what the CLI
    shows for its flag.
    """

    latency_ms: float = field(default=0.0, metadata=_help("fixed delay before any answer, errors included"))
    jitter_ms: float = field(default=0.0, metadata=_help("extra uniform delay in [0, jitter_ms]"))
    ttft_ms: float = field(
        default=0.0, metadata=_help("streams: delay between the first event and the first content chunk")
    )
    chunk_delay_ms: float = field(default=0.0, metadata=_help("streams: delay between content chunks"))
    reply_words: int = field(default=12, metadata=_help("words in the canned reply (one stream chunk each)"))
    error_rate: float = field(default=0.0, metadata=_help("share of calls answered with error_status"))
    error_status: int = field(default=500, metadata=_help("status for error_rate: 500, 502, 503 or 529"))
    rate_limit_rate: float = field(
        default=0.0, metadata=_help("share of calls answered 429 with retry-after")
    )
    retry_after: float = field(default=1.0, metadata=_help("seconds announced by 429 answers"))
    hang_rate: float = field(default=0.0, metadata=_help("share of calls never answered"))
    reset_rate: float = field(default=0.0, metadata=_help("share of calls answered by a TCP reset"))
    malformed_rate: float = field(
        default=0.0, metadata=_help("share of calls answered 200 with truncated JSON or a broken SSE event")
    )
    disconnect_rate: float = field(
        default=0.0, metadata=_help("share of streams cut (no terminal event) after disconnect_after chunks")
    )
    disconnect_after: int = field(default=2, metadata=_help("content chunks sent before a cut"))
    stream_error_rate: float = field(
        default=0.0, metadata=_help("share of streams ended by an in-stream error event")
    )
    stream_error_after: int = field(
        default=2, metadata=_help("content chunks sent before the in-stream error (0: before any content)")
    )
    wrong_answer_rate: float = field(
        default=0.0,
        metadata=_help("share of verifiable answers made wrong: numbers, yes/no, extractions, tool calls"),
    )
    blocked_rate: float = field(
        default=0.0, metadata=_help("share of calls blocked: content_filter / refusal / SAFETY")
    )
    context_limit_tokens: int = field(
        default=0, metadata=_help("prompts over this many estimated tokens get a 400 (0: no limit)")
    )
    model: str = field(default="", metadata=_help("model name to report (empty: echo the requested one)"))
    system_fingerprint: str = field(
        default="fp_seawall_sim", metadata=_help("system_fingerprint in OpenAI answers")
    )
    only_models: tuple[str, ...] = field(
        default=(), metadata=_help("apply faults only to requests for these models (empty: all)")
    )
    seed: int = field(default=0, metadata=_help("seed of the per-request fault draws"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            checked = _check(f.name, _KINDS[f.name], value)
            if checked is not value:
                object.__setattr__(self, f.name, checked)

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (what `GET /_control` shows)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["only_models"] = list(self.only_models)
        return out


_KINDS: dict[str, type] = {f.name: type(f.default) for f in dataclasses.fields(SimulatorSettings)}
_NAMES = frozenset(_KINDS)
_COUNTS = {"disconnect_after", "stream_error_after", "context_limit_tokens"}


def _check(name: str, kind: type, value: Any) -> Any:
    """Validate one field; returns the value, coerced where lossless (int → float, list → tuple)."""
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if name.endswith("_rate") and value > 1:
            raise ValueError(f"{name}: expected a probability between 0 and 1, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
        if name == "error_status" and value not in ERROR_STATUSES:
            raise ValueError(f"{name}: expected one of {', '.join(map(str, ERROR_STATUSES))}, got {value!r}")
        if name == "reply_words" and not 1 <= value <= 100_000:
            raise ValueError(f"{name}: expected an integer between 1 and 100000, got {value!r}")
        if name in _COUNTS and value < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {value!r}")
        return value
    # only_models: a sequence of model names
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{name}: expected a list of model names, got {value!r}")
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name}: expected non-empty model names, got {value!r}")
    return value if isinstance(value, tuple) else tuple(value)


def settings_from_mapping(
    changes: Mapping[str, Any], *, base: SimulatorSettings | None = None
) -> SimulatorSettings:
    """Build settings from `base` (default: the defaults) with `changes` applied.

    Keys are field names. `only_models` also accepts a comma-separated string. Raises `ValueError`
    naming the key for an unknown key or a value of the wrong type or range.
    """
    if not isinstance(changes, Mapping):
        raise ValueError(f"expected a mapping of settings, got {type(changes).__name__}")
    unknown = sorted(str(k) for k in changes if k not in _NAMES)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(_NAMES))})")
    values = dict(changes)
    models = values.get("only_models")
    if isinstance(models, str):
        values["only_models"] = tuple(m.strip() for m in models.split(",") if m.strip())
    return dataclasses.replace(base or SimulatorSettings(), **values)
