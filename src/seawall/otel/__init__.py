"""OpenTelemetry export: every finished request becomes spans sent to an OTLP collector.

A request is one `SERVER` span with one `CLIENT` child span per upstream attempt, built from the
request's finished `TraceRecord` (never from live objects) with the GenAI semantic conventions;
docs/traces.md#opentelemetry has the attribute table.

- `_answer`: what an answer body says about itself (response id, finish reasons), per dialect;
- `_mapping`: a record → plain span descriptions (names, times, attributes): no OpenTelemetry here;
- `_exporter`: `OtlpExporter`, the bounded queue, the background thread and the SDK's exporter.

Only `_exporter` imports OpenTelemetry, and the gateway imports it only when `traces.otlp` is
configured: `import seawall` and a gateway without OTLP never load the SDK. Nothing here may run
on the event loop except `OtlpExporter.submit` (one append).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seawall.errors import ConfigError

if TYPE_CHECKING:
    from seawall.config._model import OtlpConfig
    from seawall.otel._exporter import OtlpExporter


def open_exporter(config: OtlpConfig) -> OtlpExporter:
    """The exporter `traces.otlp` describes (not started). Imports OpenTelemetry: call it only when
    OTLP is configured. Raises `ConfigError` when the SDK is not installed."""
    try:
        from seawall.otel._exporter import OtlpExporter
    except ImportError as exc:
        raise ConfigError(
            f"traces.otlp: the OpenTelemetry SDK is not installed ({exc.name}); "
            "install Seawall with its OTLP extra: pip install 'seawall[otlp]'"
        ) from None
    return OtlpExporter(config)


__all__ = ["open_exporter"]
