"""What the OpenTelemetry export (`traces.otlp`) costs per request, on the event loop and off it.

    .venv/bin/python benchmarks/otlp_cost.py                  # JSON requests and 13-event streams
    .venv/bin/python benchmarks/otlp_cost.py --requests 20000

1. The event loop: `OtlpExporter.submit(record)` (what `Gateway._finish` adds), timed in a loop, for
   a record the queue takes and one it drops (full queue).
2. The exporter thread: making one request's spans with the SDK (`_emit`) and exporting them
   (protobuf encoding and an HTTP POST to a collector, per batch of 256 requests), CPU per request,
   run on this thread.
3. Both together in `benchmarks/inprocess.py`'s harness (the ASGI app called directly, stub
   upstream, no trace store): CPU per request of the whole process (all threads), OTLP off and on.

The collector is a separate process (a minimal OTLP/HTTP sink on 127.0.0.1 that answers 200), so its
CPU is not counted. Records are real ones, captured from the harness's requests.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from typing import Any

import inprocess  # benchmarks/inprocess.py: this script runs from benchmarks/

from seawall._gateway import Gateway
from seawall.config._model import OtlpConfig
from seawall.otel._exporter import BATCH_RECORDS, OtlpExporter
from seawall.server import SeawallApp
from seawall.trace._schema import TraceRecord

SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _sink() -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.02)
    raise RuntimeError("the sink did not start")


async def _run(mode: str, requests: int, collector: str | None) -> tuple[float, list[TraceRecord]]:
    """`inprocess.py`'s harness: CPU µs per request of the whole process, and the records made."""
    traces: dict[str, Any] = {"store": "none"}
    if collector is not None:
        traces["otlp"] = {"endpoint": collector, "queue_size": 100_000}
    config = {
        "providers": [{"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}],
        "models": [{"name": "gpt-4o-mini", "targets": [{"provider": "up", "model": "gpt-4o-mini"}]}],
        "traces": traces,
    }
    gateway = Gateway.from_config(config)
    await gateway.start()
    assert gateway.engine is not None
    records: list[TraceRecord] = []
    finish = gateway._finish

    def keep(record: TraceRecord) -> None:
        if len(records) < 2 * BATCH_RECORDS:
            records.append(record)
        finish(record)

    gateway._finish = keep  # type: ignore[method-assign]
    body = inprocess.BODY
    if mode == "json":
        gateway.engine.providers["up"] = inprocess.StubProvider()  # type: ignore[assignment]
    else:
        gateway.engine.providers["up"] = inprocess.stub_openai_provider()
        body = body[:-1] + b',"stream":true,"stream_options":{"include_usage":true}}'
    app = SeawallApp(gateway)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": headers,
        "query_string": b"",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(requests // 10):
        await app(scope, receive, send)
    if gateway.otlp is not None:
        assert gateway.otlp.flush(120)
    cpu = time.process_time()
    for _ in range(requests):
        await app(scope, receive, send)
    if gateway.otlp is not None:
        assert gateway.otlp.flush(120)  # the exporter thread's work counts too
        assert gateway.otlp.stats()["failed"] == 0
    cost = (time.process_time() - cpu) / requests * 1e6
    await gateway.aclose()
    return cost, records


def _loop_cost(record: TraceRecord, n: int = 200_000) -> tuple[float, float]:
    """µs per `submit`: a record the queue takes, and one it drops."""
    config = OtlpConfig(endpoint="http://127.0.0.1:9", queue_size=1000)
    exporter = OtlpExporter(config)  # not started: nothing drains
    queue = exporter._queue
    taken = 0.0
    for _ in range(n // 1000):
        queue.clear()
        start = time.perf_counter()
        for _ in range(1000):
            exporter.submit(record)
        taken += time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        exporter.submit(record)  # full: dropped
    dropped = time.perf_counter() - start
    return taken / n * 1e6, dropped / n * 1e6


def _thread_cost(records: list[TraceRecord], collector: str, rounds: int) -> tuple[float, float]:
    """CPU µs per request of the exporter thread's work, run here: making spans, and exporting them."""
    exporter = OtlpExporter(OtlpConfig(endpoint=collector))
    emit = export = 0.0
    batch = records[:BATCH_RECORDS]
    for _ in range(rounds):
        start = time.thread_time()
        for record in batch:
            exporter._emit(record)
        spans = exporter._collect.take()
        middle = time.thread_time()
        exporter._export(spans)
        emit += middle - start
        export += time.thread_time() - middle
    assert exporter.failed == 0
    n = rounds * len(batch)
    return emit / n * 1e6, export / n * 1e6


def _unsampled_cost(record: TraceRecord, n: int = 20000) -> float:
    """CPU µs per request the exporter thread spends on a request its sampler drops."""
    os.environ["OTEL_TRACES_SAMPLER"] = "always_off"
    try:
        exporter = OtlpExporter(OtlpConfig(endpoint="http://127.0.0.1:9"))
    finally:
        del os.environ["OTEL_TRACES_SAMPLER"]
    start = time.thread_time()
    for _ in range(n):
        exporter._emit(record)
    assert not exporter._collect.spans
    return (time.thread_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10000)
    args = parser.parse_args()
    import uvloop

    sink, collector = _sink()
    try:
        for mode in ("json", "stream"):
            off, _ = uvloop.run(_run(mode, args.requests, None))
            on, records = uvloop.run(_run(mode, args.requests, collector))
            taken, dropped = _loop_cost(records[-1])
            emit, export = _thread_cost(records, collector, max(1, args.requests // BATCH_RECORDS))
            unsampled = _unsampled_cost(records[-1])
            spans = 1 + len(records[-1].attempts)
            print(f"{mode} requests ({spans} spans each), CPU µs per request:")
            print(f"  event loop, submit: {taken:.3f} (queue full: {dropped:.3f})")
            print(f"  exporter thread: spans {emit:.1f} + export {export:.1f}; sampled out: {unsampled:.1f}")
            print(f"  whole process: {off:.1f} OTLP off, {on:.1f} on (+{on - off:.1f})")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
