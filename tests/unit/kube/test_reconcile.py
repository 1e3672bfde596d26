"""reconcile() against an in-memory KubeClient: the order of its effects, and what a
conflict or a failed Job creation leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes.client.exceptions import ApiException
from kubetune.operator.controller import Event
from kubetune.operator.kube import ActingFailedError, ConflictError, reconcile
from kubetune.operator.kube.curves import CURVES
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
    first = kube.status(NS, NAME)["trials"][0]["hyperparameters"]
    announced = " ".join(f"{k}={v}" for k, v in first.items())
    assert result.events[0] == Event("Normal", "TrialCreated", f"trial tj-001: {announced}")
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
    with pytest.raises(ActingFailedError) as raised:  # with the Events of what it recorded
        reconcile(kube, NS, NAME, now=NOW)
    assert isinstance(raised.value.__cause__, ApiException)
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


# As `Kube.pod_creation_refusal` gives them (`observe.latest_refusal`).
QUOTA_REFUSAL = "exceeded quota: trials, requested: pods=1, used: pods=1, limited: pods=1"
POD_SECURITY_REFUSAL = (
    'violates PodSecurity "restricted:latest": runAsNonRoot != true (pod or container '
    '"trainer" must set securityContext.runAsNonRoot=true)'
)


def at_second(second: int) -> datetime:
    """A moment `second` seconds after MemoryKube creates every Job (00:00:00)."""
    return datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)


def job_uid(kube: MemoryKube, job: str) -> str:
    return str(kube.jobs[(NS, job)]["metadata"]["uid"])


def test_a_trial_whose_pod_a_quota_refuses_waits_saying_why_until_it_runs() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)  # creates the Jobs, stamped 00:00:00
    # Too young to ask why they have no pod yet: asked when they are 10 s old.
    early = reconcile(kube, NS, NAME, now=at_second(7))
    assert kube.called("pod_creation_refusal") == []
    assert early.requeue_after == pytest.approx(3.0)

    kube.pod_refusals[job_uid(kube, "tj-001")] = QUOTA_REFUSAL
    result = reconcile(kube, NS, NAME, now=at_second(10))
    status = kube.status(NS, NAME)
    first, second = status["trials"]
    assert (first["phase"], first["reason"]) == ("Pending", "FailedCreate")
    assert first["message"] == f"waiting for its pod: {QUOTA_REFUSAL}"
    assert second["phase"] == "Pending" and "message" not in second  # no refusal: no word
    assert status["phase"] == "InProgress" and not result.terminal
    assert (
        f"; trial tj-001 is waiting for its pod: {QUOTA_REFUSAL} (no trial is"
        in (status["message"])
    )
    refused = [e for e in result.events if e.reason == "TrialPodRefused"]
    assert [e.message for e in refused] == [f"trial tj-001: waiting for its pod: {QUOTA_REFUSAL}"]

    # Still refused: no second Event; tj-002 ends, and its slot is held for tj-001 (a new
    # trial's pod would take the room the quota frees first).
    kube.finish_job(NS, "tj-002", b"loss=0.5\n")
    again = reconcile(kube, NS, NAME, now=at_second(11))
    assert not [e for e in again.events if e.reason == "TrialPodRefused"]
    assert again.launched == () and trial_names(kube) == ["tj-001", "tj-002"]

    # Its Events expire (an hour by default) while it still has no pod: the refusal stays
    # the trial's word, and its slot stays held.
    del kube.pod_refusals[job_uid(kube, "tj-001")]
    expired = reconcile(kube, NS, NAME, now=at_second(13))
    status = kube.status(NS, NAME)
    assert status["trials"][0]["message"] == f"waiting for its pod: {QUOTA_REFUSAL}"
    assert QUOTA_REFUSAL in status["message"] and expired.launched == ()

    # The quota lets its pod in: it runs, the refusal is gone from both messages, and
    # launching goes on.
    run_pod(kube, "tj-001", b"")
    resumed = reconcile(kube, NS, NAME, now=at_second(14))
    status = kube.status(NS, NAME)
    assert status["trials"][0]["phase"] == "Running" and "message" not in status["trials"][0]
    assert "waiting" not in status["message"]
    assert resumed.launched == ("tj-003",)


def test_a_slot_that_frees_within_the_grace_is_not_given_before_a_refused_trial() -> None:
    """A short trial ends 3 s after its sibling's pod was first refused: the refusal is
    asked about then, not after the 10 s grace, and the slot waits for the refused one
    (else tj-003's pod would take the room the quota freed)."""
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)  # tj-001 and tj-002, stamped 00:00:00
    kube.pod_refusals[job_uid(kube, "tj-002")] = QUOTA_REFUSAL
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    result = reconcile(kube, NS, NAME, now=at_second(3))
    status = kube.status(NS, NAME)
    assert (status["trials"][1]["phase"], status["trials"][1]["reason"]) == (
        "Pending",
        "FailedCreate",
    )
    assert result.launched == () and trial_names(kube) == ["tj-001", "tj-002"]


def test_a_trial_pod_refused_by_pod_security_fails_the_job_naming_the_fix() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=at_second(1))
    kube.pod_refusals[job_uid(kube, "tj-002")] = POD_SECURITY_REFUSAL
    result = reconcile(kube, NS, NAME, now=at_second(10))
    status = kube.status(NS, NAME)
    assert result.terminal and (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    invalid = next(c for c in status["conditions"] if c["type"] == "Invalid")
    assert invalid["message"].startswith(
        "spec.trialTemplate.job: the namespace's Pod Security level refuses the pod of "
        f"trial Job tj-002: {POD_SECURITY_REFUSAL}; change what it names in the template "
        "(the restricted level needs runAsNonRoot: true"
    )
    assert {t["phase"] for t in status["trials"]} == {"Stopped"}
    assert sorted(kube.called("delete_job")) == ["tj-001", "tj-002"] and not kube.jobs


def test_pods_refused_by_pod_security_are_one_problem_with_the_fix_it_names() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=at_second(1))
    host_network = 'violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true)'
    for job in ("tj-001", "tj-002"):
        kube.pod_refusals[job_uid(kube, job)] = host_network
    reconcile(kube, NS, NAME, now=at_second(10))
    assert kube.status(NS, NAME)["message"] == (
        "spec.trialTemplate.job: the namespace's Pod Security level refuses the pods of "
        f"trial Jobs tj-001, tj-002: {host_network}; change what it names in the template "
        "in a new TuningJob, or run it in a namespace whose "
        "pod-security.kubernetes.io/enforce level allows it"
    )  # no runAsNonRoot advice: the template is refused for something else


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


def test_every_metric_of_a_succeeded_trial_is_recorded_from_its_log() -> None:
    """Log scan -> plan -> status: the objective in `objective`, the other metrics' last
    finite values in `metrics`; one that never matched, or is not a number, is left out."""
    kube = new_job(
        metrics=[
            {"name": "loss", "regex": r"loss=(\S+)"},
            {"name": "train:accuracy", "regex": r"acc=(\S+)"},
            {"name": "seconds", "regex": r"took=(\S+)"},
            {"name": "never", "regex": r"never=(\S+)"},
            {"name": "broken", "regex": r"broken=(\S+)"},
        ]
    )
    reconcile(kube, NS, NAME, now=NOW)
    log = b"acc=0.5 loss=0.9\nacc=0.75 loss=0.25 took=12\nbroken=nan\n"
    kube.finish_job(NS, "tj-001", log)
    reconcile(kube, NS, NAME, now=NOW)
    first = kube.status(NS, NAME)["trials"][0]
    assert first["phase"] == "Succeeded" and first["objective"] == 0.25
    assert first["metrics"] == {"train:accuracy": 0.75, "seconds": 12.0}
    running = kube.status(NS, NAME)["trials"][1]
    assert "metrics" not in running


def test_the_metrics_of_a_trial_without_an_objective_are_kept() -> None:
    kube = new_job(
        metrics=[
            {"name": "loss", "regex": r"loss=(\S+)"},
            {"name": "accuracy", "regex": r"acc=(\S+)"},
        ]
    )
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"acc=0.5\n")
    reconcile(kube, NS, NAME, now=NOW)
    first = kube.status(NS, NAME)["trials"][0]
    assert (first["phase"], first["reason"]) == ("Failed", "MetricUnavailable")
    assert first["metrics"] == {"accuracy": 0.5}


def parent_job(kube: MemoryKube, name: str, **overrides: object) -> None:
    kube.add_tuning_job(NS, name, spec_dict(**overrides))
    kube.tuning_jobs[(NS, name)]["status"] = {
        "phase": "Completed",
        "trials": [
            {
                "name": f"{name}-001",
                "phase": "Succeeded",
                "objective": 0.1,
                "hyperparameters": {"lr": "0.5", "layers": "2", "opt": "sgd"},
            },
        ],
    }


def test_a_matching_warm_start_parent_is_used() -> None:
    kube = MemoryKube()
    parent_job(kube, "parent")
    kube.add_tuning_job(NS, NAME, spec_dict(warmStart={"parents": ["parent"]}))
    result = reconcile(kube, NS, NAME, now=NOW)
    assert not result.terminal and kube.status(NS, NAME)["phase"] == "InProgress"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (
            {"parameters": [{"name": "lr", "type": "Continuous", "min": 0.001, "max": 1.0}]},
            "parent 'parent' has other parameters (lr: Continuous) than this job "
            "(lr: Continuous, layers: Integer, opt: Categorical)",
        ),
        (
            {
                "parameters": [
                    {"name": "lr", "type": "Continuous", "min": 0.001, "max": 1.0},
                    {"name": "layers", "type": "Continuous", "min": 1, "max": 4},
                    {"name": "opt", "type": "Categorical", "values": ["sgd", "adam"]},
                ]
            },
            "layers: Continuous",
        ),
        (
            {"objective": {"metric": "loss", "type": "Maximize"}},
            "parent 'parent' has another objective (Maximize loss) than this job (Minimize loss)",
        ),
    ],
    ids=["parameter-names", "parameter-type", "objective-direction"],
)
def test_a_warm_start_parent_that_does_not_match_makes_the_job_invalid(
    overrides: dict[str, object], fragment: str
) -> None:
    kube = MemoryKube()
    parent_job(kube, "parent", **overrides)
    kube.add_tuning_job(NS, NAME, spec_dict(warmStart={"parents": ["parent"]}))
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and status["phase"] == "Failed" and not kube.jobs
    invalid = next(c for c in status["conditions"] if c["type"] == "Invalid")
    assert invalid["message"].startswith("spec.warmStart.parents: parent 'parent'")
    assert fragment in invalid["message"]
    assert "same parameters and objective" in invalid["message"]


@pytest.mark.parametrize(
    ("parent", "fragment"),
    [
        ("no-such-job", "parent 'no-such-job': no TuningJob ns/no-such-job; fix the name"),
        (NAME, f"parent '{NAME}' is this TuningJob itself"),
    ],
    ids=["missing", "itself"],
)
def test_a_warm_start_parent_that_is_missing_or_the_job_itself_makes_it_invalid(
    parent: str, fragment: str
) -> None:
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(warmStart={"parents": [parent]}))
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and status["phase"] == "Failed" and not kube.jobs
    invalid = next(c for c in status["conditions"] if c["type"] == "Invalid")
    assert fragment in invalid["message"]


def test_a_warm_start_parent_deleted_after_the_first_trial_is_let_go() -> None:
    kube = MemoryKube()
    parent_job(kube, "parent")
    kube.add_tuning_job(NS, NAME, spec_dict(warmStart={"parents": ["parent"]}))
    reconcile(kube, NS, NAME, now=NOW)
    del kube.tuning_jobs[(NS, "parent")]
    result = reconcile(kube, NS, NAME, now=NOW)
    assert not result.terminal and kube.status(NS, NAME)["phase"] == "InProgress"


def test_stop_stops_the_running_trials_and_ends_the_job_stopped_by_user() -> None:
    kube = new_job(limits={"maxTrials": 4, "maxParallelTrials": 2})
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    reconcile(kube, NS, NAME, now=NOW)  # tj-001 recorded, tj-003 launched
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and not result.launched
    assert (status["phase"], status["reason"]) == ("Stopped", "StoppedByUser")
    phases = {t["name"]: (t["phase"], t.get("reason")) for t in status["trials"]}
    assert phases == {
        "tj-001": ("Succeeded", None),
        "tj-002": ("Stopped", "StoppedByUser"),
        "tj-003": ("Stopped", "StoppedByUser"),
    }
    assert status["counters"]["stopped"] == 2 and status["counters"]["completed"] == 1
    assert sorted(kube.called("delete_job")) == ["tj-002", "tj-003"]
    assert not kube.jobs or all(name not in {"tj-002", "tj-003"} for _, name in kube.jobs)
    assert status["bestTrial"]["name"] == "tj-001"
    assert (
        status["message"]
        == "spec.stop is true: stopped by the user; 2 unfinished trials were stopped"
    )


def test_stop_says_how_many_trials_it_stopped_in_words_that_fit_none_and_one() -> None:
    kube = new_job(limits={"maxTrials": 4, "maxParallelTrials": 1})
    reconcile(kube, NS, NAME, now=NOW)  # tj-001 launched
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    reconcile(kube, NS, NAME, now=NOW)
    message = "spec.stop is true: stopped by the user; 1 unfinished trial was stopped"
    assert kube.status(NS, NAME)["message"] == message
    kube = new_job(limits={"maxTrials": 4, "maxParallelTrials": 1})
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True  # before tj-002 is launched
    reconcile(kube, NS, NAME, now=NOW)
    message = "spec.stop is true: stopped by the user; no trial was running"
    assert kube.status(NS, NAME)["message"] == message


def test_stop_on_a_job_that_already_ended_keeps_its_phase() -> None:
    kube = new_job(limits={"maxTrials": 1, "maxParallelTrials": 1})
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    reconcile(kube, NS, NAME, now=NOW)
    assert kube.status(NS, NAME)["reason"] == "MaxTrialsReached"
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert (status["phase"], status["reason"]) == ("Completed", "MaxTrialsReached")
    assert status["trials"][0]["phase"] == "Succeeded"


def test_stop_beats_suspend_and_launches_nothing() -> None:
    kube = new_job(suspend=True)
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    result = reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert result.terminal and not kube.called("create_job")
    assert (status["phase"], status["reason"]) == ("Stopped", "StoppedByUser")
    assert status.get("trials", []) == []
    # Not "0 unfinished trials were stopped".
    assert (
        status["message"] == "spec.stop is true: stopped by the user before any trial was launched"
    )


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
    verbs = [
        (verb, name)
        for verb, name in kube.calls
        if verb in ("patch_status", "delete_job", "create_job")
    ]
    # The loser's Job goes before the trial taking its slot is created: that one's pod
    # must find the GPU (and a quota's room) free.
    assert verbs[:3] == [("patch_status", NAME), ("delete_job", "tj-002"), ("create_job", "tj-003")]


def test_after_a_restart_the_median_rule_judges_only_with_all_its_peers_read_again() -> None:
    """The succeeded trials' curves (the median rule's peers) live in memory: a restarted
    operator reads them again, 8 logs per reconcile, and judges nobody until it has them
    all, so it decides as it would have without the restart. On the latest 8 peers alone
    (median 3) it would stop the running trial (best 4); on all 10 (median 5) it does not."""
    CURVES.forget(NS, NAME)
    kube = new_job(earlyStopping="Auto", limits={"maxTrials": 11, "maxParallelTrials": 11})
    reconcile(kube, NS, NAME, now=NOW)
    for i, value in enumerate([5, 5, 1, 1, 1, 1, 5, 5, 5, 5], start=1):
        kube.finish_job(NS, f"tj-{i:03d}", b"loss=%d\nloss=%d\n" % (value, value))
    reconcile(kube, NS, NAME, now=NOW)
    assert kube.status(NS, NAME)["counters"]["completed"] == 10
    run_pod(kube, "tj-011", b"loss=4\nloss=4\n")

    def running() -> bool:
        return bool(kube.status(NS, NAME)["trials"][10]["phase"] == "Running")

    reconcile(kube, NS, NAME, now=NOW)
    assert running()  # without a restart: judged against all 10 peers, goes on
    CURVES.forget(NS, NAME)  # a restart: the peers' curves are gone
    kube.calls.clear()
    reconcile(kube, NS, NAME, now=NOW)
    assert len(kube.called("stream_log")) == 1 + 8  # the running log and 8 peers'
    assert running()  # not judged on the 8 latest peers
    reconcile(kube, NS, NAME, now=NOW)
    assert running()  # judged on all 10 again: goes on, as without the restart
    assert {f"tj-{i:03d}-pod" for i in range(1, 11)} <= set(kube.called("stream_log"))
    CURVES.forget(NS, NAME)


def test_a_job_refused_mid_run_ends_the_job_and_deletes_its_running_trials_jobs() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    run_pod(kube, "tj-002", b"loss=1.0\n")
    kube.reject_create = {"tj-003"}
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    result = reconcile(kube, NS, NAME, now=NOW)  # tj-001 ends, tj-003 is refused
    status = kube.status(NS, NAME)
    assert result.terminal and (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    assert {t["name"]: t["phase"] for t in status["trials"]}["tj-002"] == "Stopped"
    assert (NS, "tj-002") not in kube.jobs  # recorded Stopped: its pod must not train on
    # tj-001's completion is announced; tj-003, refused, was never created.
    assert [e.reason for e in result.events] == ["TrialCompleted", "InvalidSpec"]


def test_a_job_name_taken_by_another_s_job_fails_the_job_and_leaves_that_job_alone() -> None:
    kube = new_job(limits={"maxTrials": 3, "maxParallelTrials": 1})
    reconcile(kube, NS, NAME, now=NOW)
    squatter = {"metadata": {"name": "tj-002", "uid": "someone-else"}}
    kube.jobs[(NS, "tj-002")] = squatter
    kube.taken = {"tj-002"}
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    assert reconcile(kube, NS, NAME, now=NOW).terminal
    assert kube.status(NS, NAME)["reason"] == "InvalidSpec"
    assert kube.jobs[(NS, "tj-002")] is squatter  # not ours: never deleted


def test_a_stop_deletes_the_jobs_its_snapshot_does_not_show_and_a_restart_the_waiting_ones() -> (
    None
):
    """The last reconcile of a job deletes every unfinished trial's Job, also one the
    watch has not shown yet; after a crash before it did, the restarted operator deletes
    the Jobs still waiting for a pod, which would start training when a GPU frees."""
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    hidden = kube.jobs.pop((NS, "tj-002"))  # created, not yet in the Jobs watch's cache
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    real_delete, deleted = kube.delete_job, []

    def crash_after_the_first(namespace: str, name: str, owner_uid: str) -> None:
        if deleted:
            raise KeyboardInterrupt  # the operator is killed here
        deleted.append(name)
        real_delete(namespace, name, owner_uid)

    kube.delete_job = crash_after_the_first  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        reconcile(kube, NS, NAME, now=NOW)
    assert deleted == ["tj-001"] and kube.status(NS, NAME)["phase"] == "Stopped"
    kube.jobs[(NS, "tj-002")] = hidden  # the restarted operator's cache has it, waiting
    kube.delete_job = real_delete  # type: ignore[method-assign]
    assert reconcile(kube, NS, NAME, now=NOW).terminal
    assert (NS, "tj-002") not in kube.jobs


def test_the_events_of_a_written_status_survive_an_api_error_after_the_write() -> None:
    """The next reconcile plans from the written status, where tj-001 has already
    succeeded: it would never announce it. The failed reconcile hands its Events over."""
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"loss=0.5\n")
    kube.fail_create = {"tj-003"}
    with pytest.raises(ActingFailedError) as raised:
        reconcile(kube, NS, NAME, now=NOW)
    assert isinstance(raised.value.__cause__, ApiException)
    assert kube.status(NS, NAME)["trials"][0]["phase"] == "Succeeded"
    assert [e.reason for e in raised.value.events] == ["TrialCompleted", "TrialCreated"]
    assert raised.value.body["metadata"]["name"] == NAME
    assert [e.reason for e in reconcile(kube, NS, NAME, now=NOW).events] == []


def waits_for_its_image(kube: MemoryKube, job: str, reason: str, message: str) -> None:
    """The Job's pod was bound to a node at 00:00:01 and cannot pull its image."""
    kube.finish_job(NS, job, b"")
    kube.pods[(NS, f"{job}-pod")]["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:01Z",
            }
        ],
        "containerStatuses": [
            {"name": "trainer", "state": {"waiting": {"reason": reason, "message": message}}}
        ],
    }


RATE_LIMITED = (
    'Back-off pulling image "docker.io/team/trainer:1": ErrImagePull: failed to pull and unpack '
    'image "docker.io/team/trainer:1": failed to copy: httpReadSeeker: failed open: unexpected '
    "status code https://registry-1.docker.io/v2/team/trainer/manifests/sha256:0f: 429 Too Many "
    "Requests - Server message: toomanyrequests: You have reached your pull rate limit"
)


def test_a_registry_hiccup_keeps_its_trial_pending_until_the_pull_deadline_then_fails_it() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    waits_for_its_image(kube, "tj-001", "ImagePullBackOff", RATE_LIMITED)
    result = reconcile(kube, NS, NAME, now=at_second(30))
    status = kube.status(NS, NAME)
    trial = status["trials"][0]
    assert (trial["phase"], trial["reason"]) == ("Pending", "ImagePullBackOff")
    assert trial["message"].startswith("waiting for its image: the pull is being retried")
    assert trial["message"].endswith("You have reached your pull rate limit")
    assert RATE_LIMITED in status["message"]  # the job's message quotes the kubelet whole
    assert not kube.called("delete_job")
    assert result.requeue_after == pytest.approx(5 * 60 + 1 - 30)  # woken at the deadline

    # The deadline is the pod's: a restarted operator, with nothing in memory, fails the
    # trial once it has passed, as the running one would have.
    reconcile(kube, NS, NAME, now=datetime(2026, 1, 1, 0, 5, 1, tzinfo=UTC))
    trial = kube.status(NS, NAME)["trials"][0]
    assert (trial["phase"], trial["reason"], trial["infrastructure"]) == (
        "Failed",
        "ImagePullBackOff",
        True,
    )
    assert trial["message"].startswith("not retried, spec.retry.maxAttempts 1: the image pull")
    assert trial["message"].endswith("You have reached your pull rate limit")
    assert kube.called("delete_job") == ["tj-001"]  # its pod would wait for ever


def test_an_image_the_registry_does_not_have_fails_its_trial_at_the_first_pull() -> None:
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    not_found = (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/team/'
        'trainr:1": failed to resolve reference "docker.io/team/trainr:1": not found'
    )
    waits_for_its_image(kube, "tj-001", "ErrImagePull", not_found)
    reconcile(kube, NS, NAME, now=at_second(2))
    trial = kube.status(NS, NAME)["trials"][0]
    assert (trial["phase"], trial["reason"]) == ("Failed", "ErrImagePull")
    whole = f"not retried, spec.retry.maxAttempts 1: {not_found}"
    assert trial["message"] == whole[:76] + "…" + whole[-51:]  # the end says why
    assert kube.called("delete_job") == ["tj-001"]


def test_a_running_trial_whose_pod_vanished_stays_running_until_its_job_says_how_it_ended() -> None:
    """Watch events in the order they may come: the pod runs, the pod is deleted, then the
    Job controller marks the Job failed. Between the last two the Job has no pod: the
    trial ran and has not ended, so it stays Running (Pending would say it never started,
    and a FailedCreate Event left from its start would be taken for why it waits)."""
    kube = new_job()
    reconcile(kube, NS, NAME, now=NOW)
    kube.pod_refusals[job_uid(kube, "tj-001")] = QUOTA_REFUSAL  # from before its pod got in
    phases: list[tuple[str, str | None, int]] = []

    def seen(second: int) -> None:
        reconcile(kube, NS, NAME, now=at_second(second))
        status = kube.status(NS, NAME)
        trial = status["trials"][0]
        phases.append((trial["phase"], trial.get("reason"), status["counters"]["running"]))

    run_pod(kube, "tj-001", b"loss=1.0\n")  # MODIFIED pod: Running
    seen(20)
    del kube.pods[(NS, "tj-001-pod")]  # DELETED pod (kubectl delete pod, a node lost)
    seen(21)
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    kube.jobs[(NS, "tj-001")]["status"]["conditions"] = [failed]  # MODIFIED Job: Failed
    seen(22)
    assert phases == [("Running", None, 1), ("Running", None, 1), ("Failed", "PodDeleted", 0)]


def test_a_job_that_ended_under_an_older_operator_gets_its_best_column_text() -> None:
    """An upgraded operator reconciles every TuningJob once at its start (kopf starts a
    daemon for each): one that had ended gets the Best column's text then."""
    kube = new_job(limits={"maxTrials": 1, "maxParallelTrials": 1})
    reconcile(kube, NS, NAME, now=NOW)
    kube.finish_job(NS, "tj-001", b"loss=0.9888888888888889\n")
    reconcile(kube, NS, NAME, now=NOW)
    assert kube.status(NS, NAME)["bestObjectiveText"] == "0.988889"
    del kube.tuning_jobs[(NS, NAME)]["status"]["bestObjectiveText"]  # as an older one wrote
    assert reconcile(kube, NS, NAME, now=NOW).terminal
    status = kube.status(NS, NAME)
    assert (status["phase"], status["bestObjective"]) == ("Completed", 0.9888888888888889)
    assert status["bestObjectiveText"] == "0.988889"


FINITE = [
    {"name": "layers", "type": "Integer", "min": 1, "max": 2},
    {"name": "opt", "type": "Categorical", "values": ["sgd", "adam"]},
]


def hyperband_parent(kube: MemoryKube) -> None:
    """A Hyperband parent (epochs 3: a rung at 1 epoch) that tried all 4 configurations:
    one trained to the end, three stopped at rung 0."""
    kube.add_tuning_job(NS, "hb", spec_dict(strategy="Hyperband", parameters=FINITE))
    kube.tuning_jobs[(NS, "hb")]["status"] = {
        "phase": "Completed",
        "trials": [
            {
                "name": f"hb-00{i}",
                "phase": "Succeeded" if i == 1 else "EarlyStopped",
                "objective": value,
                "rungValues": [rung],
                "rungSeqs": [i],
                "hyperparameters": {"layers": layers, "opt": opt},
            }
            for i, (layers, opt, rung, value) in enumerate(
                [
                    ("1", "sgd", 0.3, 0.1),
                    ("1", "adam", 0.9, 0.9),
                    ("2", "sgd", 0.8, 0.8),
                    ("2", "adam", 0.7, 0.7),
                ],
                start=1,
            )
        ],
    }


@pytest.mark.parametrize(
    "child",
    [{"strategy": "Bayesian"}, {"strategy": "Hyperband", "staticHyperparameters": {"epochs": "9"}}],
    ids=["bayesian", "hyperband-other-rungs"],
)
def test_a_hyperband_parents_trials_stopped_at_a_rung_are_not_final_results(
    child: dict[str, object],
) -> None:
    """QA82 M3: they were carried with their value after 1 epoch as if final (here as
    configurations tried too, so the child ended at once, SearchSpaceExhausted). Into a
    child that is not Hyperband with the same rungs only the trial trained to the end is
    carried: the child runs the three others."""
    kube = MemoryKube()
    hyperband_parent(kube)
    spec = spec_dict(parameters=FINITE, warmStart={"parents": ["hb"]}, **child)
    spec["limits"].update(maxTrials=4, maxParallelTrials=4)
    kube.add_tuning_job(NS, NAME, spec)
    reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert status["phase"] == "InProgress", status
    launched = [
        (t["hyperparameters"]["layers"], t["hyperparameters"]["opt"]) for t in status["trials"]
    ]
    assert sorted(launched) == [("1", "adam"), ("2", "adam"), ("2", "sgd")]


def test_a_hyperband_child_with_the_same_rungs_takes_every_trial_of_a_hyperband_parent() -> None:
    kube = MemoryKube()
    hyperband_parent(kube)
    kube.add_tuning_job(
        NS, NAME, spec_dict(strategy="Hyperband", parameters=FINITE, warmStart={"parents": ["hb"]})
    )
    reconcile(kube, NS, NAME, now=NOW)
    status = kube.status(NS, NAME)
    assert (status["phase"], status["reason"]) == ("Completed", "SearchSpaceExhausted"), status
    assert status["message"].endswith("after 0 trials and 4 warm-start trials"), status
