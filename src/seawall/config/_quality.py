"""The `quality` section (silent-degradation detection, docs/quality.md) and a model's `quality` key.

    quality:
      suites: {arith: suites/arith.yaml}   # name -> file; `builtin` is always there
      probe_interval_s: 30                 # per target, jittered
    models:
      - name: chat
        quality: {suite: arith, policy: exclude}

Suite files are read (and checked) when the gateway starts and by `seawall check`; relative paths
are read from the configuration file's folder.
"""

from __future__ import annotations

import math
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from seawall.config._base import Strict

QualityPolicy = Literal["alert", "demote", "exclude"]


class ModelQualityConfig(Strict):
    """How one model's targets are watched and what their quality does to routing.

    `alert` reports only; `demote` moves a degraded or failing target behind the healthy ones;
    `exclude` leaves it out unless nothing else is left."""

    suite: str = Field(default="builtin", min_length=1)
    policy: QualityPolicy = "alert"
    # A declared failure rate of the suite on a healthy target (skips the warm-up); floored.
    baseline_failure_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class QualityConfig(Strict):
    suites: dict[str, str] = Field(default_factory=dict)
    # Seconds between two probes of one target (each wait drawn uniformly within ±`jitter`).
    probe_interval_s: float = Field(default=30.0, gt=0, le=86_400)
    jitter: float = Field(default=0.2, ge=0.0, lt=1.0)
    # The most probes one target gets in any hour, batteries included (None: twice the scheduled
    # rate, 3600 / probe_interval_s x 2, which leaves room for batteries after a model change).
    max_probes_per_hour: int | None = Field(default=None, ge=1)
    # The deadline of one probe (it is never retried and never falls back).
    probe_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Probes of a warm-up before a target's baseline failure rate is fixed.
    warmup_probes: int = Field(default=50, ge=5, le=10_000)
    # Online signals from client traffic (empty answers, refusals, invalid JSON...), off the event loop.
    online: bool = True
    # The share of client answers whose online signals are read (a long stream costs ~1 µs a chunk),
    # and the most answers read per target and second (the rest are not: counted as capped).
    online_sample: float = Field(default=1.0, gt=0.0, le=1.0)
    online_max_per_s: int = Field(default=50, ge=1, le=100_000)
    # POSTed a JSON event on every quality transition and model-identity change (retried, in the background).
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=120)
    webhook_retries: int = Field(default=3, ge=0, le=20)

    @field_validator("suites")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if name == "builtin":
                raise ValueError("'builtin' is the shipped suite's name; pick another name")
            if not name or not path:
                raise ValueError("every suite needs a name and a file path")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _cap(self) -> QualityConfig:
        if self.max_probes_per_hour is not None and self.max_probes_per_hour < 1:
            raise ValueError("max_probes_per_hour must be at least 1")
        return self

    def hourly_cap(self) -> int:
        """The effective `max_probes_per_hour`."""
        if self.max_probes_per_hour is not None:
            return self.max_probes_per_hour
        return max(1, math.ceil(2 * 3600.0 / self.probe_interval_s))
