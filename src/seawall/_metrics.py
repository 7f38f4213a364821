"""Prometheus metrics, aggregated in plain dicts on the hot path and rendered only when scraped.

Two observers feed it: `attempt_ended(outcome)` receives every upstream attempt's outcome (the
same value the resilience state and the trace receive), and `observe(record)` every finished trace
record, so metrics and traces can never disagree. Per-target resilience state (breakers, budgets,
limits) is read at scrape time through `target_state`.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from seawall._types import AttemptOutcome
from seawall.trace._schema import TraceRecord

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
        return out


class Metrics:
    """One gateway's metrics. Not thread-safe by design: the event loop is the only writer."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self.attempts: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.duration: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.ttft: defaultdict[str, _Histogram] = defaultdict(_Histogram)
        self.fallbacks: defaultdict[str, int] = defaultdict(int)
        self.target_state: Callable[[], Iterator[tuple[str, dict[str, float]]]] | None = None
        self.transitions: Callable[[], dict[tuple[str, str], int]] | None = None
        self.trace_state: Callable[[], dict[str, int]] | None = None
        self.otlp_state: Callable[[], dict[str, int]] | None = None
        self.retention_state: Callable[[], dict[str, int]] | None = None
        self.quality_state: Callable[[], dict[str, Any]] | None = None
        self.cache_state: Callable[[], dict[str, Any]] | None = None
        self.context_state: Callable[[], dict[str, Any]] | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        """Observer: one upstream attempt ended."""
        error = outcome.error
        self.attempts[(outcome.target.key, "ok" if error is None else error.error_class.value)] += 1

    def observe(self, record: TraceRecord) -> None:
        """A request is over (its trace record is final)."""
        model = record.model
        self.requests[(model, str(record.status), "stream" if record.stream else "json")] += 1
        self.duration[model].observe(record.duration_ms / 1000.0)
        if record.ttft_ms is not None:
            self.ttft[model].observe(record.ttft_ms / 1000.0)
        attempts = record.attempts
        if len(attempts) > 1 and len({(a.provider, a.model) for a in attempts}) > 1:
            self.fallbacks[model] += 1

    def collect(self) -> Iterator[Any]:
        req = CounterMetricFamily(
            "seawall_requests",
            "Client requests by model, HTTP status and kind",
            labels=["model", "status", "kind"],
        )
        for (model, status, kind), n in self.requests.items():
            req.add_metric([model, status, kind], n)
        yield req
        att = CounterMetricFamily(
            "seawall_upstream_attempts",
            "Upstream attempts by target and outcome",
            labels=["target", "outcome"],
        )
        for (target, outcome), n in self.attempts.items():
            att.add_metric([target, outcome], n)
        yield att
        fb = CounterMetricFamily(
            "seawall_fallbacks", "Requests that used more than one target", labels=["model"]
        )
        for model, n in self.fallbacks.items():
            fb.add_metric([model], n)
        yield fb
        for name, doc, data in (
            ("seawall_request_duration_seconds", "Request duration as seen by Seawall", self.duration),
            ("seawall_time_to_first_token_seconds", "Streams: time until the first content chunk", self.ttft),
        ):
            hist = HistogramMetricFamily(name, doc, labels=["model"])
            for model, h in data.items():
                hist.add_metric([model], h.buckets(), h.sum)
            yield hist
        if self.transitions is not None:
            tr = CounterMetricFamily(
                "seawall_breaker_transitions",
                "Circuit breaker state changes by target and new state",
                labels=["target", "state"],
            )
            for (target, state), n in self.transitions().items():
                tr.add_metric([target, state], n)
            yield tr
        if self.target_state is not None:
            gauges: dict[str, GaugeMetricFamily] = {}
            for target, values in self.target_state():
                for key, value in values.items():
                    gauge = gauges.get(key)
                    if gauge is None:
                        gauge = gauges[key] = GaugeMetricFamily(
                            f"seawall_target_{key}", f"Per-target {key}", labels=["target"]
                        )
                    gauge.add_metric([target], value)
            yield from gauges.values()
        if self.trace_state is not None:
            trace = self.trace_state()
            yield GaugeMetricFamily(
                "seawall_trace_backlog",
                "Trace records journaled but not yet in the trace store (the writer's backlog)",
                value=trace["backlog"],
            )
            yield CounterMetricFamily(
                "seawall_traces_recorded", "Trace records accepted by the recorder", value=trace["recorded"]
            )
            yield CounterMetricFamily(
                "seawall_trace_store_failures",
                "Trace store batch writes that failed after retries (their records stay in the journal)",
                value=trace["failed_batches"],
            )
        if self.retention_state is not None:
            retention = self.retention_state()
            yield CounterMetricFamily(
                "seawall_trace_retention_deleted",
                "Traces deleted by retention (traces.retention: max_age, max_bytes)",
                value=retention["deleted"],
            )
            yield GaugeMetricFamily(
                "seawall_trace_store_bytes",
                "Bytes the trace store held at the last retention pass (what max_bytes bounds)",
                value=retention["store_bytes"],
            )
        if self.otlp_state is not None:
            otlp = self.otlp_state()
            yield CounterMetricFamily(
                "seawall_otlp_spans_exported", "Spans an OTLP collector accepted", value=otlp["exported"]
            )
            yield CounterMetricFamily(
                "seawall_otlp_spans_failed",
                "Spans in OTLP exports that failed (collector unreachable, slow or refusing them)",
                value=otlp["failed"],
            )
            yield CounterMetricFamily(
                "seawall_otlp_requests_dropped",
                "Finished requests never made into spans: the OTLP export queue was full (or still held "
                "them at shutdown)",
                value=otlp["dropped"],
            )
            yield GaugeMetricFamily(
                "seawall_otlp_backlog",
                "Finished requests waiting to be exported as spans",
                value=otlp["backlog"],
            )

        if self.quality_state is not None:
            yield from _quality_families(self.quality_state())
        if self.cache_state is not None:
            yield from _cache_families(self.cache_state())
        if self.context_state is not None:
            yield from _context_families(self.context_state())

    def render(self) -> bytes:
        return generate_latest(self.registry)


_QUALITY_STATES = ("warming_up", "healthy", "degraded", "failing")


def _quality_families(q: dict[str, Any]) -> Iterator[Any]:
    """Canary probes, quality states and transitions, model-identity changes (docs/quality.md)."""
    probes = CounterMetricFamily(
        "seawall_quality_probes",
        "Canary probes by target, suite and result (passed, failed, no_verdict: the attempt failed)",
        labels=["target", "suite", "result"],
    )
    for (target, suite, result), n in sorted(q["probes"].items()):
        probes.add_metric([target, suite, result], n)
    yield probes
    state = GaugeMetricFamily(
        "seawall_quality_state",
        "1 for the quality state each watched target is in",
        labels=["target", "state"],
    )
    for target, current in sorted(q["states"].items()):
        for name in _QUALITY_STATES:
            state.add_metric([target, name], 1.0 if name == current else 0.0)
    yield state
    moves = CounterMetricFamily(
        "seawall_quality_transitions",
        "Quality state changes by target and new state",
        labels=["target", "state"],
    )
    for (target, new), n in sorted(q["transitions"].items()):
        moves.add_metric([target, new], n)
    yield moves
    changes = CounterMetricFamily(
        "seawall_model_identity_changes",
        "Answers from a model identity (response model, system_fingerprint, service tier) not seen recently",
        labels=["target"],
    )
    for target, n in sorted(q["identity_changes"].items()):
        changes.add_metric([target], n)
    yield changes
    online = q.get("online")
    if online is not None:
        feed = CounterMetricFamily(
            "seawall_quality_online_records",
            "Client answers of watched models by what became of them for the online signals (processed; "
            "capped: over online_max_per_s; skipped by online_sample; dropped: the queue was full; errors)",
            labels=["outcome"],
        )
        for outcome in ("processed", "capped", "skipped", "dropped", "errors"):
            feed.add_metric([outcome], online.get(outcome, 0))
        yield feed


def _cache_families(c: dict[str, Any]) -> Iterator[Any]:
    """The response cache (docs/cache.md): decisions per model, what it holds, what it evicted."""
    decisions = CounterMetricFamily(
        "seawall_cache_requests",
        "Requests of cached models by the cache's decision (hit, miss, bypass, uncacheable)",
        labels=["model", "result"],
    )
    for (model, result), n in sorted(c["requests"].items()):
        decisions.add_metric([model, result], n)
    yield decisions
    yield CounterMetricFamily(
        "seawall_cache_stored", "Answers stored in the response cache", value=c["stored"]
    )
    backend = c["backend"]
    yield GaugeMetricFamily(
        "seawall_cache_entries", "Answers the response cache holds", value=backend.get("entries", 0)
    )
    yield GaugeMetricFamily(
        "seawall_cache_bytes", "Bytes the response cache holds", value=backend.get("bytes", 0)
    )
    yield CounterMetricFamily(
        "seawall_cache_evictions", "Entries evicted by the cache's bounds", value=backend.get("evictions", 0)
    )


def _context_families(c: dict[str, Any]) -> Iterator[Any]:
    """Context consistency (docs/context.md): binding outcomes, conflicts, stale reads, snapshots."""
    outcomes = CounterMetricFamily(
        "seawall_context_requests",
        "Requests naming a context, by outcome (bound, same, read, unbound, conflict, stale, "
        "unknown_snapshot)",
        labels=["model", "outcome"],
    )
    for (model, outcome), n in sorted(c["requests"].items()):
        outcomes.add_metric([model, outcome], n)
    yield outcomes
    yield GaugeMetricFamily("seawall_context_snapshots", "Retrieval snapshots stored", value=c["snapshots"])
    yield GaugeMetricFamily(
        "seawall_context_snapshot_bytes", "Bytes of stored snapshots", value=c["snapshot_bytes"]
    )
