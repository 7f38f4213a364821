"""In-test OTLP collectors on loopback sockets: OTLP/HTTP (a threading HTTP server) and OTLP/gRPC.

Both decode every `ExportTraceServiceRequest` with `opentelemetry-proto` and keep the headers it came
with, so tests check what actually crossed the wire. `Span` is a received span in plain Python.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

KINDS = {trace_pb2.Span.SPAN_KIND_SERVER: "server", trace_pb2.Span.SPAN_KIND_CLIENT: "client"}


def _value(value: common_pb2.AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    return getattr(value, which) if which else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class Span:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status: str
    status_message: str
    events: list[tuple[str, int, dict[str, Any]]]
    resource: dict[str, Any] = field(default_factory=dict)


def _span(s: trace_pb2.Span, resource: dict[str, Any]) -> Span:
    return Span(
        s.name,
        KINDS.get(s.kind, str(s.kind)),
        s.trace_id.hex(),
        s.span_id.hex(),
        s.parent_span_id.hex(),
        s.start_time_unix_nano,
        s.end_time_unix_nano,
        _attributes(s.attributes),
        trace_pb2.Status.StatusCode.Name(s.status.code),
        s.status.message,
        [(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in s.events],
        resource,
    )


class _Collector:
    """What both receivers share: decoded exports, their headers, and waiting for spans."""

    def __init__(self) -> None:
        self.exports: list[tuple[dict[str, str], trace_service_pb2.ExportTraceServiceRequest]] = []
        self._changed = threading.Condition()

    def received(self, headers: dict[str, str], body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._changed:
            self.exports.append((headers, request))
            self._changed.notify_all()

    def spans(self) -> list[Span]:
        with self._changed:
            exports = list(self.exports)
        return [
            _span(s, _attributes(rs.resource.attributes))
            for _headers, request in exports
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def wait_spans(self, count: int, timeout: float = 10.0) -> list[Span]:
        """The spans received once there are at least `count` (or what there is after `timeout`)."""
        with self._changed:
            self._changed.wait_for(lambda: self._count() >= count, timeout)
        return self.spans()

    def _count(self) -> int:
        return sum(len(s.spans) for _h, r in self.exports for rs in r.resource_spans for s in rs.scope_spans)


class OtlpHttpReceiver(_Collector):
    """An OTLP/HTTP collector on 127.0.0.1. `hold`: each export waits for this event before it is
    answered (a collector that hangs); `status`: what it answers."""

    def __init__(self, *, status: int = 200, hold: threading.Event | None = None) -> None:
        super().__init__()
        self.status = status
        self.hold = hold
        self.arrived = threading.Event()  # set when the first export arrives (before `hold`)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                encoding = (self.headers.get("content-encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                if receiver.status == 200 and self.path == "/v1/traces":
                    receiver.received(headers, body)
                    answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                    self.send_response(200)
                else:
                    answer = b""
                    self.send_response(receiver.status if receiver.status != 200 else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()


class OtlpGrpcReceiver(_Collector):
    """An OTLP/gRPC collector (the `TraceService`) on 127.0.0.1, plain text."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(
                self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
            ) -> trace_service_pb2.ExportTraceServiceResponse:
                headers = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
                receiver.received(headers, request.SerializeToString())
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.url = f"http://127.0.0.1:{self.port}"
        self._server.start()

    def close(self) -> None:
        self._server.stop(grace=None)
