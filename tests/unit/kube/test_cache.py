"""CachedKube and Expectations: reads of one reconcile from the watches' cache, never
from a status older than our last write, and no Job created twice."""

from __future__ import annotations

from typing import Any

import pytest
from kubetune.operator.kube import CachedKube, Expectations
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


def test_too_many_unseen_writes_switch_to_live_reads() -> None:
    expectations = Expectations()
    expectations.reconciled()
    for version in range(expectations_module.MAX_UNSEEN_WRITES + 1):
        expectations.start(watched(str(version)), [])
        expectations.wrote(watched(f"w{version}"))
    assert expectations.start(watched("0"), []) is None


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
