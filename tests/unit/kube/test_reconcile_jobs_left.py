"""reconcile() when the API server refuses to delete trial Jobs (QA93 L3): the status said
Stopped, its trials Stopped, while their Jobs ran on; only a Forbidden Event told."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import TuningJobStatus
from kubetune.operator.controller.plan import jobs_left
from kubetune.operator.kube import ActingFailedError, reconcile
from support.memory_kube import MemoryKube
from support.specs import spec_dict

NS, NAME = "ns", "tj"
NOW = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
RBAC_REFUSAL = (
    'jobs.batch "{job}" is forbidden: User "system:serviceaccount:ns:kubetune" cannot delete '
    'resource "jobs" in API group "batch" in the namespace "ns"'
)
NOTE = (
    "2 trial Jobs could not be deleted yet (tj-001, tj-002): the operator may not delete "
    "jobs.batch in namespace ns (Forbidden); grant it `delete` on jobs.batch there "
    "(charts/kubetune/templates/rbac.yaml); the operator retries until they are gone"
)
STOPPED = "spec.stop is true: stopped by the user; 2 unfinished trials were stopped"


class RefusingKube(MemoryKube):
    """An API server whose RBAC refuses the operator `delete` on jobs while `refuse`."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = True

    def delete_job(self, namespace: str, name: str, owner_uid: str) -> None:
        if self.refuse:
            self.calls.append(("refused delete_job", name))
            error = ApiException(status=403, reason="Forbidden")
            error.body = json.dumps({"message": RBAC_REFUSAL.format(job=name)})
            raise error
        super().delete_job(namespace, name, owner_uid)


def refused_reconcile(kube: RefusingKube) -> None:
    """A reconcile that fails on the refusal (the daemon retries it with backoff)."""
    with pytest.raises((ApiException, ActingFailedError)) as raised:
        reconcile(kube, NS, NAME, now=NOW)
    error = raised.value.__cause__ if isinstance(raised.value, ActingFailedError) else raised.value
    assert isinstance(error, ApiException) and error.status == 403


def stopped_with_refused_deletes() -> RefusingKube:
    """tj-001 and tj-002 running, then spec.stop, their deletion refused."""
    kube = RefusingKube()
    kube.add_tuning_job(NS, NAME, spec_dict(limits={"maxTrials": 4, "maxParallelTrials": 2}))
    reconcile(kube, NS, NAME, now=NOW)
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    refused_reconcile(kube)
    return kube


def test_a_refused_deletion_is_said_in_the_status_until_the_jobs_are_gone() -> None:
    kube = stopped_with_refused_deletes()
    status = kube.status(NS, NAME)
    assert (status["phase"], status["reason"]) == ("Stopped", "StoppedByUser")
    assert status["message"] == f"{STOPPED}; {NOTE}"
    [left] = [c for c in status["conditions"] if c["type"] == "JobsLeft"]
    assert (left["status"], left["reason"], left["message"]) == ("True", "Forbidden", NOTE)
    assert {name for _, name in kube.jobs} == {"tj-001", "tj-002"}

    # Still refused (each retry, or an operator that restarted): said as it was, no write.
    writes = len(kube.called("patch_status"))
    refused_reconcile(kube)
    assert len(kube.called("patch_status")) == writes
    assert kube.status(NS, NAME) == status

    # Granted: the Jobs go, and the job is looked at once more to drop the note.
    kube.refuse = False
    result = reconcile(kube, NS, NAME, now=NOW)
    assert not kube.jobs and not result.terminal
    assert kube.status(NS, NAME)["message"] == f"{STOPPED}; {NOTE}"
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and status["message"] == STOPPED
    assert "JobsLeft" not in {c["type"] for c in status["conditions"]}
    assert (status["phase"], status["counters"]["stopped"]) == ("Stopped", 2)


def test_a_job_whose_deletion_is_refused_no_more_is_not_reconciled_again() -> None:
    """Without a note, an ended job's last deletion ends its daemon as before."""
    kube = RefusingKube()
    kube.refuse = False
    kube.add_tuning_job(NS, NAME, spec_dict(limits={"maxTrials": 4, "maxParallelTrials": 2}))
    reconcile(kube, NS, NAME, now=NOW)
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    result = reconcile(kube, NS, NAME, now=NOW)
    assert result.terminal and not kube.jobs
    assert kube.status(NS, NAME)["message"] == STOPPED


def test_the_note_names_the_jobs_left_and_quotes_a_refusal_not_rbacs() -> None:
    status = TuningJobStatus(message="3 trials running")
    names = [f"tj-{i:03}" for i in range(1, 8)]
    noted = jobs_left(status, names, "ns", "denied by policy no-deletes", NOW)
    assert noted.message == (
        "3 trials running; 7 trial Jobs could not be deleted yet (tj-001, tj-002, tj-003, "
        "tj-004, tj-005 and 2 more): the API server refuses it (HTTP 403: denied by policy "
        "no-deletes); the operator retries until they are gone"
    )
    # Said anew with fewer left: the message carries the latest note only.
    again = jobs_left(noted, names[5:], "ns", "denied by policy no-deletes", NOW)
    assert again.message is not None and again.message.count("could not be deleted") == 1
    assert again.message.startswith("3 trials running; 2 trial Jobs could not be deleted yet")
    assert status.message == "3 trials running" and not status.conditions  # not modified
