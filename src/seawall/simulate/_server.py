"""The simulated provider's HTTP server: routes, fault execution, stats, the control plane.

Everything about *what* to answer lives elsewhere (`_model`, `_faults`, the dialects); this
module owns *when* and *how* bytes reach the socket: latency, hangs, resets (RST through
``SO_LINGER 0``), streams paced chunk by chunk, cut or ended by an error event.

The control plane (`/_control`, `/_stats`, `/_requests`) is never faulted, counted or recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import signal
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

import orjson
from aiohttp import web

from seawall.simulate import _model
from seawall.simulate._anthropic import AnthropicDialect
from seawall.simulate._faults import Fault, Plan, draw
from seawall.simulate._gemini import GeminiDialect
from seawall.simulate._openai import OpenAIDialect
from seawall.simulate._settings import SimulatorSettings, settings_from_mapping
from seawall.simulate._wire import Call, Dialect, Limits, Rejected, Reply, WireError, dumps, truncate

REDACTED: Final = "[REDACTED]"
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key"}
)
_SECRET_QUERY = frozenset({"key", "api_key"})
_LOG_SIZE = 100
_MAX_BODY = 64 * 1024 * 1024
_DEFAULT_MODELS = ("gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash")
_OPENAI: Final = OpenAIDialect()
_ANTHROPIC: Final = AnthropicDialect()
_GEMINI: Final = GeminiDialect()
_MODEL_PATHS = frozenset({"/v1/chat/completions", "/chat/completions", "/v1/messages", "/messages"})
_INVALID: Final = object()


class _Stats:
    """Counts of received requests, by path, by outcome and by requested model."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.since = time.time()

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_path": dict(self.by_path),
            "by_status": dict(self.by_status),
            "by_model": dict(self.by_model),
            "since": self.since,
        }


class _RateWindow:
    """Fixed one-minute windows of requests and tokens, behind the rate-limit headers."""

    requests_limit = 10_000
    tokens_limit = 10_000_000
    span = 60.0

    def __init__(self) -> None:
        self._start = -self.span
        self._requests = 0
        self._tokens = 0

    def take(self, tokens: int, *, exhausted_for: float | None = None) -> Limits:
        now = time.monotonic()
        if now - self._start >= self.span:
            self._start, self._requests, self._tokens = now, 0, 0
        self._requests += 1
        self._tokens += tokens
        reset = self.span - (now - self._start)
        limits = Limits(
            request_id=f"req_{secrets.token_hex(12)}",
            now=time.time(),
            requests_limit=self.requests_limit,
            requests_remaining=max(0, self.requests_limit - self._requests),
            requests_reset_s=reset,
            tokens_limit=self.tokens_limit,
            tokens_remaining=max(0, self.tokens_limit - self._tokens),
            tokens_reset_s=reset,
        )
        if exhausted_for is not None:  # a simulated 429: the quota is spent until retry-after
            limits = dataclasses.replace(limits, requests_remaining=0, requests_reset_s=exhausted_for)
        return limits


class Simulator:
    """A fake LLM provider speaking OpenAI, Anthropic and Gemini over real HTTP, with faults.

    Runs in the current event loop::

        async with Simulator(SimulatorSettings(error_rate=0.1, seed=7)) as sim:
            client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x")
            ...
            sim.update({"error_rate": 1, "error_status": 503})
            assert sim.stats()["by_status"]["503"] == 1
    """

    def __init__(self, settings: SimulatorSettings | None = None) -> None:
        self._initial = settings if settings is not None else SimulatorSettings()
        self._settings = self._initial
        self._seq = 0
        self._stats = _Stats()
        self._log: deque[dict[str, Any]] = deque(maxlen=_LOG_SIZE)
        self._window = _RateWindow()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._stopping = asyncio.Event()

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on `host`:`port` (0: any free port) in the running event loop; returns the port."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        loop = asyncio.get_running_loop()
        family, kind, proto, _, address = (
            await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.SockSite(runner, sock, backlog=1024).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._stopping = asyncio.Event()
        self._runner = runner
        self._host = host
        self._port = int(sock.getsockname()[1])
        return self._port

    async def stop(self) -> None:
        """Stop listening; requests still hanging or streaming are cut. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping.set()
        await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, without ``/v1``: ``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int | None:
        return self._port

    # ---- control ------------------------------------------------------------------------------
    @property
    def settings(self) -> SimulatorSettings:
        """The settings in force now."""
        return self._settings

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change settings at runtime, all at once or not at all (same as ``POST /_control``).

        ``"reset": true`` first restores the settings the simulator was created with. Setting
        `seed` (or resetting) restarts the sequence of fault draws. Raises `ValueError` naming the
        key for an unknown key or a bad value; nothing changes then. Returns the new settings.
        """
        if not isinstance(changes, Mapping):
            raise ValueError("expected a JSON object of settings")
        values = dict(changes)
        reset = values.pop("reset", False)
        if not isinstance(reset, bool):
            raise ValueError(f"reset: expected true or false, got {reset!r}")
        new = settings_from_mapping(values, base=self._initial if reset else self._settings)
        self._settings = new
        if reset or "seed" in values:
            self._seq = 0
        return new.as_dict()

    def stats(self) -> dict[str, Any]:
        """``{total, by_path, by_status, by_model, since}``; by_status keys are strings: "200",
        "503", or "hang" / "reset" / "disconnect" for requests that got no complete HTTP answer."""
        return self._stats.as_dict()

    def reset_stats(self) -> None:
        """Zero the counts and forget the recorded requests."""
        self._stats.reset()
        self._log.clear()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The last 100 requests received, oldest first, with secrets redacted."""
        return list(self._log)

    # ---- HTTP ---------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_BODY)
        r = app.router
        r.add_get("/_control", self._get_control)
        r.add_post("/_control", self._post_control)
        r.add_get("/_stats", self._get_stats)
        r.add_post("/_stats/reset", self._post_stats_reset)
        r.add_get("/_requests", self._get_requests)
        for path in ("/v1/chat/completions", "/chat/completions"):
            r.add_post(path, self._openai)
        for path in ("/v1/messages", "/messages"):
            r.add_post(path, self._anthropic)
        for prefix in ("/v1beta/models/", "/v1/models/"):
            r.add_post(prefix + "{target}", self._gemini)
        for path in ("/v1/models", "/models"):
            r.add_get(path, self._models)
        r.add_get("/v1beta/models", self._gemini_models)
        for path in ("/health", "/healthz"):
            r.add_get(path, self._health)
        r.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _get_control(self, request: web.Request) -> web.Response:
        return _json(200, self._settings.as_dict())

    async def _post_control(self, request: web.Request) -> web.Response:
        try:
            return _json(200, self.update(_loads_strict(await request.read())))
        except ValueError as exc:
            return _json(400, {"error": str(exc)})

    async def _get_stats(self, request: web.Request) -> web.Response:
        return _json(200, self.stats())

    async def _post_stats_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return _json(200, self.stats())

    async def _get_requests(self, request: web.Request) -> web.Response:
        return _json(200, {"requests": self.requests})

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._model_call(request, _OPENAI)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._model_call(request, _ANTHROPIC)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["target"].rpartition(":")
        if not model or action not in ("generateContent", "streamGenerateContent"):
            return await self._not_found(request)
        return await self._model_call(
            request,
            _GEMINI,
            path_model=model,
            stream=action == "streamGenerateContent",
            sse=request.query.get("alt") == "sse",
        )

    async def _models(self, request: web.Request) -> web.Response:
        self._received(request, None)
        self._stats.by_status["200"] += 1
        names = self._model_names()
        if "anthropic-version" in request.headers:
            data = [
                {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
                for n in names
            ]
            page: dict[str, Any] = {
                "data": data,
                "has_more": False,
                "first_id": names[0],
                "last_id": names[-1],
            }
            return _json(200, page)
        listing = [{"id": n, "object": "model", "created": 0, "owned_by": "seawall-simulator"} for n in names]
        return _json(200, {"object": "list", "data": listing})

    async def _gemini_models(self, request: web.Request) -> web.Response:
        self._received(request, None)
        self._stats.by_status["200"] += 1
        models = [
            {
                "name": f"models/{n}",
                "version": "001",
                "displayName": n,
                "inputTokenLimit": self._settings.context_limit_tokens or 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
            }
            for n in self._model_names()
        ]
        return _json(200, {"models": models})

    async def _health(self, request: web.Request) -> web.Response:
        self._received(request, None)
        self._stats.by_status["200"] += 1
        return _json(200, {"status": "ok"})

    async def _not_found(self, request: web.Request) -> web.Response:
        self._received(request, None)
        status = 405 if request.path in _MODEL_PATHS else 404
        self._stats.by_status[str(status)] += 1
        message = f"{request.method} is not allowed here" if status == 405 else f"no route {request.path}"
        err = {"message": message, "type": "invalid_request_error", "param": None, "code": "unknown_url"}
        return _json(status, {"error": err})

    def _model_names(self) -> list[str]:
        names = set(_DEFAULT_MODELS) | set(self._stats.by_model) | set(self._settings.only_models)
        if self._settings.model:
            names.add(self._settings.model)
        return sorted(n for n in names if n)

    # ---- model calls --------------------------------------------------------------------------
    async def _model_call(
        self,
        request: web.Request,
        dialect: Dialect,
        *,
        path_model: str | None = None,
        stream: bool | None = None,
        sse: bool = True,
    ) -> web.StreamResponse:
        seq, self._seq = self._seq, self._seq + 1
        settings = self._settings  # one request sees one version of the settings
        raw = await request.read()
        body = _loads(raw)
        self._received(request, raw.decode("utf-8", "replace") if body is _INVALID else body)
        try:
            if body is _INVALID:
                raise Rejected(dialect.invalid("The request body is not valid JSON."))
            call = dialect.parse(body, path_model=path_model, stream=stream)
        except Rejected as rejected:
            await _sleep(draw(settings, seq, faulty=False).delay_s)
            return self._error(dialect, rejected.error)
        if not sse:
            call = dataclasses.replace(call, sse=False)
        self._stats.by_model[call.model] += 1
        faulty = not settings.only_models or call.model in settings.only_models
        plan = draw(settings, seq, faulty=faulty, stream=call.stream)
        await _sleep(plan.delay_s)

        tokens, limit = call.prompt.prompt_tokens, settings.context_limit_tokens
        if faulty and limit and tokens > limit:
            return self._error(dialect, dialect.context_exceeded(tokens, limit))
        if plan.fault is Fault.HANG:
            self._stats.by_status["hang"] += 1
            await self._stopping.wait()  # or until the client gives up, which cancels this handler
            _abort(request, reset=False)
            return web.Response()
        if plan.fault is Fault.RESET:
            self._stats.by_status["reset"] += 1
            _abort(request, reset=True)
            return web.Response()
        if plan.fault is Fault.RATE_LIMIT:
            error = dialect.error(429, retry_after=settings.retry_after)
            return self._error(dialect, error, exhausted_for=settings.retry_after)
        if plan.fault is Fault.ERROR:
            return self._error(
                dialect, dialect.error(settings.error_status, retry_after=settings.retry_after)
            )

        if plan.fault is Fault.BLOCKED:
            answer = _model.blocked(call.prompt)
        else:
            answer = _model.answer(
                call.prompt, reply_words=settings.reply_words, wrong_offset=plan.wrong_offset
            )
        reply = Reply(
            answer=answer,
            model=settings.model or call.model,
            token=secrets.token_hex(12),
            created=int(time.time()),
            fingerprint=settings.system_fingerprint,
        )
        headers = dialect.headers(self._window.take(answer.prompt_tokens + answer.completion_tokens))
        if not call.stream:
            self._stats.by_status["200"] += 1
            data = dumps(dialect.body(call, reply))
            headers["content-type"] = dialect.json_type
            return web.Response(
                status=200, body=truncate(data) if plan.fault is Fault.MALFORMED else data, headers=headers
            )
        self._stats.by_status["disconnect" if plan.cut_after is not None else "200"] += 1
        return await self._stream(
            request, dialect, call=call, reply=reply, plan=plan, headers=headers, settings=settings
        )

    async def _stream(
        self,
        request: web.Request,
        dialect: Dialect,
        *,
        call: Call,
        reply: Reply,
        plan: Plan,
        headers: dict[str, str],
        settings: SimulatorSettings,
    ) -> web.StreamResponse:
        events = dialect.events(call, reply)
        if plan.fault is Fault.MALFORMED:
            broken = dialect.broken_event(call, first=True)
            if events.content:
                events.content[0] = broken
            else:
                events.content.append(broken)
        headers["content-type"] = dialect.stream_type
        headers["cache-control"] = "no-cache"
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        if events.opening:
            await response.write(events.opening)
        stops = [k for k in (plan.cut_after, plan.stream_error_after) if k is not None]
        stop_at = min(*stops, len(events.content)) if stops else None
        content = events.content[:stop_at]
        ttft, gap = settings.ttft_ms / 1000.0, settings.chunk_delay_ms / 1000.0
        if ttft or gap:
            for i, chunk in enumerate(content):
                await _sleep(ttft if i == 0 else gap)
                if self._stopping.is_set():
                    _abort(request, reset=False)
                    return response
                await response.write(chunk)
        elif content:
            await response.write(b"".join(content))
        if plan.cut_after is not None:
            _abort(request, reset=False)  # no terminal event: the client sees a truncated body
            return response
        if plan.stream_error_after is not None:
            await response.write(dialect.stream_error(call, first=not content))
        else:
            await response.write(events.closing)
        await response.write_eof()
        return response

    # ---- helpers ------------------------------------------------------------------------------
    def _error(
        self, dialect: Dialect, error: WireError, *, exhausted_for: float | None = None
    ) -> web.Response:
        self._stats.by_status[str(error.status)] += 1
        headers = dialect.headers(self._window.take(0, exhausted_for=exhausted_for))
        headers.update(error.headers)
        headers["content-type"] = dialect.json_type
        reason = "Overloaded" if error.status == 529 else None
        return web.Response(status=error.status, reason=reason, body=dumps(error.body), headers=headers)

    def _received(self, request: web.Request, body: Any) -> None:
        self._stats.total += 1
        self._stats.by_path[request.path] += 1
        headers = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = _redact(key, value) if key in _SECRET_HEADERS else value
        query = {k: REDACTED if k in _SECRET_QUERY else v for k, v in request.query.items()}
        self._log.append(
            {
                "time": time.time(),
                "method": request.method,
                "path": request.path,
                "query": query,
                "headers": headers,
                "body": body,
            }
        )


def _redact(name: str, value: str) -> str:
    """Hide a secret header's value; an authorization header keeps its scheme ("Bearer")."""
    scheme, _, rest = value.partition(" ")
    return f"{scheme} {REDACTED}" if name.endswith("authorization") and rest else REDACTED


def _json(status: int, obj: Any) -> web.Response:
    return web.Response(status=status, body=dumps(obj), content_type="application/json")


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _INVALID


def _loads_strict(raw: bytes) -> Any:
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _abort(request: web.Request, *, reset: bool) -> None:
    """Drop the connection: with a TCP RST (`reset`), or after flushing what was written (FIN)."""
    transport = request.transport
    if transport is None:
        return
    if not reset:
        transport.close()
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def run_simulator(host: str, port: int, settings: SimulatorSettings) -> None:
    """Serve the simulator until SIGINT/SIGTERM (blocking); uses uvloop when it is installed.

    Prints ``seawall simulate listening on http://HOST:PORT`` once it accepts connections.
    """

    async def serve() -> None:
        sim = Simulator(settings)
        await sim.start(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        print(f"seawall simulate listening on {sim.url}", flush=True)
        try:
            await stop.wait()
        finally:
            for sig in signals:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            await sim.stop()

    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve())
