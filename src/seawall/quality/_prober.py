"""The probe scheduler: asks every watched target its canary probes, on a jittered interval, under
an hourly cost cap, and runs a battery at once when the monitor starts one.

One task per target. Between two scheduled probes a target waits `interval` × U(1 − jitter,
1 + jitter) (the first wait is drawn in [0, interval) so targets do not probe in step). Its suites
take turns, and each suite's probes are asked in a shuffled order, reshuffled every pass, so every
probe is asked equally often and no answer can be learned from the order. A battery (after a
model-identity change) runs its probes back to back until it decides — still under the cap, which
counts every probe a target gets in the last hour. How one probe is sent, checked and recorded is
the caller's `RunProbe` (the gateway's: one attempt at that one target, its own deadline, traced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence

from seawall._clock import Clock
from seawall.quality._monitor import QualityMonitor
from seawall.quality._suite import Probe, Suite

log = logging.getLogger("seawall.quality")

RunProbe = Callable[[str, Suite, Probe, "str | None"], Awaitable[None]]
"""(target key, suite, probe, battery reason or None) → sent, checked, fed to the monitor, recorded."""

HOUR_S = 3600.0


class HourlyCap:
    """At most `per_hour` probes in any sliding hour. Pure: the caller passes `now`."""

    def __init__(self, per_hour: int) -> None:
        if per_hour < 1:
            raise ValueError(f"per_hour must be >= 1, got {per_hour}")
        self.per_hour = per_hour
        self._times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more probe is allowed (0: now)."""
        times = self._times
        while times and times[0] <= now - HOUR_S:
            times.popleft()
        return 0.0 if len(times) < self.per_hour else times[0] + HOUR_S - now

    def take(self, now: float) -> None:
        self._times.append(now)

    @property
    def used(self) -> int:
        return len(self._times)


class ProbeOrder:
    """A suite's probes in a shuffled order, reshuffled after every pass."""

    def __init__(self, suite: Suite, rng: random.Random) -> None:
        self.suite = suite
        self._rng = rng
        self._order: list[Probe] = []

    def next(self) -> Probe:
        if not self._order:
            self._order = list(self.suite.probes)
            self._rng.shuffle(self._order)
        return self._order.pop()


class Prober:
    """Probes `targets` (target key → its suites) with `run`; see the module docstring."""

    def __init__(
        self,
        targets: Mapping[str, Sequence[Suite]],
        run: RunProbe,
        monitor: QualityMonitor,
        *,
        interval_s: float,
        jitter: float,
        per_hour: int,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.targets = {key: tuple(suites) for key, suites in targets.items() if suites}
        self.run = run
        self.monitor = monitor
        self.interval_s = interval_s
        self.jitter = jitter
        self.per_hour = per_hour
        self.clock = clock
        self.rng = rng
        self.caps = {key: HourlyCap(per_hour) for key in self.targets}
        self._wake = {key: asyncio.Event() for key in self.targets}
        self._tasks: list[asyncio.Task[None]] = []
        self.capped = 0
        """Probes postponed by the hourly cap."""

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for key in self.targets:
            self._tasks.append(loop.create_task(self._target_loop(key), name=f"seawall-probe {key}"))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # already logged by the loop's own handler
                log.exception("probe task failed")
        self._tasks.clear()

    def wake(self, target: str) -> None:
        """A battery was started for `target`: probe now rather than after the current wait."""
        event = self._wake.get(target)
        if event is not None:
            event.set()

    def next_wait(self, *, first: bool = False) -> float:
        if first:
            return self.rng.random() * self.interval_s
        return self.interval_s * (1.0 + self.jitter * (2.0 * self.rng.random() - 1.0))

    async def _pause(self, key: str, seconds: float) -> None:
        event = self._wake[key]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(0.0, seconds))
        event.clear()

    async def _target_loop(self, key: str) -> None:
        suites = self.targets[key]
        orders = {suite.name: ProbeOrder(suite, self.rng) for suite in suites}
        turn = 0
        cap = self.caps[key]
        await self._pause(key, self.next_wait(first=True))
        while True:
            due = self.monitor.battery_due(key)
            if due is None:
                suite = suites[turn % len(suites)]
                turn += 1
                battery = None
            else:
                name, battery = due
                suite = next((s for s in suites if s.name == name), suites[0])
            wait = cap.wait(self.clock.now())
            if wait > 0:
                self.capped += 1
                await self._pause(key, wait)
                continue
            cap.take(self.clock.now())
            try:
                await self.run(key, suite, orders[suite.name].next(), battery)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("probe of %s failed", key)
            if battery is None or self.monitor.battery_due(key) is None:
                await self._pause(key, self.next_wait())
