"""Quality detection wired into a gateway: probe routes, the prober, identities seen in traffic,
online signals, the webhook, and the views (docs/quality.md).

`QualityService` owns the pieces of `seawall.quality` a running gateway needs and is the only
place that knows both the gateway and the detectors: the gateway calls `seen(record)` for every
finished client request (on the event loop: one dict lookup per attempt unless the identity
changed) and `start()`/`aclose()`; the monitor publishes `Engine.health`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec
import orjson

from seawall._clock import Clock
from seawall._exchange import Exchange
from seawall._types import ChatRequest, Priority, Target
from seawall.config import GatewayConfig, TargetPolicies
from seawall.engine import Engine, ModelRoute
from seawall.errors import SeawallError
from seawall.ingress import OPENAI, IngressDialect
from seawall.quality._feed import OnlineFeed
from seawall.quality._identity import Identity
from seawall.quality._monitor import QualityMonitor
from seawall.quality._prober import Prober
from seawall.quality._signals import Signals
from seawall.quality._suite import Probe, Suite, resolve_suites
from seawall.quality._verify import ProbeAnswer
from seawall.quality._webhook import Webhook
from seawall.trace._schema import Attempt, ProbeNote, QualityEvent, QualityNote, TraceRecord


class ProbeHost(Protocol):
    """What quality needs of the gateway (`seawall.Gateway` is one): its config, the request
    lifecycle a probe goes through, and recording a probe's trace."""

    config: GatewayConfig

    def exchange(
        self,
        dialect: IngressDialect,
        raw: bytes | None,
        headers: Mapping[str, str],
        *,
        parse: Callable[[], ChatRequest] | None = None,
        error: SeawallError | None = None,
        record: Callable[[TraceRecord], None] | None = None,
    ) -> Exchange: ...

    def record_probe(self, record: TraceRecord) -> None: ...


log = logging.getLogger("seawall.quality")

IDENTITY_REFRESH_S = 60.0
"""How often an unchanged identity is still reported to the tracker (keeps it 'seen recently')."""


def probe_routes(config: GatewayConfig, targets: dict[str, Target]) -> list[ModelRoute]:
    """One route per target of a model with a `quality` section. Built whenever the config has
    quality (a replay of a probe needs them)."""
    if config.quality is None:
        return []
    routes: dict[str, ModelRoute] = {}
    for i, model in enumerate(config.models):
        if model.quality is None:
            continue
        for j, t in enumerate(model.targets):
            key = f"{t.provider}/{t.model}"
            if key not in routes:
                routes[key] = probe_route(
                    targets[key], config.policies_for(i, j), config.quality.probe_timeout_s
                )
    return list(routes.values())


def probe_route(target: Target, policies: TargetPolicies, timeout_s: float) -> ModelRoute:
    """How a probe of `target` runs: that target alone, one attempt, the probe deadline."""
    one = dataclasses.replace(policies, retry=dataclasses.replace(policies.retry, max_attempts=1))
    return ModelRoute(
        name=target.key,
        targets=(target,),
        timeout_s=timeout_s,
        attempt_timeout_s=None,
        first_token_timeout_s=None,
        idle_timeout_s=None,
        policies=(one,),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Asked:
    """One probe's verdict (`passed` None: no verdict, the attempt failed) and its unrecorded trace."""

    passed: bool | None
    detail: str
    records: tuple[TraceRecord, ...]


async def ask_probe(gateway: ProbeHost, key: str, probe: Probe) -> Asked:
    """Ask `probe` of target `key` through its probe route: one attempt at that target alone, with
    the probe deadline, at batch priority, never cached or counted as client traffic; the answer
    checked. The trace is returned, not recorded (the caller adds the verdict first)."""
    body = probe.body(key)
    # batch priority: under overload a probe is shed before any client request
    request = ChatRequest(body=body, model=key, probe_target=key, priority=Priority.BATCH)
    kept: list[TraceRecord] = []
    exchange = gateway.exchange(OPENAI, orjson.dumps(body), {}, parse=lambda: request, record=kept.append)
    await exchange.complete()
    if exchange.completion is not None:
        verdict = probe.verify(ProbeAnswer.from_completion(exchange.completion.body))
        return Asked(verdict.passed, verdict.detail, tuple(kept))
    why = f"no verdict: {exchange.error}" if exchange.error is not None else "no verdict"
    return Asked(None, why[:300], tuple(kept))


class QualityService:
    def __init__(self, gateway: ProbeHost, engine: Engine, *, clock: Clock, rng: random.Random) -> None:
        self.gateway = gateway
        self.engine = engine
        self.config = gateway.config
        self.clock = clock
        self.rng = rng
        q = self.config.quality
        self.monitor = QualityMonitor(
            clock,
            warmup=q.warmup_probes if q is not None else 50,
            on_health=self._health,
            on_event=self._event,
        )
        self.webhook: Webhook | None = None
        self.prober: Prober | None = None
        self.feed: OnlineFeed | None = None
        self.suites: dict[str, Suite] = {}
        self._last: dict[str, dict[str, tuple[str | None, str | None, str | None, float]]] = {}
        """provider → upstream model → its last identity (model, fingerprint, tier) and when to
        report it to the tracker again."""
        self._online_models: frozenset[str] = frozenset()
        self._window: dict[str | None, list[int]] = {}
        self._per_s = q.online_max_per_s if q is not None else 0
        self.online_capped = 0
        """Answers not read for online signals: over `online_max_per_s` for their target."""

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self, *, probing: bool) -> None:
        q = self.config.quality
        if q is None:
            return
        self.suites = resolve_suites(q.suites)
        per_target: dict[str, list[Suite]] = {}
        for model in self.config.models:
            if model.quality is None:
                continue
            keys = [f"{t.provider}/{t.model}" for t in model.targets]
            self.monitor.route(model.name, model.quality.policy, keys)
            suite = self.suites[model.quality.suite]
            for key in keys:
                self.monitor.watch(key, suite.name, p0=model.quality.baseline_failure_rate)
                chosen = per_target.setdefault(key, [])
                if suite not in chosen:
                    chosen.append(suite)
        self._online_models = frozenset(m.name for m in self.config.models if m.quality is not None)
        if not probing:
            return
        if q.webhook_url:
            self.webhook = Webhook(q.webhook_url, timeout_s=q.webhook_timeout_s, retries=q.webhook_retries)
            self.webhook.start()
        if q.online:
            self.feed = _online_feed(self.monitor, q.online_sample, random.Random(self.rng.getrandbits(64)))
            self.feed.start()
        self.prober = Prober(
            per_target,
            self.run_probe,
            self.monitor,
            interval_s=q.probe_interval_s,
            jitter=q.jitter,
            per_hour=q.hourly_cap(),
            clock=self.clock,
            rng=self.rng,
        )
        self.prober.start()

    async def aclose(self) -> None:
        if self.prober is not None:
            await self.prober.aclose()
            self.prober = None
        if self.feed is not None:
            await asyncio.to_thread(self.feed.close)
            self.feed = None
        if self.webhook is not None:
            await self.webhook.aclose()
            self.webhook = None

    # -- probes --------------------------------------------------------------------------------------------
    async def run_probe(self, key: str, suite: Suite, probe: Probe, battery: str | None) -> None:
        """Ask `probe` of target `key` (see `ask_probe`), feed the verdict to the monitor, and record
        the probe's trace with the verdict and what the monitor concluded."""
        asked = await ask_probe(self.gateway, key, probe)
        events = self.monitor.probe_verdict(
            key, suite.name, probe.id, asked.passed, asked.detail, battery=battery is not None
        )
        note = QualityNote(
            ProbeNote(suite.name, probe.id, key, asked.passed, asked.detail, battery), tuple(events)
        )
        for record in asked.records:
            self.gateway.record_probe(msgspec.structs.replace(record, quality=note))

    # -- client traffic ------------------------------------------------------------------------------------
    def seen(self, record: TraceRecord) -> TraceRecord:
        """A finished request (on the event loop): note the identities its attempts answered with
        and queue it for the online signals. Returns it with any identity change noted.

        Per request this is a few attribute reads and comparisons against the target's last
        identity (no allocation); the tracker is consulted only when the identity differs, or once
        every IDENTITY_REFRESH_S."""
        events: list[QualityEvent] | None = None
        last_of = self._last
        ts = record.ts
        for a in record.attempts:
            if a.status != 200 or a.error_class is not None:
                continue
            models = last_of.get(a.provider)
            last = models.get(a.model) if models is not None else None
            if (
                last is not None
                and ts < last[3]
                and last[0] == a.response_model
                and last[1] == a.system_fingerprint
                and last[2] == a.service_tier
            ):
                continue
            found = self._identity(a, ts)
            if found:
                events = (events or []) + found
        if events:
            old = record.quality
            note = QualityNote(old.probe if old else None, (*(old.events if old else ()), *events))
            record = msgspec.structs.replace(record, quality=note)
        feed = self.feed
        if feed is not None and record.quality is None and record.model in self._online_models:
            # At most `online_max_per_s` answers per target and second are read: all of them at
            # ordinary rates, a sample at saturation, where they are plentiful and CPU is not.
            target = record.answered_by
            second = int(record.ts)
            window = self._window.get(target)
            if window is None or window[0] != second:
                self._window[target] = [second, 1]
                feed.submit(record)
            elif window[1] < self._per_s:
                window[1] += 1
                feed.submit(record)
            else:
                self.online_capped += 1
        return record

    def identity_of(self, provider: str, model: str) -> tuple[str | None, str | None] | None:
        """The (response model, system_fingerprint) target `provider/model` last answered with, or
        None before its first answer (what the response cache keys on)."""
        models = self._last.get(provider)
        last = models.get(model) if models is not None else None
        return None if last is None else (last[0], last[1])

    def _identity(self, a: Attempt, ts: float) -> list[QualityEvent]:
        ident = (a.response_model, a.system_fingerprint, a.service_tier)
        self._last.setdefault(a.provider, {})[a.model] = (*ident, ts + IDENTITY_REFRESH_S)
        key = a.provider + "/" + a.model
        found = self.monitor.identity(key, Identity(a.model, *ident))
        if found and self.prober is not None:
            self.prober.wake(key)
        return found

    # -- out ----------------------------------------------------------------------------------------------
    def _health(self, health: dict[str, Any]) -> None:
        self.engine.health = health  # one reference swap: safe from the feed's thread

    def _event(self, event: QualityEvent) -> None:
        if self.webhook is not None:
            payload = {"type": "seawall.quality." + event.kind, "at": self.clock.wall()}
            payload.update(msgspec.to_builtins(event))
            self.webhook.submit(payload)

    def act(self, key: str, action: str) -> dict[str, Any]:
        """An operator's action on a watched target: `reset`, `rewarm` or `battery`; its view after.
        Raises KeyError for a target no model watches, ValueError for an unknown action."""
        if action == "reset":
            self.monitor.reset(key)
        elif action == "rewarm":
            self.monitor.rewarm(key)
        elif action == "battery":
            if key not in self.monitor.watched():
                raise KeyError(key)
            if not self.monitor.start_battery(key, "requested by an operator"):
                raise ValueError(
                    "no suite of this target has a baseline yet: nothing to test a battery against"
                )
            if self.prober is not None:
                self.prober.wake(key)
        else:
            raise ValueError(f"unknown action {action!r} (expected reset, rewarm or battery)")
        return self.view(key)

    def view(self, key: str) -> dict[str, Any]:
        quality = self.monitor.view(key)
        if quality is None:
            quality = {
                "state": "unwatched",
                "reason": "no model routing to this target has a quality section",
            }
        return quality

    def metrics(self) -> dict[str, Any]:
        m = self.monitor
        feed = self.feed
        return {
            "online": None if feed is None else {**feed.stats(), "capped": self.online_capped},
            "probes": dict(m.counters),
            "transitions": dict(m.transitions),
            "identity_changes": dict(m.identity_changes),
            "states": {k: v.value for k, v in m.states().items()},
        }


def _online_feed(monitor: QualityMonitor, sample: float, rng: random.Random) -> OnlineFeed:
    def sink(signals: Signals) -> None:
        monitor.online(signals.target, signals.rates, signals.values)

    return OnlineFeed(sink, sample=sample, rng=rng)


__all__ = ["QualityService", "probe_routes"]
