"""`quality.webhook_url`: every quality event POSTed as JSON, in the background, retried.

Events are queued (bounded; when full the newest is dropped and counted) and sent one at a time by
a task on the event loop; `submit` may be called from any thread. A failed POST (a connection
error, a timeout, 429 or 5xx) is retried up to `retries` times with jittered exponential backoff;
other 4xx are not. Nothing here can block or fail a request, or change routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from typing import Any

import aiohttp
import orjson

log = logging.getLogger("seawall.quality")

QUEUE_SIZE = 1000


class Webhook:
    def __init__(self, url: str, *, timeout_s: float, retries: int, rng: random.Random | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.rng = rng or random.Random()
        self.stats = {"queued": 0, "sent": 0, "failed": 0, "retried": 0, "dropped": 0}
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._queue = asyncio.Queue(QUEUE_SIZE)
        self._task = self._loop.create_task(self._run(), name="seawall-quality-webhook")

    def submit(self, payload: dict[str, Any]) -> None:
        """Queue one event (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._thread:
            self._put(payload)
        else:
            loop.call_soon_threadsafe(self._put, payload)

    def _put(self, payload: dict[str, Any]) -> None:
        assert self._queue is not None
        try:
            self._queue.put_nowait(payload)
            self.stats["queued"] += 1
        except asyncio.QueueFull:
            self.stats["dropped"] += 1

    async def _run(self) -> None:
        assert self._queue is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                payload = await self._queue.get()
                try:
                    await self._send(session, orjson.dumps(payload))
                finally:
                    self._queue.task_done()

    async def _send(self, session: aiohttp.ClientSession, body: bytes) -> None:
        why = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retried"] += 1
                delay = min(30.0, 0.5 * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + 0.5 * self.rng.random()))
            try:
                async with session.post(
                    self.url, data=body, headers={"content-type": "application/json"}
                ) as response:
                    if response.status < 300:
                        self.stats["sent"] += 1
                        return
                    why = f"HTTP {response.status}"
                    if response.status < 500 and response.status != 429:
                        break
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = type(exc).__name__
        self.stats["failed"] += 1
        log.warning("quality webhook: gave up on an event (%s)", why)

    async def aclose(self) -> None:
        """Send what is queued for at most `timeout_s`, then stop."""
        task, queue = self._task, self._queue
        if task is None or queue is None:
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await queue.join()
        except TimeoutError:
            pass
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
