"""CachedKube and Expectations: reads of one reconcile from the watches' cache, never
from a status older than our last write, and no Job created twice."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from kubetune.operator.kube import CachedKube, Expectations, reconcile
from kubetune.operator.kube import expectations as expectations_module
from support.memory_kube import MemoryKube
from support.specs import spec_dict

NS, NAME = "ns", "tj"


def watched(version: str) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": NAME, "resourceVersion": version}}


def job_manifest(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {}}, "spec": {}}


def test_the_first_reconcile_reads_live_and_later_ones_from_the_cache() -> None:
    live = MemoryKube()
    stored = live.add_tuning_job(NS, NAME, spec_dict())
    expectations = Expectations()
    first = CachedKube(live, expectations, stored, [], [])
    assert first.get_tuning_job(NS, NAME) == stored
    assert live.called("get_tuning_job") == [NAME]

    expectations.reconciled()
    cached = CachedKube(live, expectations, stored, [], [])
    assert cached.get_tuning_job(NS, NAME) == stored
    assert cached.list_trial_jobs(NS, NAME) == [] and cached.list_trial_pods(NS, NAME) == []
    assert live.called("get_tuning_job") == [NAME]  # no second live read
    assert not live.called("list_trial_jobs") and not live.called("list_trial_pods")


def test_other_tuning_jobs_and_unsnapshotted_lists_go_live() -> None:
    live = MemoryKube()
    live.add_tuning_job(NS, "parent", spec_dict())
    expectations = Expectations()
    expectations.reconciled()
    kube = CachedKube(live, expectations, watched("1"), None, None)
    assert kube.get_tuning_job(NS, "parent") is not None
    kube.list_trial_jobs(NS, NAME)
    kube.list_trial_pods(NS, NAME)
    assert live.called("get_tuning_job") == ["parent"]
    assert live.called("list_trial_jobs") == [NAME] == live.called("list_trial_pods")


def test_after_a_write_the_cache_never_serves_the_older_status() -> None:
    live = MemoryKube()
    stored = live.add_tuning_job(NS, NAME, spec_dict())
    expectations = Expectations()
    expectations.reconciled()
    kube = CachedKube(live, expectations, stored, [], [])
    version = stored["metadata"]["resourceVersion"]
    written = kube.patch_status(NS, NAME, version, {"phase": "InProgress"})

    # The watch has not delivered our write yet: plan from what we wrote.
    assert expectations.start(stored, []) == written
    # The watch caught up: its object is the one to plan from.
    assert expectations.start(written, []) == written

    kube.patch_status(NS, NAME, written["metadata"]["resourceVersion"], {"phase": "Failed"})
    # While that write is unseen, a version we know nothing of (someone else's change,
    # a watch that skipped ahead): read live.
    assert expectations.start(watched("999"), []) is None


def test_too_many_unseen_writes_switch_to_a_live_read_never_to_the_lagging_watch() -> None:
    expectations = Expectations()
    stale = watched("1")  # the watch delivers none of our writes
    for write in range(expectations_module.MAX_UNSEEN_WRITES + 1):
        expectations.start(stale, [])
        expectations.wrote(watched(f"w{write}"))
        expectations.reconciled()
    assert expectations.start(stale, []) is None


def test_a_tuning_job_read_live_is_planned_from_while_the_watch_lags_behind_it() -> None:
    live = MemoryKube()
    stale = live.add_tuning_job(NS, NAME, spec_dict())
    expectations = Expectations()
    CachedKube(live, expectations, stale, [], []).get_tuning_job(NS, NAME)  # the first: live
    expectations.reconciled()
    kube = CachedKube(live, expectations, stale, [], [])
    written = kube.patch_status(NS, NAME, stale["metadata"]["resourceVersion"], {"phase": "A"})
    expectations.reconciled()
    # A resync reads live (as handlers._Daemon does), while the watch still shows `stale`.
    expectations.conflicted()
    assert CachedKube(live, expectations, stale, None, None).get_tuning_job(NS, NAME) == written
    expectations.reconciled()
    gets = len(live.called("get_tuning_job"))
    # Woken by a trial's pod, the watch still lagging: what was read live, not `stale`.
    assert CachedKube(live, expectations, stale, [], []).get_tuning_job(NS, NAME) == written
    assert len(live.called("get_tuning_job")) == gets
    # The watch catches up, then shows an older version again (a re-list from a lagging
    # API server): not sure, read live.
    assert expectations.start(written, []) == written
    assert expectations.start(stale, []) is None


def test_after_a_resync_a_lagging_watch_never_deletes_or_recreates_trial_jobs() -> None:
    """A plan that changes nothing in the status writes nothing, so no resourceVersion
    precondition stops the Jobs it creates or deletes: it must not be made from a
    TuningJob older than one the daemon has written or read live."""
    now = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    live = MemoryKube()
    live.add_tuning_job(NS, NAME, spec_dict())  # 2 trials in parallel
    expectations = Expectations()

    def run(watched: dict[str, Any], *, resync: bool = False) -> None:
        """One reconcile, as handlers._Daemon drives it."""
        if resync:
            expectations.conflicted()
        jobs = None if resync else copy.deepcopy(list(live.jobs.values()))
        pods = None if resync else copy.deepcopy(list(live.pods.values()))
        reconcile(CachedKube(live, expectations, watched, jobs, pods), NS, NAME, now=now)
        expectations.reconciled()

    def pod(job: str, state: dict[str, Any]) -> None:
        manifest = live.jobs[(NS, job)]
        live.pods[(NS, f"{job}-pod")] = {
            "metadata": {
                "namespace": NS,
                "name": f"{job}-pod",
                "uid": f"uid-{job}-pod",
                "labels": dict(manifest["metadata"]["labels"]),
                "ownerReferences": [{"kind": "Job", "uid": manifest["metadata"]["uid"]}],
                "creationTimestamp": "2026-01-01T00:00:01Z",
            },
            "status": {
                "phase": "Running" if "running" in state else "Pending",
                "containerStatuses": [{"name": "trainer", "state": state}],
            },
        }

    run(copy.deepcopy(live.tuning_jobs[(NS, NAME)]))  # tj-001 and tj-002 created
    pod("tj-001", {"running": {}})
    pod("tj-002", {"waiting": {"reason": "ContainerCreating"}})
    run(copy.deepcopy(live.tuning_jobs[(NS, NAME)]))
    stale = copy.deepcopy(live.tuning_jobs[(NS, NAME)])  # the TuningJob watch stops here
    pod("tj-002", {"waiting": {"reason": "InvalidImageName"}})  # it can never start
    run(stale)  # tj-002 Failed and its Job deleted, tj-003 recorded and created
    assert [t["phase"] for t in live.status(NS, NAME)["trials"]] == ["Running", "Failed", "Pending"]
    run(stale, resync=True)  # reads that status live; nothing to write
    pod("tj-003", {"running": {}})
    run(stale)  # woken by tj-003's pod, the TuningJob watch still lagging
    assert (NS, "tj-003") in live.jobs  # a recorded trial's Job, not a leftover
    assert (NS, "tj-002") not in live.jobs  # a Failed trial's Job, not one to create


def test_a_job_created_a_moment_ago_is_not_created_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(expectations_module.time, "monotonic", lambda: clock[0])
    live = MemoryKube()
    expectations = Expectations()
    expectations.reconciled()
    kube = CachedKube(live, expectations, watched("1"), [], [])
    assert kube.create_job(NS, job_manifest("tj-001"))
    # The next reconcile's snapshot does not show the Job yet: no second request.
    kube = CachedKube(live, expectations, watched("1"), [], [])
    assert not kube.create_job(NS, job_manifest("tj-001"))
    assert live.called("create_job") == ["tj-001"]
    # Long unseen, the expectation expires: created again (AlreadyExists: False).
    clock[0] += expectations_module.CREATE_EXPECTATION_S + 1
    kube = CachedKube(live, expectations, watched("1"), [], [])
    assert not kube.create_job(NS, job_manifest("tj-001"))
    assert live.called("create_job") == ["tj-001", "tj-001"]


def test_a_job_seen_by_the_watch_is_no_longer_expected() -> None:
    expectations = Expectations()
    expectations.create("tj-001")
    expectations.start(watched("1"), [{"metadata": {"name": "tj-001"}}])
    assert not expectations.created("tj-001")
