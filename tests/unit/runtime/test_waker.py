"""Wake-ups of a TuningJob's daemon: at once, delayed unless a reconcile starts first,
once per state of a trial Job or pod."""

from __future__ import annotations

import asyncio

from kubetune.operator.runtime.waker import Waker, Wakers

DEADLINE_S = 5.0


def test_a_wake_up_is_consumed_by_the_reconcile_that_starts() -> None:
    async def scenario() -> None:
        waker = Waker()
        waker.wake()
        assert waker.event.is_set()
        waker.reconciling()
        assert not waker.event.is_set()

    asyncio.run(scenario())


def test_a_delayed_wake_up_fires_unless_a_reconcile_started_meanwhile() -> None:
    async def scenario() -> None:
        waker = Waker()
        waker.wake(delay=0.01)
        await asyncio.wait_for(waker.event.wait(), timeout=DEADLINE_S)

        waker.reconciling()
        started_before = waker.reconciles - 1  # the news arrived before this reconcile
        waker._late(started_before)  # the timer of that news fires now
        assert not waker.event.is_set()
        waker._late(waker.reconciles)  # news with no reconcile since: wakes
        assert waker.event.is_set()

    asyncio.run(scenario())


def test_news_wakes_the_daemons_of_its_tuning_job_once_per_state() -> None:
    async def scenario() -> None:
        wakers = Wakers()
        mine, other = Waker(), Waker()
        wakers.add(("ns", "tj"), mine)
        wakers.add(("ns", "other"), other)

        wakers.wake_on_change("ns", "tj", "uid-1", "active")
        assert mine.event.is_set() and not other.event.is_set()
        mine.reconciling()
        wakers.wake_on_change("ns", "tj", "uid-1", "active")  # same state again
        assert not mine.event.is_set()
        wakers.wake_on_change("ns", "tj", "uid-1", "finished")
        assert mine.event.is_set()

        mine.reconciling()
        wakers.wake_on_change("ns", "tj", "uid-1", "deleted", gone=True)
        assert mine.event.is_set() and "uid-1" not in wakers.seen

        wakers.remove(("ns", "tj"), mine)
        assert ("ns", "tj") not in wakers.wakers

    asyncio.run(scenario())


def test_the_memory_of_seen_states_is_bounded() -> None:
    wakers = Wakers(max_seen=3)
    for i in range(5):
        wakers.wake_on_change("ns", "tj", f"uid-{i}", "active")
    assert list(wakers.seen) == ["uid-2", "uid-3", "uid-4"]


def test_a_trial_that_starts_running_wakes_only_a_daemon_that_judges_running_trials() -> None:
    async def scenario() -> None:
        wakers = Wakers()
        judging, plain = Waker(), Waker()
        judging.judging = True  # Hyperband or earlyStopping: Auto
        wakers.add(("ns", "hb"), judging)
        wakers.add(("ns", "bo"), plain)
        wakers.wake_on_change("ns", "hb", "pod-1", "running", judging_only=True)
        wakers.wake_on_change("ns", "bo", "pod-2", "running", judging_only=True)
        assert judging.event.is_set() and not plain.event.is_set()
        wakers.wake_on_change("ns", "bo", "pod-2", "terminated")
        assert plain.event.is_set()

    asyncio.run(scenario())
