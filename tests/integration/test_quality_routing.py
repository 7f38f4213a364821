"""Quality detection end to end: canary probes over real sockets to simulated providers, detectors,
routing, identity changes and batteries, the admin view, metrics, traces, webhook, and the gate.

The simulators are switched at run time through their control plane (`/_control`), the way an
operator's test would switch a real provider's behaviour: the gateway sees only the wire.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

import seawall
from seawall.config import validate
from seawall.quality._detect import Health
from seawall.replay import replay
from seawall.trace import open_store
from tests.integration._procs import GatewayProc, Sim, http_json

pytestmark = pytest.mark.integration

ALPHA, BETA = "alpha/alpha-model", "beta/beta-model"
WAIT_S = 60.0


def config(tmp_path: Path, policy: str = "exclude", **quality: Any) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "alpha", "kind": "simulated", "simulate": {"seed": 1}},
            {"name": "beta", "kind": "simulated", "simulate": {"seed": 2}},
        ],
        "models": [
            {
                "name": "chat",
                "targets": [
                    {"provider": "alpha", "model": "alpha-model"},
                    {"provider": "beta", "model": "beta-model"},
                ],
                "quality": {"suite": "builtin", "policy": policy},
            }
        ],
        "quality": {"probe_interval_s": 0.002, "warmup_probes": 50, **quality},
        "traces": {"store": f"sqlite:///{tmp_path / 'traces.db'}"},
    }


def judged(gw: seawall.Gateway, key: str) -> int:
    counters = gw.quality.monitor.counters if gw.quality else {}
    return sum(n for (target, _, result), n in counters.items() if target == key and result != "no_verdict")


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for `condition` (probes run every few ms); fail naming `what` after WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 (polls the gateway's state; nothing to await)
            await asyncio.sleep(0.01)
    assert condition(), what


def state(gw: seawall.Gateway, key: str) -> Health | None:
    assert gw.quality is not None
    return gw.quality.monitor.states().get(key)


def sim(gw: seawall.Gateway, index: int) -> Any:
    return gw._simulators[index]


async def test_a_target_answering_30_percent_wrong_is_degraded_within_100_probes_and_traffic_moves(
    tmp_path: Path,
) -> None:
    async with seawall.Gateway.from_config(config(tmp_path)) as gw:
        await until(lambda: state(gw, ALPHA) is Health.HEALTHY, "alpha's warm-up")
        before = (await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}]))["model"]
        assert before == "alpha-model"
        sim(gw, 0).update({"wrong_answer_rate": 0.3})  # still 200s, still well-formed
        start = judged(gw, ALPHA)
        await until(lambda: state(gw, ALPHA) in (Health.DEGRADED, Health.FAILING), "alpha degraded")
        took = judged(gw, ALPHA) - start
        assert took <= 100, f"degraded only after {took} probes"
        assert state(gw, BETA) is Health.HEALTHY  # the healthy target raised no alarm meanwhile

        for _ in range(5):  # client traffic moved to the healthy target
            answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
            assert answer["model"] == "beta-model"

        view = {t["target"]: t for t in gw.resilience_view()["targets"]}
        quality = view[ALPHA]["quality"]
        assert quality["state"] in ("degraded", "failing")
        cusum = quality["detectors"][0]
        assert cusum["detector"] == "cusum" and cusum["statistic"] >= cusum["h_warn"]
        assert cusum["failed_probe_ids"] and quality["last_failed_probes"]
        assert "CUSUM" in quality["reason"]
        assert view[BETA]["quality"]["state"] == "healthy"
        metrics = gw.metrics.render().decode()
        assert 'seawall_quality_state{state="degraded",target="alpha/alpha-model"} 1.0' in metrics or (
            'seawall_quality_state{state="failing",target="alpha/alpha-model"} 1.0' in metrics
        )
        assert (
            'seawall_quality_probes_total{result="failed",suite="builtin",target="alpha/alpha-model"}'
            in metrics
        )
        requests = [line for line in metrics.splitlines() if line.startswith("seawall_requests_total{")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in requests) == 6  # probes are not client traffic
    store = open_store(f"sqlite:///{tmp_path / 'traces.db'}")
    assert store is not None
    try:
        records = [store.get(s.id) for s in store.list(limit=5000)]
    finally:
        store.close()
    probes = [r for r in records if r is not None and r.quality is not None and r.quality.probe is not None]
    assert probes and all(len(r.attempts) <= 1 for r in probes)  # a probe never falls back or retries
    moved = [e for r in probes for e in r.quality.events if e.kind == "transition" and e.target == ALPHA]  # type: ignore[union-attr]
    assert any(e.new in ("degraded", "failing") for e in moved)
    last = max((r for r in records if r is not None and r.quality is None), key=lambda r: r.ts)
    assert any(e.type in ("skip", "demoted") and getattr(e, "target", "") == ALPHA for e in last.events)

    # both replay byte for byte: the probe on its own route, the request with the health it saw then
    recorded = validate(config(tmp_path), "(test)")
    for record in (probes[-1], last):
        result = await asyncio.to_thread(replay, record, recorded)
        assert result.identical, result.divergences


async def test_alert_reports_only_and_demote_moves_the_target_last(tmp_path: Path) -> None:
    for policy, first in (("alert", "alpha-model"), ("demote", "beta-model")):
        async with seawall.Gateway.from_config(config(tmp_path / policy, policy)) as gw:
            await until(lambda: state(gw, ALPHA) is Health.HEALTHY, "alpha's warm-up")
            sim(gw, 0).update({"wrong_answer_rate": 1.0})
            await until(lambda: state(gw, ALPHA) is not Health.HEALTHY, "alpha alarmed")
            answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
            assert answer["model"] == first, policy
            sim(gw, 1).update({"error_rate": 1.0})  # demoted, not excluded: still the fallback
            if policy == "demote":
                answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
                assert answer["model"] == "alpha-model"


async def test_exclude_keeps_a_failing_target_when_nothing_else_is_left(tmp_path: Path) -> None:
    async with seawall.Gateway.from_config(config(tmp_path)) as gw:
        await until(
            lambda: state(gw, ALPHA) is Health.HEALTHY and state(gw, BETA) is Health.HEALTHY, "warm-up"
        )
        sim(gw, 0).update({"wrong_answer_rate": 1.0})
        sim(gw, 1).update({"wrong_answer_rate": 1.0})
        await until(
            lambda: state(gw, ALPHA) is not Health.HEALTHY and state(gw, BETA) is not Health.HEALTHY,
            "both alarmed",
        )
        answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert answer["model"] == "alpha-model"  # both excluded: kept in their order rather than a 503


async def test_a_switched_fingerprint_is_an_identity_change_that_runs_a_battery(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        events.append(await request.json())
        return web.Response(status=500 if len(events) == 1 else 204)  # the first delivery is retried

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        cfg = config(tmp_path, webhook_url=f"http://127.0.0.1:{port}/hook")
        async with seawall.Gateway.from_config(cfg) as gw:
            await until(lambda: state(gw, ALPHA) is Health.HEALTHY, "alpha's warm-up")
            sim(gw, 0).update({"system_fingerprint": "fp_new_serving_stack"})
            await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
            assert gw.quality is not None
            await until(lambda: gw.quality.monitor.view(ALPHA)["last_battery"] is not None, "battery decided")  # type: ignore[union-attr,index]
            view = {t["target"]: t for t in gw.resilience_view()["targets"]}
            assert view[ALPHA]["identity"]["system_fingerprint"] == "fp_new_serving_stack"
            assert view[ALPHA]["identity"]["changes"] == 1
            battery = view[ALPHA]["quality"]["last_battery"]
            assert battery["decision"] == "fine" and battery["samples"] >= 1  # a healthy target passes it
            assert "fp_new_serving_stack" in battery["reason"]
            assert view[ALPHA]["quality"]["state"] == "healthy"
            assert (
                'seawall_model_identity_changes_total{target="alpha/alpha-model"} 1.0'
                in gw.metrics.render().decode()
            )
            await until(lambda: any(e["kind"] == "battery" for e in events), "webhook delivery")
    finally:
        await runner.cleanup()
    assert events[0] == events[1]  # the first delivery failed (500) and was retried
    assert len(events) == len({json.dumps(e, sort_keys=True) for e in events}) + 1
    identity = next(e for e in events if e["kind"] == "identity")
    assert identity["target"] == ALPHA and "fp_new_serving_stack" in identity["new"]
    store = open_store(f"sqlite:///{tmp_path / 'traces.db'}")
    assert store is not None
    try:
        records = [store.get(s.id) for s in store.list(limit=5000)]
    finally:
        store.close()
    noted = [r for r in records if r is not None and r.quality is not None]  # a probe's or the client's
    assert any(e.kind == "identity" for r in noted for e in r.quality.events)  # type: ignore[union-attr]
    battery_probes = [r for r in records if r and r.quality and r.quality.probe and r.quality.probe.battery]
    assert battery_probes


async def test_a_webhook_that_never_answers_does_not_affect_routing(tmp_path: Path) -> None:
    cfg = config(tmp_path, webhook_url="http://127.0.0.1:9/unreachable", webhook_retries=1)
    async with seawall.Gateway.from_config(cfg) as gw:
        await until(lambda: state(gw, ALPHA) is Health.HEALTHY, "alpha's warm-up")
        sim(gw, 0).update({"wrong_answer_rate": 1.0})
        await until(lambda: state(gw, ALPHA) is not Health.HEALTHY, "alpha alarmed")
        answer = await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert answer["model"] == "beta-model"


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_served_gateway_moves_sdk_traffic_off_a_degraded_target_and_shows_why(tmp_path: Path) -> None:
    """`seawall serve` in front of two `seawall simulate` processes, driven over HTTP only."""
    import openai

    alpha, beta = Sim(tmp_path, "alpha", seed=3), Sim(tmp_path, "beta", seed=4)
    try:
        gw = GatewayProc(
            tmp_path,
            {
                "providers": [
                    {"name": "alpha", "kind": "openai", "base_url": alpha.url + "/v1"},
                    {"name": "beta", "kind": "openai", "base_url": beta.url + "/v1"},
                ],
                "models": [
                    {
                        "name": "chat",
                        "targets": [
                            {"provider": "alpha", "model": "alpha-model"},
                            {"provider": "beta", "model": "beta-model"},
                        ],
                        "quality": {"suite": "builtin", "policy": "exclude"},
                    }
                ],
                "quality": {"probe_interval_s": 0.01},
            },
        )
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        try:

            def entry() -> dict[str, Any]:
                targets = http_json("GET", gw.url + "/admin/targets")["targets"]
                found: dict[str, Any] = next(t for t in targets if t["target"] == ALPHA)
                return found

            def poll(condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
                deadline = time.monotonic() + WAIT_S
                while True:
                    current = entry()
                    if condition(current) or time.monotonic() > deadline:
                        return current
                    time.sleep(0.02)

            def probes() -> float:
                text = urllib.request.urlopen(gw.url + "/metrics").read().decode()
                return _metric(text, "seawall_quality_probes_total", target=ALPHA, result="passed") + _metric(
                    text, "seawall_quality_probes_total", target=ALPHA, result="failed"
                )

            healthy = poll(lambda e: e["quality"]["state"] == "healthy")
            assert healthy["quality"]["state"] == "healthy"
            assert healthy["identity"]["system_fingerprint"] == "fp_seawall_sim"
            assert healthy["quality"]["identity"] == healthy["identity"]
            assert client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}]
            ).model == ("alpha-model")

            alpha.control(system_fingerprint="fp_switched")  # a new serving stack: a battery runs
            switched = poll(lambda e: e["quality"]["last_battery"] is not None)
            assert switched["identity"]["system_fingerprint"] == "fp_switched"
            assert switched["identity"]["changes"] == 1
            assert switched["quality"]["last_battery"]["decision"] == "fine"

            alpha.control(wrong_answer_rate=0.3)  # still 200s, still well-formed
            before = probes()
            degraded = poll(lambda e: e["quality"]["state"] in ("degraded", "failing"))
            took = probes() - before
            assert degraded["quality"]["state"] in ("degraded", "failing")
            assert took <= 100 + 5, took  # within 100 probes (+ the few in flight between two polls)
            assert degraded["quality"]["detectors"][0]["failed_probe_ids"]
            for _ in range(3):
                answer = client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "hi"}]
                )
                assert answer.model == "beta-model"

            # an operator accepts the change: the baseline is learned again, traffic comes back meanwhile
            rewarmed = http_json("POST", gw.url + "/admin/quality", {"target": ALPHA, "action": "rewarm"})
            assert rewarmed["quality"]["state"] in ("warming_up", "healthy")
            answer = client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}]
            )
            assert answer.model == "alpha-model"
            for bad, status in (
                ({"target": "nobody/x", "action": "reset"}, 404),
                ({"target": ALPHA, "action": "x"}, 400),
            ):
                with pytest.raises(urllib.error.HTTPError) as refused:
                    http_json("POST", gw.url + "/admin/quality", bad)
                with refused.value as error:
                    assert error.code == status and "error" in json.loads(error.read())
        finally:
            client.close()
            gw.stop()
    finally:
        alpha.stop()
        beta.stop()


def test_canary_run_gate_passes_a_healthy_target_and_fails_a_degraded_one(tmp_path: Path) -> None:
    cfg = tmp_path / "seawall.yaml"
    cfg.write_text(
        json.dumps(
            {
                "providers": [
                    {"name": "alpha", "kind": "simulated", "simulate": {"seed": 1}},
                    {"name": "beta", "kind": "simulated", "simulate": {"seed": 2, "wrong_answer_rate": 0.3}},
                ],
                "models": [
                    {
                        "name": "chat",
                        "targets": [
                            {"provider": "alpha", "model": "alpha-model"},
                            {"provider": "beta", "model": "beta-model"},
                        ],
                    }
                ],
                "traces": {"store": f"sqlite:///{tmp_path / 't.db'}"},
            }
        )
    )

    def canary(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seawall.cli", "canary", "run", "--config", str(cfg), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    base = tmp_path / "base.json"
    saved = canary("--suite", "builtin", "--target", ALPHA, "--save-baseline", str(base))
    assert saved.returncode == 0, saved.stderr
    assert json.loads(base.read_text())["passed"] == 74
    same = canary("--suite", "builtin", "--target", ALPHA, "--baseline", str(base))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "not significantly worse" in same.stdout
    worse = canary("--suite", "builtin", "--target", BETA, "--baseline", str(base))
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "REGRESSION" in worse.stdout and "expected" in worse.stdout  # the table of failed probes
    bad = canary("--suite", "nope", "--target", ALPHA)
    assert bad.returncode == 2 and "unknown suite 'nope'" in bad.stderr


async def test_a_probe_that_hangs_is_bounded_by_its_own_deadline(tmp_path: Path) -> None:
    async with seawall.Gateway.from_config(config(tmp_path, probe_timeout_s=0.2)) as gw:
        sim(gw, 0).update({"hang_rate": 1.0})
        assert gw.quality is not None
        monitor = gw.quality.monitor
        await until(
            lambda: monitor.counters.get((ALPHA, "builtin", "no_verdict"), 0) >= 3, "hung probes ended"
        )
        assert state(gw, ALPHA) is Health.WARMING_UP  # no verdict is not a wrong answer
        assert judged(gw, ALPHA) == 0
        await until(lambda: state(gw, BETA) is Health.HEALTHY, "beta probed meanwhile")


async def test_online_signals_from_client_answers_move_a_target(tmp_path: Path) -> None:
    """No canary needed: answers cut at the token limit, seen in client traffic, degrade the target."""
    # canaries out of the way (the first probe is far off); every answer read, however fast they come
    cfg = config(tmp_path, probe_interval_s=3600, online_max_per_s=100_000)
    async with seawall.Gateway.from_config(cfg) as gw:
        assert gw.quality is not None and gw.quality.feed is not None
        feed, monitor = gw.quality.feed, gw.quality.monitor
        hi = [{"role": "user", "content": "hi"}]
        for _ in range(520):  # the online detectors' warm-up (500 answers), all whole answers
            await gw.chat(model="chat", messages=hi)
        assert feed.flush()
        length = next(d for d in monitor.view(ALPHA)["detectors"] if d.get("signal") == "finish_length")  # type: ignore[index]
        assert length["state"] == "healthy"
        cut = 0
        while monitor.view(ALPHA)["state"] not in ("degraded", "failing"):  # type: ignore[index]
            answer = await gw.chat(model="chat", messages=hi, max_tokens=2)
            if answer["model"] != "alpha-model":
                break
            cut += 1
            assert feed.flush()
            assert cut < 200
        view = monitor.view(ALPHA)
        assert view is not None and view["detector"] == "online:finish_length", view["reason"]
        answer = await gw.chat(model="chat", messages=hi)
        assert answer["model"] == "beta-model"  # excluded by its online signal
        assert 'seawall_quality_online_records_total{outcome="processed"}' in gw.metrics.render().decode()


async def test_online_signals_read_at_most_online_max_per_s_answers_per_target(tmp_path: Path) -> None:
    kept: list[Any] = []
    async with seawall.Gateway.from_config(
        config(tmp_path, probe_interval_s=3600, online_max_per_s=50)
    ) as gw:
        assert gw.quality is not None and gw.quality.feed is not None
        await gw.chat(model="chat", messages=[{"role": "user", "content": "hi"}])
        assert gw.quality.feed.flush()
        store = gw.store
        assert store is not None
        await asyncio.to_thread(gw.recorder.flush, 5.0)
        summary = (await asyncio.to_thread(store.list))[0]
        kept.append(await asyncio.to_thread(store.get, summary.id))
        record = kept[0]
        base = gw.quality.feed.stats()["submitted"]
        for i in range(120):  # 120 answers in one second, then 10 in the next
            gw.quality.seen(msgspec.structs.replace(record, ts=2_000_000_000.5 + (i >= 110)))
        assert gw.quality.feed.stats()["submitted"] - base == 50 + 10
        assert gw.quality.online_capped == 60
        assert 'seawall_quality_online_records_total{outcome="capped"} 60.0' in gw.metrics.render().decode()
