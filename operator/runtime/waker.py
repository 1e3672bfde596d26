"""Waking the daemon of a TuningJob when one of its objects changes: `Waker` (one daemon)
and `Wakers` (every daemon, by TuningJob, with the de-duplication of repeated news)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

SEEN_STATES = 100_000
"""How many trial Jobs and pods the wake-up de-duplication remembers (a few MB at most;
deleted ones are forgotten at once)."""

WakerKey = tuple[str, str]
"""(namespace, TuningJob label value)."""


class Waker:
    """Wakes one daemon: at once, or after a delay unless a reconcile starts meanwhile
    (it sees the news anyway: its snapshot is taken after the news arrived). Use it from
    the event loop's thread only: asyncio events are not thread-safe, which is why the
    event handlers are async."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reconciles = 0
        self.judging = False
        """Its TuningJob judges running trials on their logs (news of a trial that starts
        running matters to it)."""

    def wake(self, delay: float = 0.0) -> None:
        if delay:
            asyncio.get_running_loop().call_later(delay, self._late, self.reconciles)
        else:
            self.event.set()

    def _late(self, reconciles: int) -> None:
        if self.reconciles == reconciles:  # no reconcile has started since the news
            self.event.set()

    def reconciling(self) -> None:
        """A reconcile starts: what was delivered so far needs no wake-up of its own."""
        self.reconciles += 1
        self.event.clear()


class Wakers:
    """The wakers of every running daemon, by TuningJob, and the last state of each trial
    Job or pod that woke one (most recent last), so that the many updates of one state
    (ready counts, finalizers...) wake it only once."""

    def __init__(self, max_seen: int = SEEN_STATES) -> None:
        self.wakers: dict[WakerKey, set[Waker]] = {}
        self.seen: OrderedDict[str, str] = OrderedDict()
        self.max_seen = max_seen

    def add(self, key: WakerKey, waker: Waker) -> None:
        self.wakers.setdefault(key, set()).add(waker)

    def remove(self, key: WakerKey, waker: Waker) -> None:
        waiting = self.wakers.get(key)
        if waiting is not None:
            waiting.discard(waker)
            if not waiting:
                del self.wakers[key]

    def wake(
        self,
        namespace: str | None,
        tuning_job_label: str | None,
        delay: float = 0.0,
        *,
        judging_only: bool = False,
    ) -> None:
        """Wake the daemon(s) of the TuningJob with this label value, if any, now or after
        `delay` seconds (so that news that is not urgent joins a reconcile that comes
        anyway); `judging_only`: only if it judges running trials (`Waker.judging`)."""
        for waker in self.wakers.get((namespace or "", tuning_job_label or ""), ()):
            if waker.judging or not judging_only:
                waker.wake(delay)

    def wake_on_change(
        self,
        namespace: str | None,
        tuning_job_label: str | None,
        uid: str,
        state: str,
        *,
        delay: float = 0.0,
        gone: bool = False,
        judging_only: bool = False,
    ) -> None:
        """Wake the TuningJob's daemon if the object `uid` reached a state not seen yet;
        `gone`: the object is deleted, so forget it; `judging_only`: see `wake`."""
        if self.seen.get(uid) != state:
            self.wake(namespace, tuning_job_label, delay, judging_only=judging_only)
        if gone:
            self.seen.pop(uid, None)
            return
        self.seen[uid] = state
        self.seen.move_to_end(uid)
        while len(self.seen) > self.max_seen:
            self.seen.popitem(last=False)
