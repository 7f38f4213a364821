"""Which detector watches which online signal, and with what defaults.

Online signals come from client traffic, per target: five rates (Bernoulli: did this answer show
the problem?) watched by a `BernoulliCusum` on `ONLINE_RATE_POLICY`, and three continuous values
watched by a `PageHinkley`. Collecting them is the engine's job; this module only names them.
"""

from __future__ import annotations

from enum import StrEnum

from seawall.quality._detect._cusum import ONLINE_RATE_POLICY, BernoulliCusumPolicy
from seawall.quality._detect._hinkley import PageHinkleyPolicy


class OnlineSignal(StrEnum):
    # Rates: one True/False per answer (True = the problem was seen).
    EMPTY_ANSWER = "empty_answer"  # no content and no tool call
    FINISH_LENGTH = "finish_length"  # finish_reason == "length" (or max_tokens)
    REFUSAL = "refusal"
    INVALID_JSON = "invalid_json"  # a JSON response format was asked for and not produced
    INVALID_TOOL_ARGS = "invalid_tool_args"  # tool-call arguments not valid against their schema
    # Continuous: one value per answer.
    OUTPUT_TOKENS = "output_tokens"
    TTFT_MS = "ttft_ms"
    LATENCY_MS = "latency_ms"


RATE_SIGNALS = frozenset(
    {
        OnlineSignal.EMPTY_ANSWER,
        OnlineSignal.FINISH_LENGTH,
        OnlineSignal.REFUSAL,
        OnlineSignal.INVALID_JSON,
        OnlineSignal.INVALID_TOOL_ARGS,
    }
)

# Answers getting shorter and getting longer are both news; getting faster is not.
_SHIFT_POLICIES = {
    OnlineSignal.OUTPUT_TOKENS: PageHinkleyPolicy(direction="both"),
    OnlineSignal.TTFT_MS: PageHinkleyPolicy(direction="up"),
    OnlineSignal.LATENCY_MS: PageHinkleyPolicy(direction="up"),
}


def online_policy(signal: OnlineSignal) -> BernoulliCusumPolicy | PageHinkleyPolicy:
    """The default detector tuning for `signal`."""
    if signal in RATE_SIGNALS:
        return ONLINE_RATE_POLICY
    return _SHIFT_POLICIES[signal]
