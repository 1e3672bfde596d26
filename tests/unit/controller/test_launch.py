"""Step 4: trials recorded for the free slots; a job with nothing left completes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubetune.operator.api import Phase, TrialPhase, TrialStatus
from kubetune.operator.controller import Optimizer
from kubetune.operator.controller.launch import finish_running, launch_trials
from support.decisions import decision
from support.specs import make_spec


def fixed(*_: Any, **kw: Any) -> list[dict[str, Any]]:
    return [{"lr": 0.5, "layers": 2.9999, "opt": "adam"}] * kw["n"]


def test_each_free_slot_gets_a_recorded_trial_with_its_values_as_text() -> None:
    d = decision(make_spec(limits={"maxTrials": 4, "maxParallelTrials": 2}))
    launch_trials(d, Optimizer(suggest=fixed))
    assert [t.name for t in d.status.trials] == ["tj-001", "tj-002"]
    assert d.status.trials[0].hyperparameters == {"lr": "0.5", "layers": "3", "opt": "adam"}
    assert [launch.job_name for launch in d.plan.launch] == ["tj-001", "tj-002"]
    assert d.status.counters.pending == 2


def test_a_suspended_job_launches_nothing() -> None:
    d = decision(make_spec(suspend=True))
    launch_trials(d, Optimizer(suggest=fixed))
    assert not d.status.trials and not d.plan.launch


def test_nothing_left_to_suggest_completes_the_job() -> None:
    d = decision(make_spec())
    launch_trials(d, Optimizer(suggest=lambda *_, **__: []))
    assert (d.status.phase, d.status.reason) == (Phase.COMPLETED, "SearchSpaceExhausted")


def test_a_met_criterion_waits_for_the_running_trials() -> None:
    running = TrialStatus(name="tj-001", phase=TrialPhase.RUNNING)
    d = decision(make_spec(), [running])
    finish_running(d, ("MaxTrialsReached", "4 trials run"))
    assert d.status.phase is not Phase.COMPLETED
    assert d.status.message == "4 trials run; waiting for 1 running trial"
    succeeded = TrialStatus(name="tj-001", phase=TrialPhase.SUCCEEDED, objective=0.5)
    d = decision(make_spec(), [succeeded])
    finish_running(d, ("MaxTrialsReached", "4 trials run"))
    assert d.status.phase is Phase.COMPLETED


def test_a_job_that_ends_with_no_succeeded_trial_fails_saying_why() -> None:
    """A regex that never matches, a trainer that always crashes: no result was found,
    so the job fails rather than completing, with the first failure's reason."""
    trials = [
        TrialStatus(
            name=f"tj-00{i}",
            phase=TrialPhase.FAILED,
            reason="MetricUnavailable",
            message="no line of the log matched metric loss",
        )
        for i in (1, 2)
    ]
    d = decision(make_spec(), trials)
    finish_running(d, ("MaxTrialsReached", "2 trials run"))
    assert (d.status.phase, d.status.reason) == (Phase.FAILED, "NoTrialSucceeded")
    assert d.status.message.startswith(
        "2 trials run, but no trial succeeded (first: tj-001: MetricUnavailable: no line of "
        "the log matched metric loss)"
    )


def test_a_job_with_no_succeeded_trial_says_how_to_start_over_where_it_ran() -> None:
    """On a cluster, a new TuningJob; a local run words it its own way (another --out)."""
    failed = TrialStatus(name="tj-001", phase=TrialPhase.FAILED, reason="Error")
    d = decision(make_spec(), [failed])
    finish_running(d, ("MaxTrialsReached", "1 trial run"))
    assert (d.status.message or "").endswith("), then create a new TuningJob")
    d = decision(make_spec(), [failed])
    d.snapshot = replace(d.snapshot, start_anew="run again with another --out")
    finish_running(d, ("MaxTrialsReached", "1 trial run"))
    assert (d.status.message or "").endswith(
        "fix what made them fail (the trainer, its image, spec.metrics' regex), then run "
        "again with another --out"
    )
