"""A scripted provider for engine tests: each call pops the next outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Chunk, Completion, Dialect, Target
from seawall.errors import UpstreamError


def completion(text: str, model: str = "m") -> Completion:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Completion(body, None)


def chunks(text: str) -> list[Chunk]:
    role = Chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}, None, False)
    words = [Chunk({"choices": [{"index": 0, "delta": {"content": w}}]}, None, True) for w in text.split()]
    end = Chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, None, True)
    return [role, *words, end]


class Hang:
    """Outcome: never answer (until cancelled)."""


class StallAfter:
    """Outcome (streams): send `n` content chunks, then nothing more (until cancelled)."""

    def __init__(self, n: int) -> None:
        self.n = n


class FailAfter:
    """Outcome (streams): send `n` content chunks, then raise."""

    def __init__(self, n: int, error: UpstreamError) -> None:
        self.n, self.error = n, error


class ScriptedProvider:
    dialect = Dialect.OPENAI

    def __init__(
        self, name: str, outcomes: list[Any], clock: ManualClock | None = None, cost_s: float = 0.0
    ) -> None:
        self.name = name
        self.outcomes = list(outcomes)
        self.calls: list[Target] = []
        self.timeouts: list[AttemptTimeouts] = []
        self.clock = clock
        self.cost_s = cost_s  # simulated time one attempt takes

    def _next(self, target: Target, timeouts: AttemptTimeouts) -> Any:
        self.calls.append(target)
        self.timeouts.append(timeouts)
        if self.clock is not None and self.cost_s:
            self.clock.advance(self.cost_s)
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]

    async def complete(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> Completion:
        outcome = self._next(target, timeouts)
        info.status = 200
        if isinstance(outcome, Hang):
            await asyncio.Event().wait()
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, str)
        return completion(outcome, target.model)

    async def stream(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> AsyncIterator[Chunk]:
        outcome = self._next(target, timeouts)
        if isinstance(outcome, Hang):
            yield chunks("x")[0]
            await asyncio.Event().wait()
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, StallAfter):
            for chunk in chunks("a b c d e f")[: outcome.n + 1]:
                yield chunk
            await asyncio.Event().wait()
        if isinstance(outcome, FailAfter):
            for chunk in chunks("a b c d e f")[: outcome.n + 1]:
                yield chunk
            raise outcome.error
        for chunk in chunks(outcome):
            yield chunk

    async def aclose(self) -> None:
        return None
