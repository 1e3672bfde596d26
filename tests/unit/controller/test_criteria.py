"""Steps 2 and 3: limits that end the job now, criteria that stop launching."""

from __future__ import annotations

from datetime import timedelta

from kubetune.operator.api import Phase, TrialPhase, TrialStatus
from kubetune.operator.controller import Optimizer
from kubetune.operator.controller.criteria import completion, end_now, free_slots
from support.decisions import T0, decision
from support.specs import make_spec


def trial(i: int, phase: TrialPhase, objective: float | None = None) -> TrialStatus:
    return TrialStatus(
        name=f"tj-{i:03d}",
        phase=phase,
        objective=objective,
        end_time=T0 + timedelta(seconds=i) if phase is not TrialPhase.RUNNING else None,
    )


def test_too_many_failed_trials_fail_the_job_and_stop_the_running_ones() -> None:
    spec = make_spec(limits={"maxTrials": 10, "maxParallelTrials": 2, "maxFailedTrials": 1})
    trials = [
        trial(1, TrialPhase.FAILED),
        trial(2, TrialPhase.FAILED),
        trial(3, TrialPhase.RUNNING),
    ]
    d = decision(spec, trials)
    assert end_now(d)
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "MaxFailedTrialsExceeded")
    assert d.status.trials[2].phase is TrialPhase.STOPPED


def test_the_runtime_budget_stops_the_job_or_asks_to_look_again_in_time() -> None:
    spec = make_spec(limits={"maxTrials": 4, "maxParallelTrials": 2, "maxRuntimeSeconds": 60})
    d = decision(spec, now=T0 + timedelta(seconds=45))
    assert not end_now(d) and d.plan.requeue_after == 15
    d = decision(spec, now=T0 + timedelta(seconds=60))
    assert end_now(d) and d.status.phase is Phase.STOPPED


def test_completion_criteria_in_order() -> None:
    spec = make_spec(
        completionCriteria={"targetObjective": 0.1, "maxTrialsNotImproving": 2},
        limits={"maxTrials": 3, "maxParallelTrials": 1},
    )
    reached = decision(spec, [trial(1, TrialPhase.SUCCEEDED, 0.05)])
    assert completion(reached, Optimizer())[0] == "TargetObjectiveReached"  # type: ignore[index]

    flat = [trial(1, TrialPhase.SUCCEEDED, 0.5), *(trial(i, TrialPhase.FAILED) for i in (2, 3))]
    assert completion(decision(spec, flat), Optimizer())[0] == "MaxTrialsNotImproving"  # type: ignore[index]

    spec = make_spec(limits={"maxTrials": 2, "maxParallelTrials": 1})
    two = [trial(1, TrialPhase.SUCCEEDED, 0.5), trial(2, TrialPhase.RUNNING)]
    assert completion(decision(spec, two), Optimizer())[0] == "MaxTrialsReached"  # type: ignore[index]
    assert completion(decision(spec, two[:1]), Optimizer()) is None


def test_free_slots_respect_parallelism_and_the_trial_budget() -> None:
    spec = make_spec(limits={"maxTrials": 3, "maxParallelTrials": 2})
    assert free_slots(decision(spec)) == 2
    assert free_slots(decision(spec, [trial(1, TrialPhase.RUNNING)])) == 1
    done = [trial(1, TrialPhase.SUCCEEDED, 1.0), trial(2, TrialPhase.SUCCEEDED, 1.0)]
    assert free_slots(decision(spec, done)) == 1
