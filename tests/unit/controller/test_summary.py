"""The status summary and the job's conclusion."""

from __future__ import annotations

from datetime import timedelta

from kubetune.operator.api import Phase, TrialPhase, TrialStatus
from kubetune.operator.controller.summary import best_trial, conclude, summarise
from support.decisions import T0, decision
from support.specs import make_spec


def test_counters_best_trial_and_consumed_seconds() -> None:
    trials = [
        TrialStatus(
            name="tj-001",
            phase=TrialPhase.SUCCEEDED,
            objective=0.3,
            start_time=T0,
            end_time=T0 + timedelta(seconds=10),
        ),
        TrialStatus(name="tj-002", phase=TrialPhase.SUCCEEDED, objective=0.1),
        TrialStatus(name="tj-003", phase=TrialPhase.EARLY_STOPPED, objective=0.01),
        TrialStatus(name="tj-004", phase=TrialPhase.RUNNING),
    ]
    d = decision(make_spec(), trials)  # minimizing
    summarise(d)
    status = d.status
    assert (status.counters.completed, status.counters.early_stopped) == (2, 1)
    assert status.counters.running == 1
    assert status.best_trial is not None and status.best_trial.name == "tj-002"
    assert (status.trials_done, status.consumed_seconds) == ("3/4", 10)
    assert best_trial(trials[2:], d.spec.objective.type) is None  # early-stopped: never best


def test_conclude_sets_phase_conditions_and_an_event() -> None:
    d = decision(make_spec())
    conclude(d, Phase.COMPLETED, "MaxTrialsReached", "done")
    status = d.status
    assert (status.phase, status.completion_time) == (Phase.COMPLETED, T0)
    assert [(c.type, c.status) for c in status.conditions] == [
        ("Succeeded", "True"),
        ("Running", "False"),
    ]
    assert all(c.observed_generation == 1 for c in status.conditions)
    assert [(e.type, e.reason) for e in d.plan.events] == [("Normal", "MaxTrialsReached")]


def test_the_best_column_shows_the_best_objective_to_six_significant_digits() -> None:
    """`kubectl get tj` prints a number column's value as the JSON has it: the status
    keeps the exact value and gives the column its text."""
    trials = [
        TrialStatus(name="tj-001", phase=TrialPhase.SUCCEEDED, objective=0.9888888888888889),
        TrialStatus(name="tj-002", phase=TrialPhase.SUCCEEDED, objective=0.5),
    ]
    d = decision(make_spec(objective={"metric": "loss", "type": "Maximize"}), trials)
    summarise(d)
    assert d.status.best_objective == 0.9888888888888889  # exact: targetObjective, tools
    assert d.status.best_objective_text == "0.988889"
    assert d.status.to_api()["bestObjectiveText"] == "0.988889"
