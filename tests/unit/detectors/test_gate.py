"""The regression gate: a one-sided Fisher exact test against known values, and the probe-by-probe
breakdown. Values marked "scipy" come from `scipy.stats.fisher_exact(table, alternative="greater")`
with table [[baseline passed, baseline failed], [current passed, current failed]] (scipy 1.17)."""

from __future__ import annotations

import pytest

from seawall.quality._detect import GateResult, PassCounts, RegressionGate, fisher_worse, probe_breakdown


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        ((3, 1), (1, 3), 17 / 70),  # Fisher's lady tasting tea, by hand
        ((5, 0), (0, 5), 1 / 252),  # every failure in the current run: 1 / C(10, 5)
        ((100, 0), (97, 3), 100 * 99 * 98 / (200 * 199 * 198)),  # by hand: the 3 failures all current
        ((50, 0), (40, 10), 0.0005934196725858288),  # scipy
        ((95, 5), (85, 15), 0.015860019543155274),  # scipy
        ((90, 10), (90, 10), 0.5928511035198102),  # scipy
        ((28, 2), (20, 10), 0.01057262317176715),  # scipy
        ((1000, 20), (950, 70), 3.0048031503807844e-08),  # scipy
    ],
)
def test_fisher_one_sided_known_values(
    baseline: tuple[int, int], current: tuple[int, int], expected: float
) -> None:
    assert fisher_worse(PassCounts(*baseline), PassCounts(*current)) == pytest.approx(expected, rel=1e-9)


def test_a_better_run_is_never_a_regression() -> None:
    assert fisher_worse(PassCounts(80, 20), PassCounts(100, 0)) == 1.0
    assert fisher_worse(PassCounts(80, 20), PassCounts(90, 10)) > 0.9


def test_gate_decides_at_alpha() -> None:
    gate = RegressionGate()
    assert gate.alpha == 0.05
    worse = gate.judge(PassCounts(95, 5), PassCounts(85, 15))
    assert worse == GateResult(
        True, pytest.approx(0.015860019543155274), 0.05, PassCounts(95, 5), PassCounts(85, 15)
    )
    same = gate.judge(PassCounts(90, 10), PassCounts(90, 10))
    assert not same.regressed
    assert not RegressionGate(alpha=0.01).judge(PassCounts(95, 5), PassCounts(85, 15)).regressed
    assert gate.judge(PassCounts(10, 0), PassCounts(0, 0)) == GateResult(
        False, 1.0, 0.05, PassCounts(10, 0), PassCounts(0, 0)
    )
    # A small suite cannot show much: 10/10 before and 7/10 now is p = 0.105, not a regression.
    assert not gate.judge(PassCounts(10, 0), PassCounts(7, 3)).regressed


def test_counts_validate_and_rates() -> None:
    assert PassCounts(3, 1).pass_rate == 0.75
    assert PassCounts(0, 0).pass_rate is None
    with pytest.raises(ValueError):
        PassCounts(-1, 0)
    with pytest.raises(ValueError):
        RegressionGate(alpha=0.0)


def test_probe_breakdown() -> None:
    baseline = {"a": True, "b": True, "c": False, "d": False, "e": True, "gone": True}
    current = {"a": True, "b": False, "c": True, "d": False, "e": False, "new": False}
    b = probe_breakdown(baseline, current)
    assert b.regressed == ("b", "e")
    assert b.fixed == ("c",)
    assert b.still_failing == ("d",)
    assert b.added == ("new",)
    assert b.removed == ("gone",)
    assert b.mcnemar_p == pytest.approx(4 / 8)  # P(Bin(3, 1/2) >= 2)


def test_mcnemar_on_many_regressions() -> None:
    baseline = {f"p{i}": True for i in range(10)}
    current = {f"p{i}": i >= 8 for i in range(10)}
    assert probe_breakdown(baseline, current).mcnemar_p == pytest.approx(1 / 256)
    assert probe_breakdown(baseline, baseline).mcnemar_p == 1.0
