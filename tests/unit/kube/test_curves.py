"""The adapter's curves for early stopping: read bounded, cached per TuningJob in memory,
rebuilt after a restart from the logs that still exist."""

from __future__ import annotations

import importlib
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import TrialPhase, TrialStatus, TuningJobStatus
from kubetune.operator.kube import curves as curves_module
from kubetune.operator.kube import reconcile
from kubetune.operator.kube.curves import (
    REBUILD_READS,
    CurveCache,
    JobCurves,
    last_read_curves,
    update_curves,
)
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.trial_logs import CURVE_READ_SECONDS, TrialLogs
from support.memory_kube import MemoryKube
from support.specs import make_spec, spec_dict

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = make_spec(earlyStopping="Auto")  # objective regex: loss=([-0-9.eE+naif]+)


class FakeKube:
    """Pod logs by pod name; a missing one answers 404 like the API server."""

    log_timestamps = False  # its logs are served as stored

    def __init__(self, logs: dict[str, bytes]) -> None:
        self.logs = logs
        self.reads: list[str] = []

    def stream_log(self, namespace: str, pod: str, container: str, **_: Any) -> Iterator[bytes]:
        self.reads.append(pod)
        if pod not in self.logs:
            raise ApiException(status=404, reason="Not Found")
        yield self.logs[pod]


def succeeded(count: int) -> list[TrialStatus]:
    return [
        TrialStatus(
            name=f"tj-{i:03d}",
            phase=TrialPhase.SUCCEEDED,
            objective=1.0,
            end_time=T0 + timedelta(seconds=i),
        )
        for i in range(1, count + 1)
    ]


def curves(kube: FakeKube, entry: JobCurves, status: TuningJobStatus, **kw: Any) -> Any:
    sources = {
        t.name: LogSource(f"pod-{t.name}", "trainer") for t in status.trials if t.name != "tj-001"
    }  # tj-001's pod is gone
    return update_curves(
        TrialLogs(kube, "ns", SPEC),  # type: ignore[arg-type]
        entry,
        status=status,
        sources=sources,
        just_succeeded=kw.get("just_succeeded", {}),
        running=kw.get("running", {"tj-013": "tj-013"}),
        judged_on_peers=kw.get("judged_on_peers", True),
    )


def test_after_a_restart_peers_are_read_again_a_few_per_reconcile() -> None:
    status = TuningJobStatus(
        trials=[*succeeded(12), TrialStatus(name="tj-013", phase=TrialPhase.RUNNING)]
    )
    logs = {f"pod-tj-{i:03d}": b"loss=%d\nloss=%d\n" % (i, i) for i in range(2, 12)}  # 012 gone
    logs["pod-tj-013"] = b"loss=9\nloss=8\nloss=7\n"
    kube = FakeKube(logs)
    entry = JobCurves("uid")

    first = curves(kube, entry, status)
    # Some peers are still to be read: the median rule gets no running curve to judge.
    assert "tj-013" not in first
    assert kube.reads[0] == "pod-tj-013"
    assert kube.reads[1:] == [f"pod-tj-{i:03d}" for i in range(12, 12 - REBUILD_READS, -1)]
    assert list(first["tj-011"]) == [11.0, 11.0] and "tj-012" not in first  # latest first

    kube.reads.clear()
    second = curves(kube, entry, status)
    # The running log was read just now: not again. The unreadable one is not retried;
    # tj-001, whose pod is gone, is never tried.
    assert kube.reads == ["pod-tj-004", "pod-tj-003", "pod-tj-002"]
    assert set(second) == {f"tj-{i:03d}" for i in range(2, 12)} | {"tj-013"}
    assert list(second["tj-013"]) == [9.0, 8.0, 7.0]  # judged now, against all its peers
    assert entry.unreadable == {"tj-012"}

    kube.reads.clear()
    curves(kube, entry, status, running={})
    assert kube.reads == []  # nothing runs: nothing read
    assert set(entry.running) == {"tj-013"}  # its trial is unfinished: the curve is kept
    status.trials[-1].phase = TrialPhase.SUCCEEDED
    curves(kube, entry, status, running={})
    assert entry.running == {}


def test_a_running_log_is_read_again_after_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    status = TuningJobStatus(trials=[TrialStatus(name="tj-013", phase=TrialPhase.RUNNING)])
    kube = FakeKube({"pod-tj-013": b"loss=1\n"})
    entry = JobCurves("uid")
    clock = [100.0]
    monkeypatch.setattr(curves_module.time, "monotonic", lambda: clock[0])
    curves(kube, entry, status)
    kube.logs["pod-tj-013"] += b"loss=0.5\n"
    assert list(curves(kube, entry, status)["tj-013"]) == [1.0]  # the values read last
    clock[0] += CURVE_READ_SECONDS
    assert list(curves(kube, entry, status)["tj-013"]) == [1.0, 0.5]
    assert kube.reads == ["pod-tj-013", "pod-tj-013"]


def test_finished_curves_are_kept_without_a_read_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(curves_module, "MAX_PEER_CURVES", 3)
    trials = succeeded(3)
    status = TuningJobStatus(trials=trials)
    kube = FakeKube({})
    entry = JobCurves("uid")
    for trial in trials:
        entry.succeeded[trial.name] = array("d", [1.0])
    new = {"tj-004": array("d", [0.5, 0.4])}
    out = curves(kube, entry, status, just_succeeded=new, running={})
    assert kube.reads == []
    assert set(entry.succeeded) == {"tj-002", "tj-003", "tj-004"}  # the latest 3 finished
    assert list(out["tj-004"]) == [0.5, 0.4]


class FakeFollower:
    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_the_cache_keeps_a_bounded_number_of_idle_jobs_and_resets_on_a_new_uid() -> None:
    cache = CurveCache(max_idle_jobs=1)
    a = cache.get("ns", "a", "uid-a")
    a.succeeded["tj-001"] = array("d", [1.0])
    assert cache.get("ns", "a", "uid-a") is a
    assert cache.get("ns", "a", "uid-a2").succeeded == {}  # same name, a new TuningJob
    a = cache.get("ns", "a", "uid-a2")
    a.succeeded["tj-001"] = array("d", [1.0])
    follower = FakeFollower()
    a.followers["tj-002"] = follower  # type: ignore[assignment]
    cache.stop_following("ns", "a")  # its daemon stopped: followers stopped, curves kept
    assert follower.stopped and cache.get("ns", "a", "uid-a2") is a
    cache.stop_following("ns", "a")
    b = cache.get("ns", "b", "uid-b")
    cache.stop_following("ns", "b")  # idle too: the least recently stopped, a, is dropped
    assert len(cache) == 1 and a.followers == {}
    assert cache.get("ns", "a", "uid-a2").succeeded == {}
    assert cache.get("ns", "b", "uid-b") is b  # live again: not dropped by a's stop below
    cache.stop_following("ns", "a")
    assert len(cache) == 2
    cache.forget("ns", "a")
    cache.forget("ns", "zzz")  # unknown: fine
    assert len(cache) == 1


def test_live_jobs_are_never_dropped_for_each_other() -> None:
    """More TuningJobs reconciled in turn than `MAX_IDLE_JOBS`: each keeps its curves (an
    LRU over live jobs made every reconcile miss, read its peers again and judge nobody)."""
    cache = CurveCache()
    entries: dict[int, JobCurves] = {}
    for _ in range(2):
        for i in range(3 * curves_module.MAX_IDLE_JOBS):
            entry = cache.get("ns", f"job-{i}", f"uid-{i}")
            assert entries.setdefault(i, entry) is entry
            entry.succeeded["tj-001"] = array("d", [1.0])
    assert len(cache) == 3 * curves_module.MAX_IDLE_JOBS


def test_more_early_stopping_jobs_than_idle_ones_kept_still_judge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through `reconcile`: a TuningJob reconciled in turn with many others still stops
    its bad trial by the median rule, and reads no peer's log again."""
    cache = CurveCache()
    reconcile_module = importlib.import_module("kubetune.operator.kube.reconcile")
    monkeypatch.setattr(reconcile_module, "CURVES", cache)
    now = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    kube = MemoryKube()
    limits = {"maxTrials": 11, "maxParallelTrials": 11}
    kube.add_tuning_job("ns", "tj", spec_dict(earlyStopping="Auto", limits=limits))
    reconcile(kube, "ns", "tj", now=now, curve_read_seconds=0)
    for i in range(1, 11):
        kube.finish_job("ns", f"tj-{i:03d}", b"loss=1\nloss=1\n")
    reconcile(kube, "ns", "tj", now=now, curve_read_seconds=0)  # the peers' curves kept
    kube.finish_job("ns", "tj-011", b"loss=5\nloss=5\n")  # far worse than every peer
    kube.pods[("ns", "tj-011-pod")]["status"] = {
        "phase": "Running",
        "containerStatuses": [{"name": "trainer", "state": {"running": {}}}],
    }
    for i in range(curves_module.MAX_IDLE_JOBS + 1):  # reconciled in turn meanwhile
        cache.get("ns", f"other-{i}", f"uid-{i}")
    reads = len(kube.called("stream_log"))
    reconcile(kube, "ns", "tj", now=now, curve_read_seconds=0)
    assert kube.status("ns", "tj")["trials"][10]["phase"] == "EarlyStopped"
    assert kube.called("stream_log")[reads:] == ["tj-011-pod"]  # only the running log


def test_hyperband_gets_the_running_curves_while_peers_are_read_again() -> None:
    """Hyperband's decisions rest on the rung values in the status, not on peers' curves:
    its running trials are judged at once after a restart."""
    status = TuningJobStatus(
        trials=[*succeeded(12), TrialStatus(name="tj-013", phase=TrialPhase.RUNNING)]
    )
    logs = {f"pod-tj-{i:03d}": b"loss=%d\n" % i for i in range(2, 13)}
    logs["pod-tj-013"] = b"loss=9\nloss=8\n"
    out = curves(FakeKube(logs), JobCurves("uid"), status, judged_on_peers=False)
    assert list(out["tj-013"]) == [9.0, 8.0]


def test_an_attempt_that_just_failed_keeps_the_curve_last_read_while_it_ran() -> None:
    """Its pod may be gone with its log (evicted): the values read while it ran are the
    epochs it consumed."""
    status = TuningJobStatus(trials=[TrialStatus(name="tj-013", phase=TrialPhase.RUNNING)])
    entry = JobCurves("uid")
    kube = FakeKube({"pod-tj-013": b"loss=9\nloss=8\nloss=7\n"})
    curves(kube, entry, status, judged_on_peers=False)
    del kube.logs["pod-tj-013"]  # evicted: pod and log gone
    failed = {"tj-013": "tj-013"}  # Job name -> trial name
    assert {t: list(c) for t, c in last_read_curves(entry, failed).items()} == {
        "tj-013": [9.0, 8.0, 7.0]
    }
    assert last_read_curves(entry, {"tj-099": "tj-099"}) == {}
    # Kept while the trial is unfinished (its pod gone before its Job is seen Failed) ...
    curves(kube, entry, status, running={}, judged_on_peers=False)
    assert list(last_read_curves(entry, failed)["tj-013"]) == [9.0, 8.0, 7.0]
    # ... forgotten once it moved on to its next attempt (another Job name).
    status.trials[0].attempt = 2
    curves(kube, entry, status, running={}, judged_on_peers=False)
    assert last_read_curves(entry, failed) == {}
