"""Fault draws: deterministic by seed, in order, monotone in the rates."""

from __future__ import annotations

from seawall.simulate import SimulatorSettings
from seawall.simulate._faults import WRONG_OFFSETS, Fault, Plan, draw


def plans(settings: SimulatorSettings, n: int = 200, *, stream: bool = False) -> list[Plan]:
    return [draw(settings, i, stream=stream) for i in range(n)]


def test_same_seed_same_plans_and_other_seed_other_plans() -> None:
    s = SimulatorSettings(error_rate=0.3, hang_rate=0.1, wrong_answer_rate=0.5, jitter_ms=10, seed=42)
    assert plans(s) == plans(s)
    other = SimulatorSettings(error_rate=0.3, hang_rate=0.1, wrong_answer_rate=0.5, jitter_ms=10, seed=43)
    assert plans(s) != plans(other)


def test_defaults_draw_no_fault() -> None:
    assert all(p == Plan() for p in plans(SimulatorSettings(), stream=True))


def test_rate_one_always_fires_and_the_order_holds() -> None:
    s = SimulatorSettings(
        hang_rate=1, reset_rate=1, rate_limit_rate=1, error_rate=1, blocked_rate=1, malformed_rate=1
    )
    assert {p.fault for p in plans(s, 50)} == {Fault.HANG}
    s = SimulatorSettings(rate_limit_rate=1, error_rate=1, malformed_rate=1)
    assert {p.fault for p in plans(s, 50)} == {Fault.RATE_LIMIT}
    s = SimulatorSettings(blocked_rate=1, malformed_rate=1)
    assert {p.fault for p in plans(s, 50)} == {Fault.BLOCKED}


def test_rates_are_roughly_honoured() -> None:
    hits = sum(p.fault is Fault.ERROR for p in plans(SimulatorSettings(error_rate=0.3), 4000))
    assert 1000 < hits < 1400


def test_raising_a_rate_only_adds_faults() -> None:
    low = plans(SimulatorSettings(error_rate=0.1, seed=9), 500)
    high = plans(SimulatorSettings(error_rate=0.3, seed=9), 500)
    failed_low = {i for i, p in enumerate(low) if p.fault}
    failed_high = {i for i, p in enumerate(high) if p.fault}
    assert failed_low < failed_high


def test_other_settings_do_not_shift_the_draws() -> None:
    base = plans(SimulatorSettings(error_rate=0.5, seed=1), 100)
    slow = plans(SimulatorSettings(error_rate=0.5, seed=1, jitter_ms=50, latency_ms=5), 100)
    assert [p.fault for p in base] == [p.fault for p in slow]


def test_unfaulty_requests_only_get_latency() -> None:
    s = SimulatorSettings(error_rate=1, latency_ms=30, wrong_answer_rate=1)
    plan = draw(s, 0, faulty=False, stream=True)
    assert plan == Plan(delay_s=0.03)


def test_jitter_stays_in_bounds() -> None:
    delays = [p.delay_s for p in plans(SimulatorSettings(latency_ms=10, jitter_ms=20), 300)]
    assert all(0.01 <= d <= 0.03 for d in delays)
    assert len(set(delays)) > 100


def test_wrong_answers_use_small_offsets() -> None:
    offsets = {p.wrong_offset for p in plans(SimulatorSettings(wrong_answer_rate=1), 300)}
    assert offsets == set(WRONG_OFFSETS)


def test_stream_faults_need_a_stream_and_a_cut_wins() -> None:
    s = SimulatorSettings(disconnect_rate=1, disconnect_after=3, stream_error_rate=1, stream_error_after=1)
    assert draw(s, 0, stream=False) == Plan()
    plan = draw(s, 0, stream=True)
    assert (plan.cut_after, plan.stream_error_after) == (3, None)
    only_error = draw(SimulatorSettings(stream_error_rate=1, stream_error_after=0), 0, stream=True)
    assert only_error.stream_error_after == 0
