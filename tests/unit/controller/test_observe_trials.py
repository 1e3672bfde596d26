"""Step 1: trials take the state of their Jobs; leftover Jobs are deleted."""

from __future__ import annotations

from datetime import timedelta

from kubetune.operator.api import Phase, TrialPhase, TrialStatus, TuningJobStatus
from kubetune.operator.controller import (
    LOG_FORBIDDEN,
    POD_NOT_CREATED,
    JobObservation,
    ObjectiveOutcome,
)
from kubetune.operator.controller.observe_trials import (
    announce_completions,
    delete_leftover_jobs,
    observe_trials,
)
from support.decisions import T0, decision
from support.specs import make_spec


def pending(name: str, **kw: object) -> TrialStatus:
    return TrialStatus(name=name, hyperparameters={"lr": "0.1"}, **kw)  # type: ignore[arg-type]


def test_running_succeeded_and_unreadable_jobs() -> None:
    d = decision(
        make_spec(),
        [pending("tj-001"), pending("tj-002"), pending("tj-003")],
        [
            JobObservation("tj-001", "Running", started=T0),
            JobObservation("tj-002", "Succeeded", outcome=ObjectiveOutcome(0.25, 3)),
            JobObservation("tj-003", "Succeeded"),  # its log could not be read
        ],
    )
    observe_trials(d)
    one, two, three = d.status.trials
    assert (one.phase, one.start_time) == (TrialPhase.RUNNING, T0)
    assert (two.phase, two.objective, two.intermediate_count) == (TrialPhase.SUCCEEDED, 0.25, 3)
    assert (three.phase, three.reason) == (TrialPhase.FAILED, "MetricUnavailable")
    assert [e.reason for e in d.plan.events] == ["TrialFailed"]
    announce_completions(d)  # once the stopping rules have had their say
    assert [(e.reason, e.message) for e in d.plan.events[1:]] == [
        ("TrialCompleted", "trial tj-002: objective 0.25")
    ]
    assert not d.plan.launch


def test_a_succeeded_trial_keeps_the_note_on_metrics_that_never_matched() -> None:
    note = "metric acc never matched the log (no value recorded); check its regex"
    d = decision(
        make_spec(),
        [pending("tj-001")],
        [JobObservation("tj-001", "Succeeded", outcome=ObjectiveOutcome(0.25, 3, message=note))],
    )
    observe_trials(d)
    (trial,) = d.status.trials
    assert (trial.phase, trial.objective, trial.reason, trial.message) == (
        TrialPhase.SUCCEEDED,
        0.25,
        None,
        note,
    )


def test_a_trial_whose_pod_waits_for_a_node_stays_pending_saying_why() -> None:
    """Queued GPU trials are Pending, not Running: no start time, the scheduler's reason
    shown, and both dropped once the pod runs (its start is the trial's)."""
    why = "waiting for a node: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    waiting = JobObservation("tj-001", "Waiting", reason="Unschedulable", message=why)
    d = decision(make_spec(), [pending("tj-001")], [waiting])
    observe_trials(d)
    (trial,) = d.status.trials
    assert (trial.phase, trial.start_time, trial.reason, trial.message) == (
        TrialPhase.PENDING,
        None,
        "Unschedulable",
        why,
    )
    assert d.status.counters.pending == 1 and not d.plan.launch  # its Job exists
    started = T0 + timedelta(minutes=5)
    d = decision(
        make_spec(), [trial], [JobObservation("tj-001", "Running", started=started)], now=started
    )
    observe_trials(d)
    (trial,) = d.status.trials
    assert (trial.phase, trial.start_time, trial.reason, trial.message) == (
        TrialPhase.RUNNING,
        started,
        None,
        None,
    )


def test_an_infrastructure_failure_is_retried_while_attempts_remain() -> None:
    evicted = JobObservation("tj-001", "Failed", reason="Evicted", infrastructure=True)
    d = decision(make_spec(retry={"maxAttempts": 2}), [pending("tj-001")], [evicted])
    observe_trials(d)
    trial = d.status.trials[0]
    assert (trial.phase, trial.attempt, d.retried) == (TrialPhase.PENDING, 2, 1)
    assert [launch.job_name for launch in d.plan.launch] == ["tj-001-a2"]

    again = JobObservation("tj-001-a2", "Failed", reason="Evicted", infrastructure=True)
    d = decision(make_spec(retry={"maxAttempts": 2}), [trial], [again])
    observe_trials(d)
    assert (d.status.trials[0].phase, d.plan.launch) == (TrialPhase.FAILED, [])


def test_a_trainer_failure_is_never_retried() -> None:
    crashed = JobObservation("tj-001", "Failed", reason="Error", message="exit 3")
    d = decision(make_spec(retry={"maxAttempts": 3}), [pending("tj-001")], [crashed])
    observe_trials(d)
    assert (d.status.trials[0].phase, d.status.trials[0].reason) == (TrialPhase.FAILED, "Error")


def test_a_missing_job_is_created_for_a_pending_trial_and_fails_a_running_one() -> None:
    running = pending("tj-002", phase=TrialPhase.RUNNING)
    d = decision(make_spec(retry={"maxAttempts": 2}), [pending("tj-001"), running])
    observe_trials(d)
    assert [launch.job_name for launch in d.plan.launch] == ["tj-001"]  # not tj-002 again
    assert (d.status.trials[1].reason, d.status.trials[1].message) == (
        "JobDeleted",
        "Job tj-002 was deleted before it finished (not by the operator); not retried",
    )  # QA93 L5: whatever spec.retry says, which it did not say

    stopped = TuningJobStatus(phase=Phase.STOPPED)
    d = decision(make_spec(), [pending("tj-001")], status=stopped)
    observe_trials(d)
    assert not d.plan.launch  # a terminal job launches nothing


def test_jobs_of_finished_or_unknown_trials_are_deleted() -> None:
    done = pending("tj-001", phase=TrialPhase.SUCCEEDED, objective=1.0)
    d = decision(
        make_spec(),
        [done, pending("tj-002")],
        [
            JobObservation("tj-001", "Running"),
            JobObservation("tj-002", "Running"),
            JobObservation("stray", "Running"),
            JobObservation("tj-009", "Succeeded"),
        ],
    )
    delete_leftover_jobs(d)
    assert d.plan.delete == ["tj-001", "stray"]


def test_jobs_whose_pod_never_starts_are_deleted_once_their_trial_is_done() -> None:
    stuck = {"state": "Failed", "reason": "ImagePullBackOff", "infrastructure": True}
    d = decision(
        make_spec(),
        [
            pending("tj-001", phase=TrialPhase.FAILED, reason="ImagePullBackOff"),
            pending("tj-002", attempt=2),  # retried: its first attempt's Job is left over
            pending("tj-003"),
        ],
        [
            JobObservation("tj-001", pod_left=True, **stuck),  # type: ignore[arg-type]
            JobObservation("tj-002", pod_left=True, **stuck),  # type: ignore[arg-type]
            JobObservation("tj-003", pod_left=True, **stuck),  # type: ignore[arg-type]
            JobObservation("tj-004", **stuck),  # type: ignore[arg-type]
        ],
    )
    delete_leftover_jobs(d)
    # tj-003's trial is not finished yet (observe_trials decides first); tj-004 has no pod.
    assert d.plan.delete == ["tj-001", "tj-002"]


def test_a_running_trial_whose_job_lost_its_pod_stays_running_until_the_job_ends() -> None:
    """A Job with no pod: one not created yet keeps its trial Pending; one whose pod ran
    and was deleted, before the Job controller marked the Job failed, keeps it Running."""
    no_pod = {"state": "Waiting", "reason": POD_NOT_CREATED}
    d = decision(
        make_spec(),
        [pending("tj-001", phase=TrialPhase.RUNNING, start_time=T0), pending("tj-002")],
        [
            JobObservation("tj-001", **no_pod),  # type: ignore[arg-type]
            JobObservation("tj-002", **no_pod),  # type: ignore[arg-type]
        ],
    )
    observe_trials(d)
    running, waiting = d.status.trials
    assert (running.phase, running.start_time, running.reason) == (TrialPhase.RUNNING, T0, None)
    assert waiting.phase is TrialPhase.PENDING
    assert not d.plan.events and not d.plan.launch


def test_a_succeeded_trial_whose_log_is_forbidden_stays_running_saying_so_once() -> None:
    message = "its log cannot be read: the operator may not get pods/log in namespace ns"
    forbidden = JobObservation("tj-001", "Running", reason=LOG_FORBIDDEN, message=message)
    d = decision(make_spec(), [pending("tj-001")], [forbidden])
    observe_trials(d)
    trial = d.status.trials[0]
    assert (trial.phase, trial.reason, trial.message) == (
        TrialPhase.RUNNING,
        LOG_FORBIDDEN,
        message,
    )
    assert trial.start_time is not None
    assert [(e.type, e.reason) for e in d.plan.events] == [("Warning", "Forbidden")]
    again = decision(make_spec(), [trial], [forbidden])
    observe_trials(again)
    assert again.plan.events == []  # said once
