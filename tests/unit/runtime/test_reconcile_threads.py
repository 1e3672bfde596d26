"""A new TuningJob's first reconcile is not queued behind the reconciles of long-history
TuningJobs that wait for an optimizer slot (`reconcile.LONG_HISTORY_CALLS`): with more
of those than reconcile threads, every thread waited for a slot, and a TuningJob just
created got no status until GP fits had freed some (7.9 s median, 26 s at most, beside
40 TuningJobs of 950 trials; `make bench-operator` with `--probe`)."""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

import kopf
import pytest
from kubetune.operator.kube.reconcile import LONG_HISTORY, LONG_HISTORY_CALLS, may_wait_for_slot
from kubetune.operator.runtime import handlers
from kubetune.operator.runtime.handlers import Runtime, _Daemon
from support.memory_kube import MemoryKube
from support.specs import spec_dict

NS = "ns"
THREADS = LONG_HISTORY_CALLS + 2
DEADLINE_S = 30.0
FIRST_STATUS_S = 10.0
"""Deadline of the new job's reconcile (milliseconds alone), well within the time the
long ones are held (`DEADLINE_S`)."""


class HeldSuggest:
    """The optimizer's `suggest` (`real`): a call on a long history is held until
    `release()`, then suggests nothing."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.changed = threading.Condition()
        self.held = 0
        self.released = False

    def __call__(self, space: Any, observations: Any, **kwargs: Any) -> list[dict[str, Any]]:
        if len(observations) < LONG_HISTORY:
            return list(self.real(space, observations, **kwargs))
        with self.changed:
            self.held += 1
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.released, timeout=DEADLINE_S)
        return []

    def wait_held(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.held >= count, timeout=DEADLINE_S)

    def release(self) -> None:
        with self.changed:
            self.released = True
            self.changed.notify_all()


def daemon(runtime: Runtime, kube: MemoryKube, name: str) -> _Daemon:
    body = kopf.Body(kube.get_tuning_job(NS, name))  # type: ignore[arg-type]
    return _Daemon(runtime, NS, name, body, {}, {})  # type: ignore[arg-type]


def test_a_new_job_is_reconciled_while_long_histories_wait_for_optimizer_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module, which the package's `reconcile` function hides.
    module = importlib.import_module("kubetune.operator.kube.reconcile")
    held = HeldSuggest(module.suggest)
    monkeypatch.setattr(module, "suggest", held)
    monkeypatch.setattr(handlers, "RECONCILE_THREADS", THREADS)
    kube = MemoryKube()
    big = [f"big-{i}" for i in range(THREADS + 2)]  # more than the threads
    for name in big:
        kube.add_tuning_job_with_history(NS, name, LONG_HISTORY)
    kube.add_tuning_job(NS, "new", spec_dict())
    runtime = Runtime(kube=kube)  # type: ignore[arg-type]
    bigs = [daemon(runtime, kube, name) for name in big]
    new = daemon(runtime, kube, "new")

    async def scenario() -> None:
        waiting = [asyncio.ensure_future(d._reconcile(d._kube(True))) for d in bigs]
        # Every slot taken, the other long ones waiting for one.
        assert await asyncio.to_thread(held.wait_held, LONG_HISTORY_CALLS)
        try:
            await asyncio.wait_for(new._reconcile(new._kube(True)), timeout=FIRST_STATUS_S)
        finally:
            held.release()
            await asyncio.gather(*waiting)

    try:
        asyncio.run(scenario())
    finally:
        held.release()
        runtime.executor.shutdown(wait=True)
        runtime.long_executor.shutdown(wait=True)
        runtime.events.executor.shutdown(wait=True)
    status = kube.status(NS, "new")
    assert status["observedGeneration"] == 1
    assert status["phase"] == "InProgress"
    assert kube.called("create_job")[:2] == ["new-001", "new-002"]  # before any long one's
    assert held.held == len(big)  # each long one got its turn


def test_long_histories_and_warm_starts_may_wait_for_a_slot() -> None:
    def body(trials: int, **spec: Any) -> dict[str, Any]:
        return {"spec": spec_dict(**spec), "status": {"trials": [{}] * trials}}

    assert not may_wait_for_slot({"spec": spec_dict()})  # new: no status yet
    assert not may_wait_for_slot(body(LONG_HISTORY - 1))
    assert may_wait_for_slot(body(LONG_HISTORY))
    # Its parents' trials are the optimizer's too.
    assert may_wait_for_slot(body(0, warmStart={"parents": ["big"]}))
