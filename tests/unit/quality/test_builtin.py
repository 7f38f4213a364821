"""The shipped `builtin` suite: big enough, cheap, label-balanced, and right about its own answers."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from importlib import resources

from seawall.quality import (
    BUILTIN,
    JsonSchema,
    Normalized,
    Number,
    Probe,
    ProbeAnswer,
    ToolCallSpec,
    builtin_suite,
)

SUITE = builtin_suite()
PROBES = SUITE.probes
CATEGORIES = {"prime", "arithmetic", "extraction", "json", "instruction", "tool"}


def by_category(name: str) -> list[Probe]:
    return [p for p in PROBES if p.category == name]


def prompt_of(probe: Probe) -> str:
    return str(probe.messages[-1]["content"])


def is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def test_the_builtin_suite_is_big_enough_and_ships_with_the_package() -> None:
    assert SUITE.name == BUILTIN
    assert len(PROBES) >= 60
    assert len({p.id for p in PROBES}) == len(PROBES)
    assert resources.files("seawall.quality").joinpath("builtin.yaml").is_file()


def test_every_probe_has_a_known_category_and_each_category_is_substantial() -> None:
    counts = Counter(p.category for p in PROBES)
    assert set(counts) == CATEGORIES
    assert counts["prime"] >= 24
    assert all(n >= 8 for n in counts.values())


def test_probes_are_cheap() -> None:
    for probe in PROBES:
        assert probe.max_tokens <= 64, probe.id
        assert len(prompt_of(probe)) <= 200, probe.id
        assert len(probe.messages) == 1, probe.id


def test_binary_labels_are_balanced_in_every_category() -> None:
    for category in CATEGORIES:
        labels = Counter(p.label for p in by_category(category) if p.label in ("yes", "no"))
        assert labels["yes"] == labels["no"], (category, labels)
    assert Counter(p.label for p in by_category("prime")) == {"yes": 12, "no": 12}


def test_a_model_that_always_says_yes_fails_half_the_prime_probes() -> None:
    primes = by_category("prime")
    passed = sum(p.verify(ProbeAnswer("Yes")).passed for p in primes)
    assert passed == len(primes) // 2
    passed_no = sum(p.verify(ProbeAnswer("No.")).passed for p in primes)
    assert passed_no == len(primes) // 2


def test_prime_probes_are_right_and_not_obvious() -> None:
    for probe in by_category("prime"):
        match = re.fullmatch(r"Is (\d+) a prime number\? Answer with only yes or no\.", prompt_of(probe))
        assert match, probe.id
        n = int(match.group(1))
        assert 100 < n < 10_000
        assert n % 2 and n % 3 and n % 5, f"{n} is obviously composite"
        label = "yes" if is_prime(n) else "no"
        assert probe.label == label, probe.id
        assert probe.expect == Normalized(label)


def test_yes_no_probes_expect_their_label() -> None:
    for probe in PROBES:
        if probe.label in ("yes", "no") and probe.category != "json":
            assert probe.expect == Normalized(probe.label), probe.id


def test_arithmetic_probes_are_right() -> None:
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    seen = set()
    for probe in by_category("arithmetic"):
        match = re.fullmatch(
            r"What is (\d+) ([-+*x×]) (\d+)\? Answer with only the number\.", prompt_of(probe)
        )
        assert match, probe.id
        a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
        seen.add("*" if op in "x×" else op)
        assert probe.expect == Number(Decimal(ops["*" if op in "x×" else op](a, b)))
    assert seen == {"+", "-", "*"}


def test_json_probes_ask_for_structured_output_and_check_fields() -> None:
    for probe in by_category("json"):
        assert probe.response_format is not None
        # json_schema works on every dialect; json_object is refused by Anthropic targets.
        assert probe.response_format["type"] == "json_schema", probe.id
        assert isinstance(probe.expect, JsonSchema)
        props = probe.expect.schema["properties"]
        assert props and all("const" in v for v in props.values()), probe.id


def test_tool_probes_balance_the_right_tool_and_its_position() -> None:
    probes = by_category("tool")
    names = Counter(p.label for p in probes)
    positions: Counter[int] = Counter()
    for probe in probes:
        assert isinstance(probe.expect, ToolCallSpec)
        assert probe.expect.name == probe.label
        assert probe.expect.arguments, probe.id
        offered = [t["function"]["name"] for t in probe.tools]
        assert len(offered) == len(set(offered)) >= 3
        positions[offered.index(probe.expect.name)] += 1
    assert len(set(names.values())) == 1, names
    assert len(set(positions.values())) == 1 and len(positions) == len(probes[0].tools), positions
