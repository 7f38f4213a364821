"""`seawall canary run`: one suite, once, against one target, gated against a saved baseline.

Every probe goes through a gateway built from the config (the target's provider, its dialect and
policies), as a probe: one attempt, its own deadline, traced and marked as a probe. The verdicts
are compared with a baseline run (`--baseline`, a file written by `--save-baseline`) by the
one-sided Fisher exact test of `seawall.quality._detect._gate` at level α (default 0.05): the run
fails when its pass rate is significantly worse. Probes that get no verdict (the attempt failed)
are reported and left out of the test: the gate judges answers, not availability.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

from seawall._gateway import Gateway
from seawall._quality import ask_probe, probe_route
from seawall._types import Target
from seawall.config import GatewayConfig
from seawall.errors import ConfigError
from seawall.quality._detect import PassCounts, RegressionGate, probe_breakdown
from seawall.quality._suite import Suite, resolve_suites
from seawall.trace._schema import ProbeNote, QualityNote

BASELINE_VERSION = 1


@dataclass(frozen=True, slots=True)
class ProbeResult:
    probe: str
    category: str | None
    passed: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class CanaryRun:
    suite: str
    target: str
    at: float
    results: tuple[ProbeResult, ...]

    @property
    def counts(self) -> PassCounts:
        judged = [r for r in self.results if r.passed is not None]
        passed = sum(1 for r in judged if r.passed)
        return PassCounts(passed, len(judged) - passed)

    def verdicts(self) -> dict[str, bool]:
        return {r.probe: r.passed for r in self.results if r.passed is not None}

    def to_json(self) -> bytes:
        c = self.counts
        return orjson.dumps(
            {
                "version": BASELINE_VERSION,
                "suite": self.suite,
                "target": self.target,
                "at": self.at,
                "passed": c.passed,
                "failed": c.failed,
                "no_verdict": sum(1 for r in self.results if r.passed is None),
                "results": {r.probe: r.passed for r in self.results},
            },
            option=orjson.OPT_INDENT_2,
        )


@dataclass(frozen=True, slots=True)
class Baseline:
    suite: str
    target: str
    counts: PassCounts
    verdicts: dict[str, bool]


def read_baseline(path: str | Path) -> Baseline:
    """A baseline file written by `--save-baseline`; a `ConfigError` naming the file and field."""
    try:
        data: Any = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not a baseline file (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION:
        raise ConfigError(f"{path}: not a baseline file written by `seawall canary run --save-baseline`")
    results = data.get("results")
    if not isinstance(results, dict) or not all(isinstance(v, bool) or v is None for v in results.values()):
        raise ConfigError(f"{path}: results: expected an object of probe id -> true/false/null")
    verdicts = {str(k): v for k, v in results.items() if v is not None}
    passed = sum(1 for v in verdicts.values() if v)
    return Baseline(
        str(data.get("suite", "")),
        str(data.get("target", "")),
        PassCounts(passed, len(verdicts) - passed),
        verdicts,
    )


def pick_suite(config: GatewayConfig, name: str) -> Suite:
    suites = resolve_suites(config.quality.suites if config.quality else {})
    if name not in suites:
        raise ConfigError(f"unknown suite {name!r} (expected one of: {', '.join(sorted(suites))})")
    return suites[name]


def pick_target(config: GatewayConfig, key: str) -> tuple[Target, int, int]:
    """`provider/model` as configured (the policies of the first model that names it), or any model
    of a configured provider (the global policies)."""
    provider, sep, model = key.partition("/")
    if not sep or not model:
        raise ConfigError(f"--target {key!r}: expected PROVIDER/MODEL, e.g. openai/gpt-4o-mini")
    for i, m in enumerate(config.models):
        for j, t in enumerate(m.targets):
            if t.provider == provider and t.model == model:
                return Target(provider, model), i, j
    names = [p.name for p in config.providers]
    if provider not in names:
        raise ConfigError(
            f"--target {key!r}: unknown provider {provider!r} (expected one of: {', '.join(names)})"
        )
    return Target(provider, model), -1, -1


async def run_canary(
    config: GatewayConfig, suite: Suite, key: str, *, concurrency: int = 4, source: str = ""
) -> CanaryRun:
    """Ask every probe of `suite` of target `key` once, `concurrency` at a time."""
    target, i, j = pick_target(config, key)
    quiet = config.model_copy(update={"quality": None})
    gateway = Gateway(quiet, source=source, probing=False)
    async with gateway:
        engine = gateway._engine()
        if target.key not in engine.probe_routes:
            policies = config.policies_for(i, j) if i >= 0 else config.policies_for(0, 0)
            timeout = config.quality.probe_timeout_s if config.quality else 30.0
            engine.add_probe_route(probe_route(target, policies, timeout))
        limit = asyncio.Semaphore(concurrency)

        async def one(probe: Any) -> ProbeResult:
            async with limit:
                asked = await ask_probe(gateway, target.key, probe)
            note = QualityNote(
                ProbeNote(suite.name, probe.id, target.key, asked.passed, asked.detail, "canary run")
            )
            for record in asked.records:
                gateway.record_probe(msgspec.structs.replace(record, quality=note))
            return ProbeResult(probe.id, probe.category, asked.passed, asked.detail)

        results = await asyncio.gather(*(one(p) for p in suite.probes))
    return CanaryRun(suite.name, target.key, time.time(), tuple(results))


def report(run: CanaryRun, baseline: Baseline | None, alpha: float) -> tuple[str, bool]:
    """The printed report and whether the gate failed."""
    c = run.counts
    lines = [f"suite {run.suite} against {run.target}: {c.passed} of {c.total} probes passed"]
    missing = [r for r in run.results if r.passed is None]
    if missing:
        lines.append(f"{len(missing)} probe(s) got no verdict (the attempt failed): left out of the test")
    failed = [r for r in run.results if r.passed is False]
    regressed_ids: set[str] = set()
    failed_gate = False
    if baseline is not None:
        gate = RegressionGate(alpha).judge(baseline.counts, c)
        breakdown = probe_breakdown(baseline.verdicts, run.verdicts())
        regressed_ids = set(breakdown.regressed)
        b = baseline.counts
        lines.append(
            f"baseline ({baseline.target or '?'}): {b.passed} of {b.total} passed; "
            f"one-sided Fisher exact test p = {gate.p_value:.4g} (alpha {alpha:g})"
        )
        if breakdown.regressed:
            lines.append(f"newly failing: {len(breakdown.regressed)}; newly passing: {len(breakdown.fixed)}")
        failed_gate = gate.regressed
        lines.append(
            "REGRESSION: the pass rate is significantly worse than the baseline's"
            if gate.regressed
            else "ok: not significantly worse than the baseline"
        )
    if failed or missing:
        lines.append("")
        width = max(len(r.probe) for r in (*failed, *missing))
        lines.append(f"{'probe':<{width}}  {'category':<11}  {'new':<3}  detail")
        for r in (*failed, *missing):
            new = "yes" if r.probe in regressed_ids else ""
            lines.append(f"{r.probe:<{width}}  {(r.category or '-'):<11}  {new:<3}  {r.detail}")
    return "\n".join(lines), failed_gate
