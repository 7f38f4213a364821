"""Test doubles shared by the resilience tests."""

from __future__ import annotations

import random


class FixedRandom(random.Random):
    """A `random.Random` whose `random()` always returns `value`, so `uniform(a, b)` is `a + (b-a)·value`."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value
