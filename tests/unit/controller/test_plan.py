"""The engine's decisions, driven through whole tuning jobs against a simulated cluster."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest
from kubetune.operator.api import (
    MAX_TRIALS,
    ObjectiveType,
    Phase,
    TrialPhase,
    TrialStatus,
    TuningJobStatus,
    format_value,
)
from kubetune.operator.api.constants import (
    MAX_TRIAL_MESSAGE_LENGTH,
    STATUS_TRIAL_VALUES_BUDGET_BYTES,
)
from kubetune.operator.controller import (
    JobObservation,
    ObjectiveOutcome,
    Optimizer,
    Snapshot,
    WarmTrial,
    plan,
    warm_start_observations,
    warm_start_trials,
)
from kubetune.operator.controller.optimizer_input import search_space
from kubetune.operator.controller.summary import trials_not_improving
from kubetune.optimizer import suggest
from support.plan_sim import T0, Sim
from support.specs import make_spec

ETCD_LIMIT = 1_572_864


def test_a_job_runs_exactly_max_trials_with_bounded_parallelism() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 7, "maxParallelTrials": 3}))
    first = sim.step()
    assert [t.name for t in first.status.trials] == ["tj-001", "tj-002", "tj-003"]
    assert all(t.phase is TrialPhase.PENDING for t in first.status.trials)
    assert first.status.phase is Phase.IN_PROGRESS and first.status.start_time == T0
    assert [launch.job_name for launch in first.launch] == ["tj-001", "tj-002", "tj-003"]
    sim.run(pick=lambda r: r[-1])
    status = sim.status
    assert len(status.trials) == 7 == len(sim.created) == len(set(sim.created))
    assert status.phase is Phase.COMPLETED and status.reason == "MaxTrialsReached"
    assert status.counters.completed == 7 and status.trials_done == "7/7"
    assert (
        max(
            len(p.status.trials) - sum(t.phase.value in ("Succeeded",) for t in p.status.trials)
            for p in sim.plans
        )
        <= 3
    )
    best = min(status.trials, key=lambda t: t.objective or math.inf)
    assert status.best_trial is not None and status.best_trial.name == best.name
    assert status.best_objective == best.objective
    cond = {c.type: c for c in status.conditions}
    assert cond["Succeeded"].status == "True" and cond["Running"].status == "False"
    assert cond["Succeeded"].observed_generation == 1
    assert any(e.reason == "MaxTrialsReached" for e in sim.plans[-1].events)


@pytest.mark.parametrize("goal", ["Minimize", "Maximize"])
def test_completed_by_target_means_the_best_meets_the_target(goal: str) -> None:
    target = 0.1 if goal == "Minimize" else 0.05
    spec = make_spec(
        objective={"metric": "loss", "type": goal},
        limits={"maxTrials": 50, "maxParallelTrials": 2},
        completionCriteria={"targetObjective": target},
    )
    sim = Sim(spec)
    sim.run()
    assert sim.status.phase is Phase.COMPLETED
    assert sim.status.reason == "TargetObjectiveReached"
    best = sim.status.best_objective
    assert best is not None
    assert best <= target if goal == "Minimize" else best >= target
    assert len(sim.status.trials) < 50
    assert sim.status.counters.running == sim.status.counters.pending == 0  # let them finish


def test_max_trials_not_improving_counts_finished_trials_in_order() -> None:
    spec = make_spec(
        limits={"maxTrials": 50, "maxParallelTrials": 1},
        completionCriteria={"maxTrialsNotImproving": 3},
    )
    sim = Sim(spec)
    values = iter([5.0, 4.0, 4.5, 4.0, 6.0, 1.0, 2.0])
    sim.step()
    while sim.status.phase is Phase.IN_PROGRESS:
        sim.finish(sim.running()[0], next(values))
        sim.step()
    assert sim.status.reason == "MaxTrialsNotImproving"
    assert [t.objective for t in sim.status.trials] == [5.0, 4.0, 4.5, 4.0, 6.0]
    assert trials_not_improving(sim.status.trials, ObjectiveType.MINIMIZE) == 3


def test_max_trials_not_improving_once_announced_launches_nothing_more() -> None:
    """QA67 M4: met with two trials running, the job says it is finishing; one of them
    then improves the best, so the count of trials not improving drops to 0. The decision
    stands (the recorded reason, read back on every look and after a restart): nothing is
    launched, the other running trial finishes, the job completes."""
    spec = make_spec(
        limits={"maxTrials": 20, "maxParallelTrials": 3},
        completionCriteria={"maxTrialsNotImproving": 2},
    )
    sim = Sim(spec)
    sim.step()
    for job, value in (("tj-001", 5.0), ("tj-002", 6.0), ("tj-003", 7.0)):
        sim.finish(job, value)
        sim.step()
    assert len(sim.status.trials) == 5  # tj-004 and tj-005 run
    assert sim.status.reason == "MaxTrialsNotImproving"
    running = {c.type: c for c in sim.status.conditions}["Running"]
    assert (running.status, running.reason) == ("True", "Finishing")
    sim.finish("tj-004", 1.0)  # improves the best: 0 trials not improving now
    decided = sim.step()
    assert decided.launch == []
    assert len(sim.status.trials) == 5
    assert sim.status.reason == "MaxTrialsNotImproving"
    assert sim.status.message == (
        "2 finished trials in a row did not improve the best objective, so no trial was "
        "launched after that; trial tj-004, running then, has since improved it to 1.0; "
        "waiting for 1 running trial"
    )
    sim.finish("tj-005", 8.0)
    sim.step()
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "MaxTrialsNotImproving")
    assert len(sim.status.trials) == 5 and sim.status.best_objective == 1.0


def test_the_target_message_names_the_trial_that_reached_it_and_the_best() -> None:
    """QA67 L9: tj-001 reached the target; tj-002, running then, finished with a better
    objective: the job names both."""
    spec = make_spec(
        limits={"maxTrials": 20, "maxParallelTrials": 2},
        completionCriteria={"targetObjective": 0.1},
    )
    sim = Sim(spec)
    sim.step()
    sim.finish("tj-001", 0.08)
    sim.step()
    assert sim.status.message == (
        "trial tj-001 reached 0.08, target 0.1; waiting for 1 running trial"
    )
    sim.finish("tj-002", 0.01)
    sim.step()
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "TargetObjectiveReached")
    assert sim.status.message == (
        "trial tj-001 reached 0.08, target 0.1; the best is trial tj-002 with 0.01"
    )
    assert len(sim.status.trials) == 2


def test_max_failed_trials_fails_the_job_and_stops_running_trials() -> None:
    spec = make_spec(limits={"maxTrials": 10, "maxParallelTrials": 3, "maxFailedTrials": 1})
    sim = Sim(spec)
    sim.step()
    sim.finish("tj-001", state="Failed", reason="Error", message="exit 1")
    sim.step()
    assert sim.status.phase is Phase.IN_PROGRESS  # 1 failure is allowed
    sim.finish("tj-002", state="Failed", reason="OOMKilled", message="exit 137")
    decided = sim.step()
    assert decided.status.phase is Phase.FAILED
    assert decided.status.reason == "MaxFailedTrialsExceeded"
    assert sorted(decided.delete) == ["tj-003", "tj-004"]
    phases = {t.name: (t.phase, t.reason) for t in decided.status.trials}
    assert phases["tj-002"] == (TrialPhase.FAILED, "OOMKilled")
    assert phases["tj-003"][0] is TrialPhase.STOPPED
    assert {c.type: c.status for c in decided.status.conditions}["Failed"] == "True"
    assert not decided.launch


def test_max_runtime_stops_running_trials_and_requeues_before() -> None:
    spec = make_spec(limits={"maxTrials": 10, "maxParallelTrials": 2, "maxRuntimeSeconds": 60})
    sim = Sim(spec)
    first = sim.step()
    assert first.requeue_after == 60
    sim.now = T0 + timedelta(seconds=61)
    decided = sim.step()
    assert decided.status.phase is Phase.STOPPED
    assert decided.status.reason == "MaxRuntimeExceeded"
    assert sorted(decided.delete) == ["tj-001", "tj-002"]
    assert all(t.phase is TrialPhase.STOPPED for t in decided.status.trials)
    again = sim.step()  # terminal: nothing more happens
    assert not again.launch and not again.delete and again.status.phase is Phase.STOPPED


def test_suspend_pauses_launching_and_resume_continues() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 4, "maxParallelTrials": 2}))
    sim.step()
    sim.spec = make_spec(limits={"maxTrials": 4, "maxParallelTrials": 2}, suspend=True)
    sim.finish("tj-001")
    paused = sim.step()
    assert not paused.launch and len(paused.status.trials) == 2
    assert {c.type: c.status for c in paused.status.conditions}["Suspended"] == "True"
    sim.finish("tj-002")
    assert sim.step().status.phase is Phase.IN_PROGRESS  # suspended, not completed
    sim.spec = make_spec(limits={"maxTrials": 4, "maxParallelTrials": 2})
    resumed = sim.step()
    assert [launch.trial for launch in resumed.launch] == ["tj-003", "tj-004"]
    assert {c.type: c.status for c in resumed.status.conditions}["Suspended"] == "False"


def test_a_job_created_suspended_starts_its_runtime_budget_when_resumed() -> None:
    limits = {"maxTrials": 2, "maxParallelTrials": 1, "maxRuntimeSeconds": 6}
    sim = Sim(make_spec(limits=limits, suspend=True))
    assert sim.step().status.start_time is None
    sim.now += timedelta(hours=1)
    waiting = sim.step()
    assert waiting.status.phase is Phase.IN_PROGRESS and waiting.status.start_time is None
    sim.spec = make_spec(limits=limits)
    resumed = sim.step()
    assert resumed.status.start_time == sim.now and len(resumed.launch) == 1


def test_limits_changed_on_a_live_job_take_effect() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 10, "maxParallelTrials": 1}))
    sim.step()
    sim.spec = make_spec(limits={"maxTrials": 10, "maxParallelTrials": 3})
    assert len(sim.step().launch) == 2  # raised parallelism: two more at once
    sim.spec = make_spec(limits={"maxTrials": 3, "maxParallelTrials": 3})
    sim.run()
    assert len(sim.status.trials) == 3 and sim.status.reason == "MaxTrialsReached"


def test_limits_changed_on_an_ended_job_run_nothing_and_show_nothing_new() -> None:
    sim = Sim(make_spec(limits={"maxTrials": 3, "maxParallelTrials": 3}))
    sim.run()
    assert (sim.status.phase, sim.status.trials_done) == (Phase.COMPLETED, "3/3")
    for raised in (12, 1):
        sim.spec = make_spec(limits={"maxTrials": raised, "maxParallelTrials": 3})
        decided = sim.step()
        assert decided.launch == [] and len(sim.status.trials) == 3
        assert (sim.status.phase, sim.status.trials_done) == (Phase.COMPLETED, "3/3")


def test_restart_between_record_and_create_creates_the_same_job_once() -> None:
    sim = Sim(make_spec())
    recorded = sim.step()
    # The operator died after writing the status and before creating any Job.
    sim.jobs.clear()
    sim.created.clear()
    again = sim.step()
    assert [launch.job_name for launch in again.launch] == [
        launch.job_name for launch in recorded.launch
    ]
    assert [t.name for t in again.status.trials] == [t.name for t in recorded.status.trials]


def test_a_running_trial_whose_job_vanished_fails_with_a_reason() -> None:
    sim = Sim(make_spec())
    sim.step()
    sim.step()  # observed Running
    assert sim.status.trials[0].phase is TrialPhase.RUNNING
    del sim.jobs["tj-001"]
    decided = sim.step()
    trial = decided.status.trials[0]
    assert (trial.phase, trial.reason, trial.infrastructure) == (
        TrialPhase.FAILED,
        "JobDeleted",
        True,
    )
    assert [launch.trial for launch in decided.launch] == ["tj-003"]  # the job goes on


def test_infrastructure_failures_are_retried_as_new_jobs_trainer_failures_not() -> None:
    sim = Sim(make_spec(retry={"maxAttempts": 2}))
    sim.step()
    sim.finish(
        "tj-001", state="Failed", reason="Evicted", message="node pressure", infrastructure=True
    )
    sim.finish("tj-002", state="Failed", reason="Error", message="exit 1")
    decided = sim.step()
    by_name = {t.name: t for t in decided.status.trials}
    assert by_name["tj-001"].attempt == 2 and by_name["tj-001"].phase is TrialPhase.PENDING
    assert by_name["tj-002"].phase is TrialPhase.FAILED
    assert "tj-001-a2" in [launch.job_name for launch in decided.launch]
    assert decided.status.counters.retried == 1
    sim.finish("tj-001-a2", state="Failed", reason="Evicted", infrastructure=True)
    final = sim.step().status.trials[0]
    assert (final.phase, final.attempt, final.reason) == (TrialPhase.FAILED, 2, "Evicted")
    assert final.message == "attempt 2 of 2: Evicted"  # its message said nothing
    # Marked, so that the optimizer does not avoid its point for the node's sake.
    assert final.infrastructure and not by_name["tj-002"].infrastructure


def test_long_failure_messages_are_cut_to_the_schema_limit() -> None:
    sim = Sim(make_spec(retry={"maxAttempts": 2}))
    sim.step()
    long = "image registry.invalid/x:1 is not mapped " * 10
    sim.finish("tj-001", state="Failed", reason="ErrImagePull", message=long, infrastructure=True)
    sim.finish("tj-002", state="Failed", reason="Error", message=long)
    for trial in sim.step().status.trials[:2]:
        assert trial.message is not None
        assert len(trial.message) == MAX_TRIAL_MESSAGE_LENGTH and "…" in trial.message
        assert trial.message.endswith("is not mapped ")  # the end, where causes are


def test_metric_problems_fail_the_trial_with_their_reason() -> None:
    sim = Sim(make_spec())
    sim.step()
    sim.jobs["tj-001"] = JobObservation(
        "tj-001", "Succeeded", outcome=ObjectiveOutcome(None, 0, "MetricUnavailable", "none")
    )
    trial = sim.step().status.trials[0]
    assert (trial.phase, trial.reason, trial.objective) == (
        TrialPhase.FAILED,
        "MetricUnavailable",
        None,
    )


def test_an_invalid_spec_fails_with_the_field_named() -> None:
    decided = plan(
        Snapshot(
            name="tj",
            uid="u",
            generation=3,
            spec=make_spec(),
            invalid=["spec.metrics[0].regex (metric 'loss'): bad"],
            status=TuningJobStatus(),
        ),
        T0,
    )
    assert decided.status.phase is Phase.FAILED and decided.terminal
    invalid = decided.status.condition("Invalid")
    assert invalid is not None and invalid.status == "True"
    assert "spec.metrics[0].regex" in invalid.message and invalid.observed_generation == 3
    assert not decided.launch


def test_an_invalid_spec_with_more_to_say_than_a_message_holds_still_fails() -> None:
    """40 metrics with long names and regexes RE2 refuses: their messages together pass
    the status's limit, which must cut them, not refuse the write at every reconcile."""
    problems = [f"spec.metrics[{i}].regex (metric '{'m' * 250}'): {'x' * 900}" for i in range(40)]
    snapshot = Snapshot(
        name="tj",
        uid="u",
        generation=1,
        spec=make_spec(),
        invalid=problems,
        status=TuningJobStatus(),
    )
    decided = plan(snapshot, T0)
    invalid = decided.status.condition("Invalid")
    assert decided.status.phase is Phase.FAILED and invalid is not None
    message = decided.status.message or ""
    assert len(message) == 32768 and message.endswith("…") and invalid.message == message


def test_a_job_found_invalid_ends_its_unfinished_trials() -> None:
    """A spec found invalid while trials run (a parent that does not match, a template the
    API server refused) ends the job and its unfinished trials: the running one and the
    recorded one whose Job was never created end Stopped, and both Jobs are deleted."""
    first = Sim(make_spec(limits={"maxTrials": 3, "maxParallelTrials": 2})).step()
    running, never_created = first.status.trials
    decided = plan(
        Snapshot(
            name="tj",
            uid="u",
            generation=2,
            spec=None,
            invalid=["spec.trialTemplate.job: the API server refused trial Job tj-002"],
            status=first.status,
            jobs={running.job_name: JobObservation(running.job_name, "Running", started=T0)},
        ),
        T0 + timedelta(seconds=30),
    )
    assert decided.status.phase is Phase.FAILED
    assert [(t.phase, t.reason) for t in decided.status.trials] == [
        (TrialPhase.STOPPED, "InvalidSpec")
    ] * 2
    assert all(t.end_time == T0 + timedelta(seconds=30) for t in decided.status.trials)
    counters = decided.status.counters
    assert (counters.pending, counters.running, counters.stopped) == (0, 0, 2)
    assert decided.status.trials_done == "2/3"  # `kubectl get tj`'s TRIALS: both ended
    assert sorted(decided.delete) == sorted([running.job_name, never_created.job_name])


def test_grid_exhaustion_completes_the_job() -> None:
    spec = make_spec(
        strategy="Grid",
        parameters=[
            {"name": "layers", "type": "Integer", "min": 1, "max": 2},
            {"name": "opt", "type": "Categorical", "values": ["sgd", "adam"]},
        ],
        limits={"maxTrials": 10, "maxParallelTrials": 3},
        metrics=[{"name": "loss", "regex": "loss=(.*)"}],
    )
    sim = Sim(spec)
    sim.step()
    while sim.status.phase is Phase.IN_PROGRESS:
        sim.finish(sim.running()[0], 1.0)
        sim.step()
    assert sim.status.reason == "SearchSpaceExhausted" and sim.status.phase is Phase.COMPLETED
    combos = {(t.hyperparameters["layers"], t.hyperparameters["opt"]) for t in sim.status.trials}
    assert len(combos) == 4 == len(sim.status.trials)


def test_terminal_job_deletes_leftover_running_and_waiting_jobs() -> None:
    status = TuningJobStatus(phase=Phase.STOPPED)
    decided = plan(
        Snapshot(
            name="tj",
            uid="u",
            generation=1,
            spec=make_spec(),
            status=status,
            jobs={
                "tj-009": JobObservation("tj-009", "Running"),
                # Waiting for a GPU: it would train for a stopped job once one frees.
                "tj-010": JobObservation("tj-010", "Waiting", reason="Unschedulable"),
            },
        ),
        T0,
    )
    assert decided.delete == ["tj-009", "tj-010"] and not decided.launch


def test_plans_are_deterministic() -> None:
    a, b = Sim(make_spec(strategy="Bayesian")), Sim(make_spec(strategy="Bayesian"))
    for sim in (a, b):
        sim.step()
        sim.finish("tj-001")
        sim.step()
    assert a.status.model_dump() == b.status.model_dump()


def test_values_are_recorded_as_exact_text() -> None:
    spec = make_spec()
    lr, layers, opt = spec.parameters
    assert float(format_value(lr, 0.1 + 0.2)) == 0.1 + 0.2
    assert format_value(layers, 3.0) == "3"
    assert format_value(opt, "adam") == "adam"


def test_an_integer_suggestion_is_recorded_rounded_not_truncated() -> None:
    """Through plan(), the production path: 63.9999 from the optimizer is "64"."""
    spec = make_spec(
        parameters=[{"name": "units", "type": "Integer", "min": 1, "max": 128}],
        limits={"maxTrials": 1, "maxParallelTrials": 1},
    )

    def almost_64(*_: Any, **kw: Any) -> list[dict[str, Any]]:
        return [{"units": 63.9999}] * kw["n"]

    snapshot = Snapshot(name="tj", uid="u", generation=1, spec=spec, status=TuningJobStatus())
    decided = plan(snapshot, T0, Optimizer(suggest=almost_64))
    assert decided.status.trials[0].hyperparameters == {"units": "64"}
    assert decided.launch[0].hyperparameters == {"units": "64"}


def test_status_of_the_largest_job_fits_etcd_with_room() -> None:
    """1000 trials, each at the worst case: hyperparameters at the CEL budget
    (STATUS_TRIAL_VALUES_BUDGET_BYTES / MAX_TRIALS), the longest message, every field."""
    per_trial = STATUS_TRIAL_VALUES_BUDGET_BYTES // MAX_TRIALS  # bytes of "name":"value",
    count = per_trial // (16 + 24 + 6)  # 16-character names, 24-character numbers
    names = [f"hyperparameter{i:02d}" for i in range(count)]
    trials = [
        TrialStatus(
            name=f"{'a' * 54}-{i:03d}",
            hyperparameters={n: repr(-1.2345678901234567e-100) for n in names},
            objective=-1.2345678901234567e-10,
            intermediate_count=1_000_000,
            phase=TrialPhase.FAILED,
            reason="MetricUnavailable",
            message="m" * 500,
            attempt=30,
            start_time=T0,
            end_time=T0,
        )
        for i in range(MAX_TRIALS)
    ]
    status = TuningJobStatus(trials=trials)
    size = len(json.dumps({"status": status.to_api()}))
    print(f"worst-case status at {MAX_TRIALS} trials: {size} bytes")
    assert size < ETCD_LIMIT * 0.8, f"{size} bytes"


def test_the_sobol_strategy_walks_one_sequence_across_the_job() -> None:
    """The optimizer gets one seed per job, so a Sobol job's trials are the first points of
    one scrambled Sobol sequence, however its launches are batched (a seed that changed
    with every trial made them independent draws)."""
    spec = make_spec(strategy="Sobol", limits={"maxTrials": 8, "maxParallelTrials": 3})
    sim = Sim(spec)
    sim.run(pick=lambda r: r[-1])
    sequence = suggest(search_space(spec), [], strategy="Sobol", n=8, seed=spec.random_seed or 0)
    parameters = {p.name: p for p in spec.parameters}
    expected = [{k: format_value(parameters[k], v) for k, v in p.items()} for p in sequence]
    assert [dict(t.hyperparameters) for t in sim.status.trials] == expected


def test_warm_start_trials_seed_the_optimizer_but_not_the_budget() -> None:
    spec = make_spec(limits={"maxTrials": 2, "maxParallelTrials": 1})
    parent = TuningJobStatus(
        trials=[
            TrialStatus(
                name="p-001",
                hyperparameters={"lr": "0.5", "layers": "2", "opt": "sgd"},
                objective=0.1,
                phase=TrialPhase.SUCCEEDED,
            ),
            TrialStatus(
                name="p-002",
                hyperparameters={"lr": "0.5", "layers": "2", "opt": "rmsprop"},
                objective=0.2,
                phase=TrialPhase.SUCCEEDED,
            ),  # not a value of opt here
            TrialStatus(name="p-003", hyperparameters={"lr": "0.7"}, phase=TrialPhase.FAILED),
            TrialStatus(
                name="p-004",
                hyperparameters={"lr": "0.9", "layers": "1", "opt": "sgd"},
                objective=0.8,
                phase=TrialPhase.EARLY_STOPPED,
            ),
            TrialStatus(  # stopped with its job: says nothing of its point
                name="p-005", hyperparameters={"lr": "0.3"}, phase=TrialPhase.STOPPED
            ),
        ]
    )
    seen: list[Any] = []

    def spy(space: Any, observations: Any, **kw: Any) -> list[dict[str, Any]]:
        seen.append(list(observations))
        return [{"lr": 0.2, "layers": 1, "opt": "adam"}] * kw["n"]

    observed = warm_start_observations([parent])
    # The trials that produced a value, as recorded (early-stopped: its last value; a
    # failed one is not carried: the child may run another trainer): the optimizer parses
    # them and drops what does not fit its space (p-002's opt).
    assert observed == [
        ({"lr": "0.5", "layers": "2", "opt": "sgd"}, 0.1),
        ({"lr": "0.5", "layers": "2", "opt": "rmsprop"}, 0.2),
        ({"lr": "0.9", "layers": "1", "opt": "sgd"}, 0.8),
    ]
    warm = warm_start_trials(spec, [(spec, parent)])
    assert warm == [WarmTrial(params, (value,)) for params, value in observed]
    snapshot = Snapshot(
        name="tj", uid="u", generation=1, spec=spec, status=TuningJobStatus(), warm_start=warm
    )
    decided = plan(snapshot, T0, Optimizer(suggest=spy))
    assert seen == [observed] and len(decided.status.trials) == 1


def test_an_optimizer_failure_fails_the_job_instead_of_looping() -> None:
    def broken(*_: Any, **__: Any) -> list[dict[str, Any]]:
        raise ValueError("singular matrix")

    snapshot = Snapshot(
        name="tj", uid="u", generation=1, spec=make_spec(), status=TuningJobStatus()
    )
    decided = plan(snapshot, T0, Optimizer(suggest=broken))
    assert (decided.status.phase, decided.status.reason) == (Phase.FAILED, "SuggestionFailed")
    assert "singular matrix" in (decided.status.message or "") and not decided.launch


def test_an_infrastructure_failure_not_retried_says_how_it_could_have_been() -> None:
    sim = Sim(make_spec())  # retry.maxAttempts 1, the default
    sim.step()
    sim.finish("tj-001", state="Failed", reason="Evicted", message="drained", infrastructure=True)
    trial = sim.step().status.trials[0]
    assert (trial.phase, trial.message) == (
        TrialPhase.FAILED,
        "not retried, spec.retry.maxAttempts 1: drained",
    )
