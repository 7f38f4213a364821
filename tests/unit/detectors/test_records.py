"""Detector records are plain data: picklable, copyable, and a copy taken mid-way steps exactly like
the original (as `tests/unit/resilience/test_records.py` asks of the resilience records)."""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from seawall.quality._detect import (
    BaselinePolicy,
    BernoulliCusumPolicy,
    PageHinkleyPolicy,
    SprtPolicy,
)
from tests.unit.resilience.test_records import assert_plain

T0 = 1000.0
CUSUM = BernoulliCusumPolicy(baseline=BaselinePolicy(warmup=10), recover_window=3)
SPRT = SprtPolicy()
HINKLEY = PageHinkleyPolicy(warmup=20, recover_window=5)


def every_record() -> list[Any]:
    cusum = CUSUM.new_record()
    for i in range(15):
        CUSUM.observe(cusum, T0, failed=i % 3 == 0, probe_id=f"p{i}")
    sprt = SPRT.new_record(0.02, 0.17, T0)
    SPRT.observe(sprt, T0, failed=True, probe_id="x")
    warming = HINKLEY.new_record()
    HINKLEY.observe(warming, T0, 120.0)
    ready = HINKLEY.new_record()
    for i in range(25):
        HINKLEY.observe(ready, T0, 100.0 + i)
    return [cusum, BaselinePolicy().new_record(), sprt, warming, ready]


@pytest.mark.parametrize("record", every_record(), ids=lambda r: type(r).__name__)
def test_records_hold_only_plain_data(record: Any) -> None:
    assert_plain(record, type(record).__name__)


@pytest.mark.parametrize("record", every_record(), ids=lambda r: type(r).__name__)
def test_records_survive_pickling_and_copying(record: Any) -> None:
    assert pickle.loads(pickle.dumps(record)) == record
    twin = copy.deepcopy(record)
    assert twin == record
    assert twin is not record


Step = Callable[[Any, random.Random], object]


def cusum_script() -> tuple[Any, list[Step]]:
    steps: list[Step] = []
    for i in range(200):
        rate = 0.05 if i < 60 or i > 120 else 0.9
        steps.append(
            lambda r, g, i=i, rate=rate: CUSUM.observe(r, T0 + i, failed=g.random() < rate, probe_id=str(i))
        )
        steps.append(lambda r, g: CUSUM.evidence(r))
    return CUSUM.new_record(), steps


def sprt_script() -> tuple[Any, list[Step]]:
    steps: list[Step] = [
        lambda r, g, i=i: SPRT.observe(r, T0 + i, failed=g.random() < 0.1) for i in range(100)
    ]
    return SPRT.new_record(0.02, 0.17, T0), steps


def hinkley_script() -> tuple[Any, list[Step]]:
    steps: list[Step] = []
    for i in range(150):
        scale = 1.0 if i < 60 or i > 90 else 3.0
        steps.append(
            lambda r, g, i=i, s=scale: HINKLEY.observe(r, T0 + i, s * 800 * math.exp(0.5 * g.gauss(0, 1)))
        )
        steps.append(lambda r, g: HINKLEY.evidence(r))
    return HINKLEY.new_record(), steps


SCRIPTS = {"cusum": cusum_script, "sprt": sprt_script, "hinkley": hinkley_script}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("at", [0.1, 0.25, 0.5, 0.75])
def test_a_copy_taken_mid_way_steps_identically(name: str, at: float) -> None:
    record, steps = SCRIPTS[name]()
    rng = random.Random(7)
    split = int(len(steps) * at)
    for step in steps[:split]:
        step(record, rng)
    twin, twin_rng = copy.deepcopy(record), copy.deepcopy(rng)
    ours = [step(record, rng) for step in steps[split:]]
    theirs = [step(twin, twin_rng) for step in steps[split:]]
    assert ours == theirs
    assert twin == record


def test_the_scripts_move_through_the_states() -> None:
    seen: dict[str, list[str]] = {}
    for name, script in SCRIPTS.items():
        record, steps = script()
        rng = random.Random(7)
        states = seen[name] = []
        for step in steps:
            step(record, rng)
            state = str(record.decision if name == "sprt" else record.state)
            if not states or states[-1] != state:
                states.append(state)
    assert seen == {
        "cusum": ["warming_up", "healthy", "degraded", "failing", "degraded", "healthy"],
        "sprt": ["continue", "degraded"],
        "hinkley": ["warming_up", "healthy", "degraded", "healthy"],
    }
