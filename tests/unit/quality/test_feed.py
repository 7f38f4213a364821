"""`OnlineFeed`: signals read off the event loop, drained on close, bounded, sampled, and never
stopped by a record or a sink that fails. No timing assumptions: `close()` drains, events order."""

from __future__ import annotations

import logging
import random
import threading

import pytest

from seawall.quality import _feed
from seawall.quality._detect._online import OnlineSignal
from seawall.quality._feed import OnlineFeed
from seawall.quality._signals import Signals
from seawall.trace._schema import ResponsePart, TraceRecord
from tests.unit.trace.records import attempt, record

ANSWER = '{"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}'


def answered(trace_id: str) -> TraceRecord:
    return record(trace_id, answered_by="p/m", attempts=(attempt(0),), response=ResponsePart(body=ANSWER))


def test_signals_reach_the_sink_on_the_feed_thread() -> None:
    got: list[tuple[Signals, int]] = []
    feed = OnlineFeed(lambda s: got.append((s, threading.get_ident())))
    feed.start()
    for i in range(5):
        feed.submit(answered(f"t{i}"))
    feed.submit(record("failed", status=500))  # no answer: processed, nothing to sink
    feed.close()
    assert len(got) == 5 and {ident for _, ident in got} != {threading.get_ident()}
    signals = got[0][0]
    assert signals.target == "p/m" and dict(signals.rates)[OnlineSignal.EMPTY_ANSWER] is False
    assert feed.stats() == {"submitted": 6, "processed": 6, "skipped": 0, "dropped": 0, "errors": 0}


def test_flush_waits_for_what_was_submitted() -> None:
    got: list[Signals] = []
    feed = OnlineFeed(got.append, interval_s=60)  # only a wake-up drains
    feed.start()
    feed.submit(answered("a"))
    assert feed.flush(10) and len(got) == 1
    feed.close()
    assert feed.flush(0)  # nothing is left: true at once, even closed


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    got: list[Signals] = []
    feed = OnlineFeed(got.append, capacity=3)  # not started: nothing drains yet
    for i in range(5):
        feed.submit(answered(f"t{i}"))
    assert feed.stats() == {"submitted": 3, "processed": 0, "skipped": 0, "dropped": 2, "errors": 0}
    feed.start()
    feed.close()
    assert len(got) == 3 and feed.stats()["processed"] == 3


def test_submit_never_waits_for_a_slow_sink() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(signals: Signals) -> None:
        entered.set()
        release.wait()

    feed = OnlineFeed(slow, capacity=2)
    feed.start()
    feed.submit(answered("first"))
    assert entered.wait(10)  # the feed's thread is stuck in the sink with the first record
    for i in range(3):
        feed.submit(answered(f"t{i}"))  # returns at once: two queued, one dropped
    assert (feed.submitted, feed.dropped) == (3, 1)
    release.set()
    feed.close()
    assert feed.stats() == {"submitted": 3, "processed": 3, "skipped": 0, "dropped": 1, "errors": 0}


def test_close_gives_up_on_what_is_left_after_its_timeout() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(signals: Signals) -> None:
        entered.set()
        release.wait()

    feed = OnlineFeed(slow)
    feed.start()
    thread = feed._thread
    assert thread is not None
    for i in range(4):
        feed.submit(answered(f"t{i}"))
    assert entered.wait(10)
    feed.close(timeout_s=0)  # returns while the sink is still stuck
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    assert feed.stats() == {"submitted": 4, "processed": 1, "skipped": 0, "dropped": 3, "errors": 0}


def test_close_is_idempotent_and_later_records_are_dropped() -> None:
    feed = OnlineFeed(lambda s: None)
    feed.close()  # never started
    feed.start()  # a closed feed does not start again
    assert feed._thread is None
    feed.submit(answered("late"))
    feed.close()
    assert feed.stats()["dropped"] == 1

    started = OnlineFeed(lambda s: None)
    started.start()
    started.close()
    started.close()
    started.submit(answered("late"))
    assert started.stats() == {"submitted": 0, "processed": 0, "skipped": 0, "dropped": 1, "errors": 0}


def test_failures_are_counted_and_logged_once_per_kind(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _feed.signals_of

    def signals_of(rec: TraceRecord) -> Signals | None:
        if rec.id.startswith("bad"):
            raise ValueError("a bug")
        return real(rec)

    monkeypatch.setattr(_feed, "signals_of", signals_of)
    sunk: list[str] = []

    def sink(signals: Signals) -> None:
        sunk.append(signals.target)
        if len(sunk) % 2:
            raise RuntimeError("monitor broke")

    feed = OnlineFeed(sink)
    feed.start()
    for trace_id in ("bad1", "ok1", "bad2", "ok2", "ok3", "ok4"):
        feed.submit(answered(trace_id))
    feed.close()
    assert len(sunk) == 4  # the thread went on after every failure
    assert feed.stats() == {"submitted": 6, "processed": 6, "skipped": 0, "dropped": 0, "errors": 4}
    logged = [r.getMessage() for r in caplog.records if r.name == "seawall.quality"]
    assert len(logged) == 2
    assert "could not be read" in logged[0] and "bad1" in logged[0]
    assert "quality monitor raised" in logged[1] and "ok1" in logged[1]
    assert all(
        r.levelno == logging.ERROR and r.exc_info for r in caplog.records if r.name == "seawall.quality"
    )


def test_sampling_is_decided_per_record_by_the_injected_rng() -> None:
    got: list[Signals] = []
    feed = OnlineFeed(got.append, sample=0.25, rng=random.Random(11))
    feed.start()
    for i in range(400):
        feed.submit(answered(f"t{i}"))
    feed.close()
    same = random.Random(11)
    expected = sum(same.random() < 0.25 for _ in range(400))
    assert len(got) == expected == feed.submitted and 60 < expected < 140
    assert feed.stats()["skipped"] == 400 - expected


def test_all_records_are_taken_at_sample_one_without_drawing() -> None:
    class NoDraws(random.Random):
        def random(self) -> float:
            raise AssertionError("sample=1 draws nothing")

    feed = OnlineFeed(lambda s: None, rng=NoDraws())
    feed.submit(answered("a"))
    assert feed.submitted == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"sample": 0.0}, "sample"), ({"sample": 1.5}, "sample"), ({"capacity": 0}, "capacity")],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        OnlineFeed(lambda s: None, **kwargs)  # type: ignore[arg-type]
