"""Which faults strike one request: a pure draw from (seed, request number, settings).

Every request gets its own random stream, seeded by ``f"{seed}:{seq}"``, and always draws the
same fixed number of uniforms, one per decision. So the same seed and the same sequence of
requests give the same outcomes; one request's draw does not shift the next one's; and raising
a rate only adds faults (a request that failed at 10% still fails at 20%).

Faults are tried in this order, the first hit wins: hang, reset, 429, error, blocked, malformed.
An answer that gets through may still be wrong (`_solve`), and a stream may still be cut or
end in an error event (a cut wins over a stream error).

Must not: do I/O, sleep or read clocks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from seawall.simulate._settings import SimulatorSettings

WRONG_OFFSETS = (-10, -2, -1, 1, 2, 10)


class Fault(StrEnum):
    """A fault that replaces the normal answer."""

    HANG = "hang"
    RESET = "reset"
    RATE_LIMIT = "rate_limit"
    ERROR = "error"
    BLOCKED = "blocked"
    MALFORMED = "malformed"


_ORDER = (
    ("hang_rate", Fault.HANG),
    ("reset_rate", Fault.RESET),
    ("rate_limit_rate", Fault.RATE_LIMIT),
    ("error_rate", Fault.ERROR),
    ("blocked_rate", Fault.BLOCKED),
    ("malformed_rate", Fault.MALFORMED),
)
# uniforms: jitter, one per fault in _ORDER, wrong answer, wrong offset, disconnect, stream error
_DRAWS = 1 + len(_ORDER) + 4


@dataclass(frozen=True, slots=True)
class Plan:
    """What happens to one request."""

    delay_s: float = 0.0
    """Latency (+ jitter) before any answer."""
    fault: Fault | None = None
    wrong_offset: int = 0
    """0 answers right; otherwise every verifiable answer is wrong (numbers shifted by it)."""
    cut_after: int | None = None
    """Streams: close the connection after this many content chunks."""
    stream_error_after: int | None = None
    """Streams: send an in-stream error event after this many content chunks."""


def draw(settings: SimulatorSettings, seq: int, *, faulty: bool = True, stream: bool = False) -> Plan:
    """Draw the plan of request number `seq`. With `faulty` false only the latency applies."""
    rng = random.Random(f"{settings.seed}:{seq}")
    u = [rng.random() for _ in range(_DRAWS)]
    delay = (settings.latency_ms + u[0] * settings.jitter_ms) / 1000.0
    if not faulty:
        return Plan(delay)
    fault = next(
        (f for i, (name, f) in enumerate(_ORDER) if u[1 + i] < getattr(settings, name)),
        None,
    )
    k = 1 + len(_ORDER)
    wrong = 0
    if u[k] < settings.wrong_answer_rate:
        wrong = WRONG_OFFSETS[int(u[k + 1] * len(WRONG_OFFSETS))]
    cut = settings.disconnect_after if stream and u[k + 2] < settings.disconnect_rate else None
    stream_error = None
    if stream and cut is None and u[k + 3] < settings.stream_error_rate:
        stream_error = settings.stream_error_after
    return Plan(delay, fault, wrong, cut, stream_error)
