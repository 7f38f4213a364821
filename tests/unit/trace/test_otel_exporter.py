"""`OtlpExporter` with an in-memory span exporter: the bounded queue, parenting, failures, shutdown,
and that nothing of OpenTelemetry is imported unless OTLP is configured."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from seawall.config._model import OtlpConfig
from seawall.errors import ConfigError
from seawall.otel import _exporter, open_exporter
from seawall.otel._exporter import OtlpExporter, build_span_exporter
from seawall.trace._schema import RequestPart, TraceRecord
from tests.unit.trace.records import attempt, record

CONFIG = OtlpConfig(endpoint="http://127.0.0.1:9/", queue_size=4, timeout_s=5)
PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"


def _with_headers(trace_id: str, **headers: str) -> TraceRecord:
    return record(trace_id, request=RequestPart(headers=headers))


def _exported(records: Sequence[TraceRecord]) -> tuple[OtlpExporter, list[ReadableSpan]]:
    memory = InMemorySpanExporter()
    exporter = OtlpExporter(CONFIG.model_copy(update={"queue_size": 100}), span_exporter=memory)
    exporter.start()
    for r in records:
        exporter.submit(r)
    assert exporter.flush(10)
    exporter.close()
    return exporter, list(memory.get_finished_spans())


def test_a_request_and_its_attempts() -> None:
    rec = record(
        "t-1",
        duration_ms=30.0,
        attempts=(
            attempt(0, status=500, error_class="server_error", error="boom"),
            attempt(1, started_ms=5.0),
        ),
    )
    exporter, spans = _exported([rec])
    first, second, request = spans  # children end first
    assert (request.name, request.kind, request.parent) == ("chat m", SpanKind.SERVER, None)
    assert request.resource.attributes["service.name"] == "seawall"
    assert (
        request.start_time == 1_700_000_000_000_000_000
        and request.end_time == request.start_time + 30_000_000
    )
    for child in (first, second):
        assert child.kind is SpanKind.CLIENT and child.parent is not None
        assert child.parent.span_id == request.context.span_id
        assert child.context.trace_id == request.context.trace_id
    assert first.status.status_code is StatusCode.ERROR and first.status.description == "boom"
    assert second.status.status_code is StatusCode.UNSET
    assert second.start_time == request.start_time + 5_000_000
    assert exporter.stats() == {"exported": 3, "failed": 0, "dropped": 0, "backlog": 0}


def test_incoming_traceparent_parents_the_request() -> None:
    parented = _with_headers("a", traceparent=f"00-{PARENT_TRACE}-{PARENT_SPAN}-01", tracestate="v=1")
    malformed = _with_headers("b", traceparent="00-not-a-trace-context-01")
    unsampled = _with_headers("c", traceparent=f"00-{PARENT_TRACE}-{PARENT_SPAN}-00")
    _, spans = _exported([parented, malformed, unsampled])
    by_id = {s.attributes["seawall.trace_id"] if s.attributes else "": s for s in spans}
    assert set(by_id) == {"a", "b"}  # the caller sampled "c" out: no spans (parent-based sampling)
    a = by_id["a"]
    assert f"{a.context.trace_id:032x}" == PARENT_TRACE
    assert a.parent is not None and f"{a.parent.span_id:016x}" == PARENT_SPAN and a.parent.is_remote
    assert a.context.trace_state.get("v") == "1"
    b = by_id["b"]  # ignored: a new trace
    assert b.parent is None and f"{b.context.trace_id:032x}" != PARENT_TRACE


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    exporter = OtlpExporter(CONFIG, span_exporter=InMemorySpanExporter())  # not started: nothing drains
    for i in range(7):
        exporter.submit(record(f"t{i}"))
    assert (exporter.accepted, exporter.dropped) == (4, 3)
    assert exporter.stats() == {"exported": 0, "failed": 0, "dropped": 3, "backlog": 4}
    assert not exporter.flush(0.01)  # no thread: never handled


class _Failing(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


def test_failed_exports_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    exporter = OtlpExporter(CONFIG, span_exporter=_Failing())
    exporter.start()
    for i in range(2):
        exporter.submit(record(f"t{i}", attempts=(attempt(0),)))
        assert exporter.flush(10)
    exporter.close()
    assert exporter.stats() == {"exported": 0, "failed": 4, "dropped": 0, "backlog": 0}
    warnings = [r for r in caplog.records if r.name == "seawall.otel"]
    assert len(warnings) == 1 and "127.0.0.1:9 failed" in warnings[0].getMessage()


def test_a_record_that_cannot_be_mapped_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _exporter.request_span

    def request_span(rec: TraceRecord) -> object:
        if rec.id == "bad":
            raise ValueError("a bug")
        return real(rec)

    monkeypatch.setattr(_exporter, "request_span", request_span)
    exporter, spans = _exported([record("bad"), record("good")])
    assert [s.attributes["seawall.trace_id"] if s.attributes else None for s in spans] == ["good"]
    assert exporter.stats()["dropped"] == 1


class _Stuck(SpanExporter):
    """An export that hangs until the exporter is shut down (a collector that never answers)."""

    def __init__(self) -> None:
        self.exporting = threading.Event()
        self.released = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exporting.set()
        self.released.wait(30)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.released.set()


def test_close_aborts_a_stuck_export_and_counts_what_was_left() -> None:
    stuck = _Stuck()
    exporter = OtlpExporter(CONFIG, span_exporter=stuck)
    exporter.start()
    exporter.submit(record("first"))
    assert stuck.exporting.wait(10)
    for i in range(6):  # meanwhile the queue fills: 4 wait, 2 are dropped at once
        exporter.submit(record(f"t{i}"))
    assert exporter.dropped == 2
    exporter.close(timeout=0.05)  # waits, then shuts the stuck exporter down
    assert stuck.released.is_set()
    stats = exporter.stats()
    assert stats["failed"] == 1 and stats["backlog"] == 0
    assert stats["dropped"] == 2 + 4  # the queued four were past the close deadline


def test_build_span_exporter_per_protocol() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    http = build_span_exporter(OtlpConfig(endpoint="http://127.0.0.1:4318"))
    grpc = build_span_exporter(OtlpConfig(endpoint="http://127.0.0.1:4317", protocol="grpc"))
    assert isinstance(http, Http) and isinstance(grpc, Grpc)
    http.shutdown()
    grpc.shutdown()


def test_missing_sdk_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "seawall.otel._exporter", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'seawall\[otlp\]'"):
        open_exporter(CONFIG)


def test_nothing_of_opentelemetry_is_imported_unless_configured() -> None:
    code = """
import asyncio, sys
import seawall

async def main():
    config = {"providers": [{"name": "sim", "kind": "simulated"}],
              "models": [{"name": "m", "targets": [{"provider": "sim", "model": "x"}]}],
              "traces": {"store": "none"}}
    async with seawall.Gateway.from_config(config) as gw:
        await gw.chat(model="m", messages=[{"role": "user", "content": "hi"}])
    print(sorted({m.split(".")[0] for m in sys.modules if m.startswith(("opentelemetry", "grpc"))}))

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_logs_never_name_the_headers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = OtlpConfig.model_validate(
        {
            "endpoint": "http://127.0.0.1:9",
            "headers": {"authorization": "Bearer tok-SECRET-9"},
            "timeout_s": 0.5,
        }
    )
    exporter = OtlpExporter(config)  # the real HTTP exporter; nothing listens on port 9
    exporter.start()
    exporter.submit(record("t"))
    assert exporter.flush(10)
    exporter.close()
    assert exporter.stats()["failed"] == 1
    assert caplog.records and all("tok-SECRET-9" not in r.getMessage() for r in caplog.records)
