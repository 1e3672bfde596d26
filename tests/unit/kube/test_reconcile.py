"""reconcile() against an in-memory KubeClient: the order of its effects, and what a
conflict or a failed Job creation leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes.client.exceptions import ApiException
from kubetune.operator.kube import ConflictError, reconcile
from support.memory_kube import MemoryKube
from support.specs import spec_dict

NS, NAME = "ns", "tj"
NOW = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)


def new_job(**overrides: object) -> MemoryKube:
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(**overrides))
    return kube


def trial_names(kube: MemoryKube) -> list[str]:
    return [t["name"] for t in kube.status(NS, NAME).get("trials", [])]


def test_the_status_is_written_before_any_job_is_created() -> None:
    kube = new_job()
    result = reconcile(kube, NS, NAME, now=NOW)
    created = kube.called("create_job")
    assert created == ["tj-001", "tj-002"] == list(result.launched)
    verbs = [verb for verb, _ in kube.calls]
    assert verbs.index("patch_status") < verbs.index("create_job")
    # What was recorded first is exactly what was then created.
    assert trial_names(kube) == created
    assert {name for _, name in kube.jobs} == set(created)


def test_after_a_write_conflict_nothing_else_happens() -> None:
    kube = new_job()
    kube.conflict_on_patch = True
    with pytest.raises(ConflictError):
        reconcile(kube, NS, NAME, now=NOW)
    assert kube.calls[-1] == ("patch_status", NAME)
    assert not kube.jobs and not kube.called("create_job") and not kube.called("delete_job")
    assert kube.status(NS, NAME) == {}  # the other writer's status, untouched

    # The next pass reads the new version and goes on.
    reconcile(kube, NS, NAME, now=NOW)
    assert {name for _, name in kube.jobs} == {"tj-001", "tj-002"}


def test_a_failed_job_creation_is_retried_on_the_next_pass_exactly_once() -> None:
    kube = new_job()
    kube.fail_create = {"tj-001"}
    with pytest.raises(ApiException):
        reconcile(kube, NS, NAME, now=NOW)
    assert trial_names(kube) == ["tj-001", "tj-002"]  # recorded before the failure
    assert not kube.jobs

    reconcile(kube, NS, NAME, now=NOW)
    assert kube.called("create_job") == ["tj-001", "tj-001", "tj-002"]
    assert {name for _, name in kube.jobs} == {"tj-001", "tj-002"}

    reconcile(kube, NS, NAME, now=NOW)  # the Jobs exist: nothing is created again
    assert kube.called("create_job") == ["tj-001", "tj-001", "tj-002"]
    assert trial_names(kube) == ["tj-001", "tj-002"]


def test_a_succeeded_trial_is_read_from_its_log_and_its_slot_refilled() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"epoch 1\nloss=0.75\nloss=0.5\n")
    result = reconcile(kube, NS, NAME, now=NOW)
    first = kube.status(NS, NAME)["trials"][0]
    assert (first["phase"], first["objective"], first["intermediateCount"]) == (
        "Succeeded",
        0.5,
        2,
    )
    assert result.launched == ("tj-003",)
    assert any(event.reason == "TrialCompleted" for event in result.events)


def test_a_job_the_api_server_refuses_fails_the_tuning_job_as_invalid() -> None:
    kube = new_job()
    kube.reject_create = {"tj-001"}
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and status["phase"] == "Failed"
    invalid = next(c for c in status["conditions"] if c["type"] == "Invalid")
    assert "spec.trialTemplate.job" in invalid["message"] and "tj-001" in invalid["message"]


def test_an_invalid_spec_is_recorded_and_nothing_is_created() -> None:
    kube = new_job(metrics=[{"name": "loss", "regex": "loss=[0-9.]+"}])  # no capture group
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and status["phase"] == "Failed" and not kube.jobs
    assert "spec.metrics[0].regex" in status["message"]


def test_a_deleted_tuning_job_is_gone() -> None:
    kube = MemoryKube()
    result = reconcile(kube, NS, NAME, now=NOW)
    assert result.gone and result.terminal and kube.calls == [("get_tuning_job", NAME)]


def run_pod(kube: MemoryKube, job: str, log: bytes) -> None:
    """The Job's pod is running and has printed `log` so far."""
    kube.finish_job(NS, job, log)
    pod = kube.pods[(NS, f"{job}-pod")]
    pod["status"] = {
        "phase": "Running",
        "containerStatuses": [{"name": "trainer", "state": {"running": {}}}],
    }


def test_hyperband_reads_running_logs_records_the_rung_values_then_deletes_the_loser() -> None:
    kube = new_job(
        strategy="Hyperband",
        staticHyperparameters={"epochs": "9"},
        limits={"maxTrials": 4, "maxParallelTrials": 2},
    )
    reconcile(kube, NS, NAME, now=NOW)
    run_pod(kube, "tj-001", b"loss=0.5\n")
    run_pod(kube, "tj-002", b"loss=0.9\nloss=0.8\n")
    kube.calls.clear()
    reconcile(kube, NS, NAME, now=NOW)
    first, second = kube.status(NS, NAME)["trials"][:2]
    assert (first["rungValues"], first["rungSeqs"], first["phase"]) == ([0.5], [0], "Running")
    assert (second["rungValues"], second["rungSeqs"]) == ([0.9], [1])
    assert (second["phase"], second["reason"], second["epochs"]) == (
        "EarlyStopped",
        "StoppedAtRung0",
        2,
    )
    assert kube.status(NS, NAME)["epochsConsumed"] == 2
    verbs = [(verb, name) for verb, name in kube.calls if verb in ("patch_status", "delete_job")]
    assert verbs[:2] == [("patch_status", NAME), ("delete_job", "tj-002")]
