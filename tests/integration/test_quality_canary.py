"""The builtin canary suite against embedded simulated providers, over real sockets, in each dialect.

Every probe goes through `seawall.Gateway` (library mode) to a `kind: simulated` provider speaking
OpenAI, Anthropic or Gemini, so the wire translations of tools, structured output and answers are
exercised too. A healthy simulator passes every probe; one with `wrong_answer_rate: 1` fails every
probe, in every category.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import seawall
from seawall.quality import ProbeAnswer, Verdict, builtin_suite

pytestmark = pytest.mark.integration

DIALECTS = ("openai", "anthropic", "gemini")


def config(tmp_path: Path) -> dict[str, Any]:
    providers, models = [], []
    for dialect in DIALECTS:
        for health, rate in (("ok", 0), ("wrong", 1)):
            name = f"{dialect}-{health}"
            providers.append(
                {
                    "name": name,
                    "kind": "simulated",
                    "dialect": dialect,
                    "simulate": {"seed": 5, "wrong_answer_rate": rate},
                }
            )
            models.append({"name": name, "targets": [{"provider": name, "model": f"sim-{dialect}"}]})
    return {"providers": providers, "models": models, "traces": {"store": f"sqlite:///{tmp_path / 't.db'}"}}


async def run_suite(gw: seawall.Gateway, model: str) -> dict[str, Verdict]:
    verdicts = {}
    for probe in builtin_suite().probes:
        completion = await gw.chat(**probe.body(model))
        verdicts[probe.id] = probe.verify(ProbeAnswer.from_completion(completion))
    return verdicts


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_the_builtin_suite_passes_on_a_healthy_simulator_and_fails_on_a_wrong_one(
    tmp_path: Path, dialect: str
) -> None:
    probes = {p.id: p for p in builtin_suite().probes}
    async with seawall.Gateway.from_config(config(tmp_path)) as gw:
        healthy = await run_suite(gw, f"{dialect}-ok")
        degraded = await run_suite(gw, f"{dialect}-wrong")
    failed = {pid: v.detail for pid, v in healthy.items() if not v.passed}
    assert failed == {}
    passed = {pid: v.detail for pid, v in degraded.items() if v.passed}
    assert passed == {}
    categories = Counter(probes[pid].category for pid, v in degraded.items() if not v.passed)
    assert categories == Counter(p.category for p in probes.values())
    assert all(v.detail and v.detail != "empty answer" for v in degraded.values())
