"""reconcile() deletes only the trial Jobs its TuningJob owns (QA99 H2): the end of a job
deletes every unfinished trial's Job by name, also one its snapshot does not show, and a
Job of such a name may be a user's own (made by hand, or orphaned by a TuningJob of the
same name deleted with --cascade=orphan)."""

from __future__ import annotations

from datetime import UTC, datetime

from kubetune.operator.kube import reconcile
from support.memory_kube import MemoryKube
from support.specs import spec_dict

NS, NAME = "ns", "tj"
NOW = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def users_job(kube: MemoryKube, name: str) -> dict[str, object]:
    """A Job of the name `name` that no TuningJob owns (no labels, no owner)."""
    job: dict[str, object] = {"metadata": {"namespace": NS, "name": name, "uid": f"user-{name}"}}
    kube.jobs[(NS, name)] = job
    return job


def test_a_name_clash_fails_the_job_and_deletes_none_of_the_users_jobs() -> None:
    """The report's repro: users' Jobs named like the first two trials."""
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(limits={"maxTrials": 4, "maxParallelTrials": 2}))
    first, second = users_job(kube, "tj-001"), users_job(kube, "tj-002")
    kube.taken = {"tj-001", "tj-002"}
    assert reconcile(kube, NS, NAME, now=NOW).terminal
    status = kube.status(NS, NAME)
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    assert [t["phase"] for t in status["trials"]] == ["Stopped", "Stopped"]
    assert kube.called("delete_job") == ["tj-002"]  # asked: its Job may be the trial's
    assert kube.jobs[(NS, "tj-001")] is first and kube.jobs[(NS, "tj-002")] is second


def test_a_stop_deletes_its_own_jobs_and_not_a_users_job_of_a_trials_name() -> None:
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(limits={"maxTrials": 4, "maxParallelTrials": 2}))
    reconcile(kube, NS, NAME, now=NOW)
    assert sorted(name for _, name in kube.jobs) == ["tj-001", "tj-002"]
    # tj-002 deleted by someone, and a user's Job created under its name: the watch shows
    # no trial Job tj-002 (no label), so the stop deletes it by name, unseen.
    user = users_job(kube, "tj-002")
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    assert reconcile(kube, NS, NAME, now=NOW).terminal
    assert sorted(kube.called("delete_job")) == ["tj-001", "tj-002"]
    assert (NS, "tj-001") not in kube.jobs
    assert kube.jobs[(NS, "tj-002")] is user
