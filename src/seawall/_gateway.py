"""`Gateway`: the engine, providers and trace recorder assembled from a config — the library API.

The HTTP server is a thin shell around this object; in-process users call `chat()` directly:

    async with seawall.Gateway.from_config("seawall.yaml") as gw:
        answer = await gw.chat(model="demo", messages=[{"role": "user", "content": "hi"}])
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from seawall import _capture
from seawall._cache import CacheService
from seawall._capture import CapturingClock, CapturingRandom
from seawall._clock import Clock, IdSource, MonotonicClock, RandomIds
from seawall._context import ContextService
from seawall._exchange import Exchange, Relay
from seawall._metrics import Metrics
from seawall._quality import QualityService, probe_routes
from seawall._types import ChatRequest, Dialect, JSONDict, Target
from seawall.config import (
    GatewayConfig,
    ProviderConfig,
    RetentionConfig,
    default_config,
    load_config,
    validate,
)
from seawall.config._fingerprint import config_fingerprint
from seawall.config._resilience import gateway_policies
from seawall.engine import AttemptObserver, Engine, ModelRoute, Resilience, ResilienceState
from seawall.errors import ConfigError, SeawallError
from seawall.ingress import OPENAI, IngressDialect, kept_headers, parse_openai_request
from seawall.providers import Transport, build_provider
from seawall.providers._base import Provider
from seawall.trace import Trace, TraceRecorder, open_store
from seawall.trace._redact import redactor
from seawall.trace._retention import Maintenance, RetentionPolicy
from seawall.trace._schema import ContextNote, TraceRecord
from seawall.trace._store import TraceStore

if TYPE_CHECKING:
    from seawall.otel._exporter import OtlpExporter

log = logging.getLogger("seawall")


class Gateway:
    """One gateway instance. Use as an async context manager (or call `start()` / `aclose()`)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        clock: Clock | None = None,
        ids: IdSource | None = None,
        rng: random.Random | None = None,
        transports: Callable[[ProviderConfig], Transport | None] | None = None,
        observers: Sequence[AttemptObserver] = (),
        state: Resilience | None = None,
        source: str = "",
        probing: bool = True,
    ) -> None:
        """`clock`, `ids` and `rng` are every source of time, trace ids and random draws the gateway
        uses (tests and replay inject their own); `transports` may give a provider its `Transport`
        (None: the default HTTP/1.1 client), e.g. a `MockTransport` or a replaying one. `observers`
        receive every attempt's `AttemptOutcome`, after the resilience state and the metrics.
        `state` replaces the resilience state (replay answers from a recording). `probing=False`
        leaves canary probing, online signals and the quality webhook off (replay).

        With traces on (and `traces.capture`), what the engine, the traces and the adapters read
        from the clock and the engine's random draws are captured per request (`seawall._capture`)
        so a request can be replayed; the resilience state reads the clock and draws uncaptured,
        because its answers are recorded as decisions instead."""
        self.config = config
        self.source = source
        self.clock = clock or MonotonicClock()
        self.ids = ids or RandomIds(self.clock)
        self.rng = rng or random.Random()
        self._transports = transports
        self._observers = tuple(observers)
        self._state = state
        self._capture = config.traces.capture and config.traces.store != "none"
        # what requests read: captured when capturing (the wrappers cost an append per reading)
        self._read_clock: Clock = CapturingClock(self.clock) if self._capture else self.clock
        seed = self.rng.getrandbits(64)
        self._engine_rng: random.Random = CapturingRandom(seed) if self._capture else random.Random(seed)
        self._state_rng = random.Random(self.rng.getrandbits(64))
        self.config_hash: str | None = None
        self._config_json = b""
        self._redact = redactor(config.traces.redact)
        self.providers: dict[str, Provider] = {}
        self._simulators: list[Any] = []
        self.engine: Engine | None = None
        self.recorder = TraceRecorder(None)
        self.maintenance: Maintenance | None = None
        self.otlp: OtlpExporter | None = None
        self.metrics = Metrics()
        self.quality: QualityService | None = None
        self.cache: CacheService | None = None
        self.context: ContextService | None = None
        self._probing = probing
        self.started = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(
        cls, source: str | os.PathLike[str] | Mapping[str, Any] | GatewayConfig | None = None, **kwargs: Any
    ) -> Gateway:
        """From a YAML path, a dict in the same shape, a `GatewayConfig`, or None (built-in defaults)."""
        if source is None:
            return cls(default_config(), source="(built-in defaults)", **kwargs)
        if isinstance(source, GatewayConfig):
            return cls(source, source="(object)", **kwargs)
        if isinstance(source, Mapping):
            return cls(validate(dict(source), "(dict)"), source="(dict)", **kwargs)
        return cls(load_config(source), source=str(source), **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        async with self._lock:
            if self.started:
                return
            if self.config.traces.otlp is not None:  # first: OpenTelemetry may not be installed
                from seawall.otel import open_exporter  # imports OpenTelemetry: only when configured

                self.otlp = open_exporter(self.config.traces.otlp)
            for pc in self.config.providers:
                self.providers[pc.name] = await self._provider(pc)
            routes = {}
            for i, m in enumerate(self.config.models):
                targets = tuple(_target(t) for t in m.targets)
                routes[m.name] = ModelRoute(
                    name=m.name,
                    targets=targets,
                    timeout_s=m.timeout_s,
                    attempt_timeout_s=m.attempt_timeout_s,
                    first_token_timeout_s=m.first_token_timeout_s,
                    idle_timeout_s=m.idle_timeout_s,
                    policies=tuple(self.config.policies_for(i, j) for j in range(len(m.targets))),
                    weighted=_weighted(targets),
                )
            if self._state is None:
                admission, retry_concurrency, throttle = gateway_policies(self.config.resilience)
                real = ResilienceState.create(
                    self.clock, self._state_rng, admission, retry_concurrency, throttle
                )
                self.metrics.target_state = real.gauges
                self.metrics.transitions = lambda: dict(real.transition_counts)
                self._state = real
            state = self._state
            await state.start()
            self.engine = Engine(
                routes,
                self.providers,
                state=state,
                clock=self._read_clock,
                rng=self._engine_rng,
                observers=(self.metrics, *self._observers),
            )
            # decisions are recorded for stored traces (and a replay, which sets this itself)
            self.engine.record_decisions = self.config.traces.store != "none"
            by_key = {t.key: t for route in routes.values() for t in route.targets}
            for probe_route in probe_routes(self.config, by_key):
                self.engine.add_probe_route(probe_route)
            self.quality = QualityService(
                self, self.engine, clock=self.clock, rng=random.Random(self.rng.getrandbits(64))
            )
            self.metrics.quality_state = self.quality.metrics
            self.context = ContextService(self.config, clock=self.clock)
            self.metrics.context_state = self.context.metrics
            if any(m.cache is not None for m in self.config.models):  # opt-in per model
                self.cache = CacheService(
                    self.config, self.engine, self.quality.identity_of, clock=self.clock
                )
                self.metrics.cache_state = self.cache.metrics
            self.config_hash, self._config_json = config_fingerprint(self.config)
            store = open_store(self.config.traces.store)
            if store is not None:  # the config every trace names, stored once per hash, before serving
                await asyncio.to_thread(store.put_blob, self.config_hash, self._config_json)
            self.recorder = TraceRecorder(
                store, _journal_dir(self.config.traces.store, self.config.traces.journal_dir)
            )
            if self.recorder.enabled:
                self.metrics.trace_state = self.recorder.stats
            replayed = await asyncio.to_thread(self.recorder.start)
            if replayed:
                log.warning("recovered %d trace(s) from the journal of a previous run", replayed)
            if store is not None:  # retention, and indexing what finds traces: off the loop
                recorder = self.recorder
                self.maintenance = Maintenance(
                    store,
                    _retention(self.config.traces.retention),
                    clock=self.clock.wall,
                    busy=lambda: recorder.busy,
                )
                self.metrics.retention_state = self.maintenance.stats
                self.maintenance.start()
            if self.otlp is not None:
                self.otlp.start()
                self.metrics.otlp_state = self.otlp.stats
            self.started = True
            await self.quality.start(probing=self._probing)  # probes go through the started gateway

    async def _provider(self, pc: ProviderConfig) -> Provider:
        transport = self._transports(pc) if self._transports is not None else None
        if transport is not None:  # no simulator is started: the transport answers for it
            root = "http://simulated.invalid" if pc.kind == "simulated" else None
            return build_provider(pc, base_url=root, transport=transport, clock=self._read_clock)
        if pc.kind == "simulated":
            from seawall.simulate import Simulator, settings_from_mapping

            try:
                settings = settings_from_mapping(dict(pc.simulate))
            except ValueError as exc:
                raise ConfigError(f"providers[{pc.name}].simulate: {exc}") from None
            sim = Simulator(settings)
            await sim.start("127.0.0.1", 0)
            self._simulators.append(sim)
            return build_provider(pc, base_url=sim.url, clock=self._read_clock)
        return build_provider(pc, clock=self._read_clock)

    async def aclose(self) -> None:
        async with self._lock:
            if not self.started:
                return
            if self.quality is not None:  # first: probes go through the gateway
                await self.quality.aclose()
            self.started = False
            if self.maintenance is not None:  # first: the recorder closes the store
                await asyncio.to_thread(self.maintenance.close)
                self.maintenance = None
            await asyncio.to_thread(self.recorder.close)
            if self.otlp is not None:  # exports what is queued, for at most traces.otlp.timeout_s
                await asyncio.to_thread(self.otlp.close)
                self.otlp = None
            if self.engine is not None:
                await self.engine.state.aclose()
            if self.context is not None:
                self.context.close()
                self.context = None
            for provider in self.providers.values():
                await provider.aclose()
            for sim in self._simulators:
                await sim.stop()
            self._simulators.clear()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the request lifecycle ---------------------------------------------------------------------
    def exchange(
        self,
        dialect: IngressDialect,
        raw: bytes | None,
        headers: Mapping[str, str],
        *,
        parse: Callable[[], ChatRequest] | None = None,
        error: SeawallError | None = None,
        record: Callable[[TraceRecord], None] | None = None,
    ) -> Exchange:
        """Begin one request in `dialect`: parsed from `raw` (or by `parse`), with its trace. A
        request that does not parse, or that arrives with an `error` already (a body too large),
        comes back with `error` set: answer it with `fail()` (rejected requests are traced too —
        "what did the client actually send?"). The finished record goes to `record` (default: the
        recorder and the metrics)."""
        kept = kept_headers(headers)
        reading = token = None
        if self._capture:  # before the trace reads the clock: its first readings are the request's
            reading = _capture.Reading()
            token = _capture.begin(reading)
        finish = self._finish if record is None else record
        try:
            if error is not None:
                raise error
            request = parse() if parse is not None else dialect.parse(raw or b"", headers)
        except SeawallError as exc:
            trace = self._trace("", dialect, False, raw, kept, reading=reading)
            return Exchange(self.engine, finish, dialect, trace, None, error=exc, capture_token=token)
        trace = self._trace(request.model, dialect, request.stream, raw, kept, reading=reading)
        ref = request.context
        if ref is not None:  # what the client named, in its trace (the binding's verdict is added later)
            trace.context = ContextNote(ref.conversation, ref.version, ref.snapshot)
        return Exchange(
            self._engine(),
            finish,
            dialect,
            trace,
            request,
            capture_token=token,
            cache=self.cache,
            context=self.context,
        )

    def _trace(
        self,
        model: str,
        dialect: IngressDialect,
        stream: bool,
        raw: bytes | None,
        headers: dict[str, str],
        *,
        reading: _capture.Reading | None,
    ) -> Trace:
        return Trace(
            clock=self._read_clock,
            trace_id=self.ids.trace_id(),
            model=model,
            ingress=dialect.name.value,
            stream=stream,
            request_body=raw,
            request_headers=headers,
            record_stream=self.config.traces.record_chunks,
            reading=reading,
            config_hash=self.config_hash,
        )

    def _finish(self, record: TraceRecord) -> None:
        """A request is over: journal its trace (before the response's last byte), count it, and
        queue it for OTLP export when configured (one append: spans are made off the loop)."""
        if self._redact is not None:  # before the record is written anywhere, the journal included
            record = self._redact(record)
        quality = self.quality
        if quality is not None:  # model identities and online signals (docs/quality.md)
            record = quality.seen(record)
        self.recorder.record(record)
        self.metrics.observe(record)
        otlp = self.otlp
        if otlp is not None:
            otlp.submit(record)

    def record_probe(self, record: TraceRecord) -> None:
        """A canary probe's trace: recorded and exported like any, never counted as client traffic."""
        if self._redact is not None:
            record = self._redact(record)
        quality = self.quality
        if quality is not None:
            record = quality.seen(record)
        self.recorder.record(record)
        otlp = self.otlp
        if otlp is not None:
            otlp.submit(record)

    # -- context snapshots (docs/context.md) ----------------------------------------------------------
    async def put_snapshot(self, snapshot: Mapping[str, Any] | bytes) -> str:
        """Store a retrieval snapshot (a JSON object with a `documents` list); its content hash
        (`sha256:<hex>`), the same for the same content. Raises the 4xx `SeawallError`s."""
        raw = snapshot if isinstance(snapshot, bytes) else orjson.dumps(snapshot)
        digest, _created = await self._contexts().put(raw)
        return digest

    async def get_snapshot(self, digest: str) -> Any:
        """A stored snapshot by its hash, as JSON data (None: not stored, or expired)."""
        found = await self._contexts().get(digest)
        return None if found is None else orjson.loads(found)

    def _contexts(self) -> ContextService:
        if self.context is None:
            raise RuntimeError("the gateway is not started: use `async with Gateway.from_config(...)`")
        return self.context

    # -- library API -------------------------------------------------------------------------------
    async def chat(self, **body: Any) -> Any:
        """OpenAI-style chat completion in-process. Returns the completion dict, or with
        `stream=True` an async iterator of chunk dicts. Raises `SeawallError` subclasses."""
        exchange = self.exchange(OPENAI, orjson.dumps(body), {}, parse=lambda: parse_openai_request(body))
        if exchange.error is not None:
            exchange.fail(exchange.error)
            raise exchange.error
        assert exchange.request is not None
        if exchange.request.stream:
            opened = await exchange.open_stream()
            if not isinstance(opened, Relay):
                assert exchange.error is not None
                raise exchange.error
            return self._stream(opened)
        await exchange.complete()
        if exchange.completion is None:
            assert exchange.error is not None
            raise exchange.error
        return exchange.completion.body

    @staticmethod
    async def _stream(relay: Relay) -> AsyncIterator[JSONDict]:
        done = False
        try:
            async for data in relay.chunks():
                yield data
            done = True
        finally:
            if done:
                await relay.close()
            else:
                await relay.abandon()  # the caller stopped early (a raised error was recorded already)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the gateway is not started: use `async with Gateway.from_config(...)`")
        return self.engine

    @property
    def store(self) -> TraceStore | None:
        return self.recorder.store

    def resilience_view(self) -> dict[str, Any]:
        """What `/admin/targets` shows: every target's resilience state, admission, transitions."""
        state = self._engine().state
        admission = state.admission_view()
        retries = admission.pop("retries_in_flight")
        targets = state.snapshot()
        quality = self.quality
        if quality is not None:
            for entry in targets:
                identity = quality.monitor.identity_view(entry["target"])
                entry["quality"] = {**quality.view(entry["target"]), "identity": identity}
                entry["identity"] = identity
        return {
            "targets": targets,
            "admission": admission,
            "retries_in_flight": retries,
            "breaker_transitions": state.recent_transitions(50),
        }

    def model_names(self) -> list[str]:
        return [m.name for m in self.config.models]


def _target(t: Any) -> Target:
    return Target(provider=t.provider, model=t.model, weight=t.weight, tier=t.tier)


def _weighted(targets: tuple[Target, ...]) -> bool:
    """Whether some tier holds more than one target (each request then draws its order)."""
    tiers = [i if t.tier is None else t.tier for i, t in enumerate(targets)]
    return len(set(tiers)) < len(tiers)


def _retention(config: RetentionConfig | None) -> RetentionPolicy | None:
    if config is None:
        return None
    return RetentionPolicy(max_age_s=config.max_age, max_bytes=config.max_bytes, interval_s=config.interval)


def _journal_dir(store: str, configured: str | None) -> Path | None:
    if store == "none":
        return None
    if configured:
        return Path(configured)
    if store.startswith("sqlite://"):
        path = store.removeprefix("sqlite://").removeprefix("/") or ""
        if path and path != ":memory:":
            return Path(path + ".journal")
    return Path("./seawall-traces.journal")


__all__ = ["Dialect", "Gateway"]
