"""`OtlpExporter`: finished trace records become OpenTelemetry spans, sent to a collector, off the loop.

The event loop does one thing per request: `submit(record)` appends the finished, frozen record to
a bounded `deque` (or, when it is full, counts the record as dropped). It never blocks, takes no
lock and wakes nobody. A background thread drains the deque every `interval_s`: it turns each record
into spans with the OpenTelemetry SDK (`_mapping` says which; explicit start and end times, so
spans carry when things happened, not when they were exported), collects the ended spans and hands
each batch to the SDK's OTLP exporter (`opentelemetry-exporter-otlp-proto-http` or `-grpc`). That
thread does the batching a `BatchSpanProcessor` would, so there is one queue with one drop counter,
before any per-span work is spent on a request that cannot be exported anyway.

A collector that is down or slow stalls only that thread (the SDK exporter retries until
`timeout_s`); the queue fills and later records are dropped and counted, requests are not slowed.
Counters (`stats()`) feed `/metrics`.

The client's W3C `traceparent`/`tracestate` (kept in the record's headers) parent the request span;
a malformed one is ignored (the span starts a new trace). The SDK's sampler applies (default: parent
based, always on; `OTEL_TRACES_SAMPLER` changes it). It decides before anything else is built, so a
request it drops costs one unrecorded span: no attributes, no attempt spans, no export.

Must not: touch OpenTelemetry's global state (tracer provider, propagator), log collector headers
(they are secrets), or block `submit`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import seawall
from seawall._drain import wait_handled
from seawall.config._model import OtlpConfig
from seawall.otel._mapping import attempt_spans, epoch_ns, parent_carrier, request_name, request_span
from seawall.trace._schema import TraceRecord

log = logging.getLogger("seawall.otel")

BATCH_RECORDS = 256
"""Records turned into spans before one export (a request is 1 + attempts spans)."""


class _Collect(SpanProcessor):
    """Keeps the spans the exporter thread ends, for its next batch (only that thread uses it)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)

    def take(self) -> list[ReadableSpan]:
        spans, self.spans = self.spans, []
        return spans


def build_span_exporter(config: OtlpConfig) -> SpanExporter:
    """The SDK's OTLP exporter for `config.protocol`, sending `config.headers` with every export."""
    headers = {name.lower(): value.get_secret_value() for name, value in config.headers.items()} or None
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=config.url(), headers=headers, timeout=config.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=config.url(), headers=headers, timeout=config.timeout_s)


class OtlpExporter:
    """Exports finished requests as spans; see the module docstring.

    Threading: only the event-loop thread calls `submit()` and writes `accepted`/`dropped`; only the
    exporter thread touches the SDK and writes the other counters. They share a `deque` (thread-safe
    `append`/`popleft`), so the hot path takes no lock.
    """

    def __init__(
        self,
        config: OtlpConfig,
        *,
        span_exporter: SpanExporter | None = None,
        interval_s: float = 0.05,
    ) -> None:
        """`span_exporter` replaces the OTLP exporter `config` describes (tests)."""
        self.config = config
        self._capacity = config.queue_size
        self._interval = interval_s
        self._queue: deque[TraceRecord] = deque()
        self._exporter = span_exporter if span_exporter is not None else build_span_exporter(config)
        self._collect = _Collect()
        self._provider = TracerProvider(
            resource=Resource.create(
                {"service.name": config.service_name, "service.version": seawall.__version__}
            ),
            shutdown_on_exit=False,
        )
        self._provider.add_span_processor(self._collect)
        self._tracer = self._provider.get_tracer("seawall", seawall.__version__)
        self._propagator = TraceContextTextMapPropagator()
        url = urlsplit(config.url())
        self._where = f"{url.hostname}:{url.port}" if url.port else str(url.hostname)  # never credentials
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stop = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._exporter_closed = False
        self._close_lock = threading.Lock()
        self._failing = False
        self.accepted = 0  # event-loop thread: records queued
        self.dropped = 0  # event-loop thread: records refused, the queue was full
        self.handled = 0  # exporter thread: records taken off the queue (spans made, or not)
        self.discarded = 0  # exporter thread: records left unexported at close (its timeout passed)
        self.exported = 0  # exporter thread: spans the collector accepted
        self.failed = 0  # exporter thread: spans in exports that failed
        self.broken = 0  # exporter thread: records that could not be made into spans (a bug)

    # -- hot path (event loop) -----------------------------------------------------------------------
    def submit(self, record: TraceRecord) -> None:
        """Queue one finished record for export, or count it dropped when the queue is full."""
        queue = self._queue
        if len(queue) >= self._capacity:
            self.dropped += 1
            return
        queue.append(record)
        self.accepted += 1

    def stats(self) -> dict[str, int]:
        """For metrics: spans exported and failed, records dropped, records waiting."""
        return {
            "exported": self.exported,
            "failed": self.failed,
            "dropped": self.dropped + self.discarded + self.broken,
            "backlog": max(0, self.accepted - self.handled),
        }

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="seawall-otlp-exporter", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until every record accepted so far is exported or given up (tests, shutdown)."""
        return wait_handled(
            self._done,
            self._wake,
            lambda: self.handled,
            self.accepted,
            running=lambda: self._thread is not None,
            timeout_s=timeout,
        )

    def close(self, timeout: float | None = None) -> None:
        """Export what is queued (for at most `timeout`, default the config's `timeout_s`), then shut
        the SDK exporter down. Records still queued after that are counted as dropped."""
        thread = self._thread
        if thread is None:
            return
        wait = self.config.timeout_s if timeout is None else timeout
        self._deadline = time.monotonic() + wait
        self._stop = True
        self._wake.set()
        thread.join(wait)
        if thread.is_alive():  # an export is stuck retrying: abort it, then let the thread finish
            self._close_exporter()
            thread.join(wait)
        self._thread = None
        self._provider.shutdown()

    # -- exporter thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._interval)
                self._wake.clear()
                stop = self._stop
                self._drain()
                if stop:
                    return
        finally:
            self._close_exporter()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            taken = 0
            while queue and taken < BATCH_RECORDS:
                record = queue.popleft()
                taken += 1
                if self._stop and time.monotonic() >= self._deadline:
                    self.discarded += 1
                    continue
                try:
                    self._emit(record)
                except Exception:  # a bug: one request's spans are lost, the thread goes on
                    if not self.broken:
                        log.exception("trace %s could not be made into spans", record.id)
                    self.broken += 1
                # Hand the GIL back between records: the event loop may be waiting for it, and
                # would otherwise wait up to the interpreter's switch interval (5 ms).
                time.sleep(0)
            spans = self._collect.take()
            if spans:
                self._export(spans)
            with self._done:
                self.handled += taken
                self._done.notify_all()

    def _emit(self, record: TraceRecord) -> None:
        """One record's spans, ended (into `_collect`): the request, then its attempts inside it."""
        tracer = self._tracer
        carrier = parent_carrier(record)
        parent = self._propagator.extract(carrier) if carrier is not None else None
        # The sampler decides first (it sees the name and the parent, not the attributes), so a
        # request it drops costs no mapping, no attempt spans and no export.
        span = tracer.start_span(
            request_name(record), context=parent, kind=SpanKind.SERVER, start_time=epoch_ns(record.ts)
        )
        if not span.is_recording():
            return
        request = request_span(record)
        span.set_attributes(request.attributes)
        for name, at, attributes in request.events:
            span.add_event(name, attributes, at)
        if request.error is not None:
            span.set_status(Status(StatusCode.ERROR, request.error))
        inside = set_span_in_context(span)
        for attempt in attempt_spans(record, request):
            child = tracer.start_span(
                attempt.name,
                context=inside,
                kind=SpanKind.CLIENT,
                attributes=attempt.attributes,
                start_time=attempt.start_ns,
            )
            if attempt.error is not None:
                child.set_status(Status(StatusCode.ERROR, attempt.error))
            child.end(attempt.end_ns)
        span.end(request.end_ns)

    def _export(self, spans: Sequence[ReadableSpan]) -> None:
        try:
            ok = self._exporter.export(spans) is SpanExportResult.SUCCESS
        except Exception:
            log.exception("OTLP export to %s raised", self._where)
            ok = False
        if ok:
            self.exported += len(spans)
            if self._failing:
                self._failing = False
                log.warning("OTLP export to %s works again", self._where)
        else:
            self.failed += len(spans)
            if not self._failing:
                self._failing = True
                log.warning(
                    "OTLP export to %s failed; its spans are lost (seawall_otlp_spans_failed_total)",
                    self._where,
                )

    def _close_exporter(self) -> None:
        with self._close_lock:
            if self._exporter_closed:
                return
            self._exporter_closed = True
        with contextlib.suppress(Exception):
            self._exporter.shutdown()


__all__ = ["BATCH_RECORDS", "OtlpExporter", "build_span_exporter"]
