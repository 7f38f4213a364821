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
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from seawall._clock import Clock, MonotonicClock
from seawall._metrics import Metrics
from seawall._types import ChatRequest, Dialect, JSONDict
from seawall.config import GatewayConfig, ProviderConfig, default_config, load_config, validate
from seawall.config._resilience import gateway_policies
from seawall.engine import Engine, ModelRoute, ResilienceState
from seawall.errors import ConfigError, SeawallError
from seawall.providers import build_provider
from seawall.providers._base import Provider
from seawall.trace import Trace, TraceRecorder, open_store
from seawall.trace._store import TraceStore

log = logging.getLogger("seawall")


class Gateway:
    """One gateway instance. Use as an async context manager (or call `start()` / `aclose()`)."""

    def __init__(self, config: GatewayConfig, *, clock: Clock | None = None, source: str = "") -> None:
        self.config = config
        self.source = source
        self.clock = clock or MonotonicClock()
        self.rng = random.Random()
        self.providers: dict[str, Provider] = {}
        self._simulators: list[Any] = []
        self.engine: Engine | None = None
        self.recorder = TraceRecorder(None)
        self.metrics = Metrics()
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
            for pc in self.config.providers:
                self.providers[pc.name] = await self._provider(pc)
            routes = {
                m.name: ModelRoute(
                    name=m.name,
                    targets=tuple(_target(t) for t in m.targets),
                    timeout_s=m.timeout_s,
                    attempt_timeout_s=m.attempt_timeout_s,
                    first_token_timeout_s=m.first_token_timeout_s,
                    idle_timeout_s=m.idle_timeout_s,
                    policies=tuple(self.config.policies_for(i, j) for j in range(len(m.targets))),
                )
                for i, m in enumerate(self.config.models)
            }
            admission, retry_concurrency, throttle = gateway_policies(self.config.resilience)
            state = ResilienceState.create(self.clock, self.rng, admission, retry_concurrency, throttle)
            self.engine = Engine(routes, self.providers, state=state, clock=self.clock, rng=self.rng)
            self.metrics.target_state = state.gauges
            self.metrics.transitions = lambda: dict(state.transition_counts)
            store = open_store(self.config.traces.store)
            self.recorder = TraceRecorder(
                store, _journal_dir(self.config.traces.store, self.config.traces.journal_dir)
            )
            if self.recorder.enabled:
                self.metrics.trace_state = self.recorder.stats
            replayed = await asyncio.to_thread(self.recorder.start)
            if replayed:
                log.warning("recovered %d trace(s) from the journal of a previous run", replayed)
            self.started = True

    async def _provider(self, pc: ProviderConfig) -> Provider:
        if pc.kind == "simulated":
            from seawall.simulate import Simulator, settings_from_mapping

            try:
                settings = settings_from_mapping(dict(pc.simulate))
            except ValueError as exc:
                raise ConfigError(f"providers[{pc.name}].simulate: {exc}") from None
            sim = Simulator(settings)
            await sim.start("127.0.0.1", 0)
            self._simulators.append(sim)
            return build_provider(pc, base_url=sim.url)
        return build_provider(pc)

    async def aclose(self) -> None:
        async with self._lock:
            if not self.started:
                return
            self.started = False
            await asyncio.to_thread(self.recorder.close)
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

    # -- library API -----------------------------------------------------------------------------
    def new_trace(
        self, request: ChatRequest, raw: bytes | None, headers: dict[str, str] | None = None
    ) -> Trace:
        return Trace(
            model=request.model,
            ingress=request.ingress.value,
            stream=request.stream,
            request_body=raw,
            request_headers=headers,
            record_chunks=self.config.traces.record_chunks,
        )

    def finish(self, record: dict[str, Any]) -> None:
        """A request is over: journal its trace (before the response's last byte) and count it."""
        self.recorder.record(record)
        self.metrics.observe(record)

    async def chat(self, **body: Any) -> Any:
        """OpenAI-style chat completion in-process. Returns the completion dict, or with
        `stream=True` an async iterator of chunk dicts. Raises `SeawallError` subclasses."""
        from seawall.server._validate import parse_openai_request

        raw = orjson.dumps(body)
        request = parse_openai_request(body)
        if request.stream:
            return self._stream(request, raw)
        engine = self._engine()
        trace = self.new_trace(request, raw)
        try:
            completion, _target = await engine.complete(request, trace)
        except SeawallError as exc:
            self.finish(trace.finish(status=exc.status, error=exc))
            raise
        self.finish(trace.finish(status=200, response_body=completion.raw or orjson.dumps(completion.body)))
        return completion.body

    async def _stream(self, request: ChatRequest, raw: bytes) -> AsyncIterator[JSONDict]:
        engine = self._engine()
        trace = self.new_trace(request, raw)
        try:
            handle = await engine.open_stream(request, trace)
        except SeawallError as exc:
            self.finish(trace.finish(status=exc.status, error=exc))
            raise
        terminal = "client_disconnect"
        error: SeawallError | None = None
        try:
            async for chunk in handle:
                if not chunk.data:
                    continue  # an upstream event with no meaning in the OpenAI dialect (e.g. ping)
                trace.chunk(chunk.raw if chunk.raw is not None else orjson.dumps(chunk.data))
                if not chunk.data.get("choices") and not request.include_usage:
                    continue
                yield chunk.data
            terminal = "done"
        except SeawallError as exc:
            terminal, error = "error", exc
            raise
        finally:
            await handle.aclose()
            self.finish(trace.finish(status=200, terminal=terminal, error=error))

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the gateway is not started: use `async with Gateway.from_config(...)`")
        return self.engine

    @property
    def store(self) -> TraceStore | None:
        return self.recorder.store

    def model_names(self) -> list[str]:
        return [m.name for m in self.config.models]


def _target(t: Any) -> Any:
    from seawall._types import Target

    return Target(provider=t.provider, model=t.model, weight=t.weight)


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
