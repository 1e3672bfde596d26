"""Optimizer calls on long histories take turns (`reconcile.LONG_HISTORY_CALLS` at once):
each fits a GP that holds tens of MB at its peak, and an operator serving many big
TuningJobs reconciles them all at once when it starts (QA106). Short histories never wait
behind them."""

from __future__ import annotations

import importlib
import threading
from typing import Any

import pytest
from kubetune.operator.kube.reconcile import LONG_HISTORY, LONG_HISTORY_CALLS, reconcile
from support.memory_kube import MemoryKube

NS = "ns"
DEADLINE_S = 30.0


class HeldSuggest:
    """The optimizer's `suggest`, counting the calls on a long history that run at once,
    each held until `release()`."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.running = 0
        self.most_running = 0
        self.histories: list[int] = []
        self.released = False

    def __call__(self, space: Any, observations: Any, **_: Any) -> list[dict[str, Any]]:
        with self.changed:
            self.histories.append(len(observations))
            if len(observations) >= LONG_HISTORY:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
                self.changed.notify_all()
                self.changed.wait_for(lambda: self.released, timeout=DEADLINE_S)
                self.running -= 1
        return []

    def release(self) -> None:
        with self.changed:
            self.released = True
            self.changed.notify_all()


def test_long_histories_take_turns_and_short_ones_do_not_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = HeldSuggest()
    # The module, which the package's `reconcile` function hides.
    module = importlib.import_module("kubetune.operator.kube.reconcile")
    monkeypatch.setattr(module, "suggest", held)
    kube = MemoryKube()
    big = [f"big-{i}" for i in range(LONG_HISTORY_CALLS + 2)]
    for name in big:
        kube.add_tuning_job_with_history(NS, name, LONG_HISTORY + 50)
    kube.add_tuning_job_with_history(NS, "small", 20)
    threads = [threading.Thread(target=reconcile, args=(kube, NS, name)) for name in big]
    try:
        for thread in threads:
            thread.start()
        with held.changed:
            assert held.changed.wait_for(
                lambda: held.running >= LONG_HISTORY_CALLS, timeout=DEADLINE_S
            )
        # Every slot is taken: a short history's call still runs, at once.
        small = threading.Thread(target=reconcile, args=(kube, NS, "small"))
        small.start()
        small.join(timeout=DEADLINE_S)
        assert not small.is_alive()
        assert min(held.histories) < LONG_HISTORY
        assert held.most_running == LONG_HISTORY_CALLS
    finally:
        held.release()
        for thread in threads:
            thread.join(timeout=DEADLINE_S)
    # The two that waited got their turn; never more than the slots ran at once.
    assert sum(h >= LONG_HISTORY for h in held.histories) == len(big)
    assert held.most_running == LONG_HISTORY_CALLS
