"""Step 4: trials recorded for the free slots; a job with nothing left completes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from kubetune.operator.api import Phase, TrialPhase, TrialStatus, TuningJobStatus
from kubetune.operator.controller import (
    Optimizer,
    WarmTrial,
    warm_start_observations,
    warm_start_trials,
)
from kubetune.operator.controller.launch import finish_running, launch_trials
from support.decisions import decision
from support.plan_sim import Sim
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


FOUR_CONFIGURATIONS = [
    {"name": "layers", "type": "Integer", "min": 1, "max": 2},
    {"name": "opt", "type": "Categorical", "values": ["sgd", "adam"]},
]


def _finite_job(strategy: str, **overrides: Any) -> Sim:
    fields: dict[str, Any] = {
        "strategy": strategy,
        "parameters": FOUR_CONFIGURATIONS,
        "limits": {"maxTrials": 10, "maxParallelTrials": 3},
        **overrides,
    }
    return Sim(make_spec(**fields))


def _configurations(sim: Sim) -> list[tuple[str, str]]:
    return [(t.hyperparameters["layers"], t.hyperparameters["opt"]) for t in sim.status.trials]


def _run_to_the_end(sim: Sim, **snapshot: Any) -> None:
    sim.step(**snapshot)
    for _ in range(50):
        if sim.status.phase is not Phase.IN_PROGRESS:
            return
        sim.finish(sim.running()[0], 1.0)
        sim.step(**snapshot)
    raise AssertionError("did not finish")


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Sobol"])
def test_a_finite_space_tried_whole_completes_the_job_each_configuration_once(
    strategy: str,
) -> None:
    sim = _finite_job(strategy)
    _run_to_the_end(sim)
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "SearchSpaceExhausted")
    assert sim.status.message == (
        f"the {strategy} strategy has no untried hyperparameters left after 4 trials"
    )
    assert len(set(_configurations(sim))) == 4 == len(sim.status.trials)


def test_a_hyperband_job_on_a_finite_space_completes_when_every_configuration_ran() -> None:
    # maxResource 5: the simulated trials print 5 values (one per epoch).
    sim = _finite_job("Hyperband", hyperband={"minResource": 1, "maxResource": 5})
    _run_to_the_end(sim)
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "SearchSpaceExhausted")
    assert sim.status.message == (
        "the Hyperband strategy has no untried hyperparameters left after 4 trials"
    )
    assert len(set(_configurations(sim))) == 4 == len(sim.status.trials)


def test_warm_start_configurations_count_as_tried_and_the_message_says_so() -> None:
    """A parent's configuration was trained already: the child runs only the others (as
    Grid always did), and says why it ended after fewer trials than the space holds."""
    parents = [
        WarmTrial({"layers": "1", "opt": "sgd"}, (0.4,)),
        WarmTrial({"layers": "2", "opt": "adam"}, (0.3,)),
    ]
    sim = _finite_job("Bayesian")
    _run_to_the_end(sim, warm_start=parents)
    assert sorted(_configurations(sim)) == [("1", "adam"), ("2", "sgd")]
    assert sim.status.reason == "SearchSpaceExhausted"
    assert sim.status.message == (
        "the Bayesian strategy has no untried hyperparameters left after 2 trials and "
        "2 warm-start trials"
    )


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Sobol", "Grid"])
def test_a_warm_start_from_a_parent_whose_trials_all_failed_runs_every_configuration(
    strategy: str,
) -> None:
    """A warm start carries the parents' trials that produced a value only (as SageMaker
    AMT's uses its parents' completed training jobs): a child may run a fixed trainer, so
    a parent's failures are neither tried configurations nor failures to avoid (QA55 #1)."""
    failed = [
        TrialStatus(
            name=f"p-00{i}",
            hyperparameters={"layers": str(layers), "opt": opt},
            phase=TrialPhase.FAILED,
            reason="Error",
        )
        for i, (layers, opt) in enumerate(
            [(layers, opt) for layers in (1, 2) for opt in ("sgd", "adam")], start=1
        )
    ]
    warm = warm_start_observations([TuningJobStatus(trials=failed)])
    assert warm == []
    sim = _finite_job(strategy)
    _run_to_the_end(sim, warm_start=warm)
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "SearchSpaceExhausted")
    assert sim.status.message == (
        f"the {strategy} strategy has no untried hyperparameters left after 4 trials"
    )
    assert len(set(_configurations(sim))) == 4 == len(sim.status.trials)


def test_a_warm_start_carries_the_parents_trials_that_produced_a_value() -> None:
    """Succeeded, or early-stopped with a value: the configurations the child skips in a
    finite space. A failed, stopped or unfinished one, or one early-stopped before it
    printed a value, is not carried."""

    def trial(
        name: str, layers: int, opt: str, phase: TrialPhase, value: float | None = None
    ) -> TrialStatus:
        hyperparameters = {"layers": str(layers), "opt": opt}
        return TrialStatus(name=name, hyperparameters=hyperparameters, phase=phase, objective=value)

    parent = TuningJobStatus(
        trials=[
            trial("p-001", 1, "sgd", TrialPhase.SUCCEEDED, 0.4),
            trial("p-002", 1, "adam", TrialPhase.FAILED),
            trial("p-003", 2, "sgd", TrialPhase.EARLY_STOPPED, 0.2),
            trial("p-004", 2, "adam", TrialPhase.EARLY_STOPPED),  # stopped before a value
        ]
    )
    other = TuningJobStatus(
        trials=[
            trial("q-001", 1, "adam", TrialPhase.STOPPED),
            trial("q-002", 2, "adam", TrialPhase.RUNNING),
        ]
    )
    assert warm_start_observations([parent, other]) == [
        ({"layers": "1", "opt": "sgd"}, 0.4),
        ({"layers": "2", "opt": "sgd"}, 0.2),
    ]
    sim = _finite_job("Bayesian")
    warm = warm_start_trials(sim.spec, [(sim.spec, parent), (sim.spec, other)])
    assert warm == [
        WarmTrial({"layers": "1", "opt": "sgd"}, (0.4,)),
        WarmTrial({"layers": "2", "opt": "sgd"}, (0.2,)),
    ]
    _run_to_the_end(sim, warm_start=warm)
    assert sorted(_configurations(sim)) == [("1", "adam"), ("2", "adam")]
    assert sim.status.message == (
        "the Bayesian strategy has no untried hyperparameters left after 2 trials and "
        "2 warm-start trials"
    )


def test_a_retried_trial_runs_its_configuration_again_and_no_other_trial_does() -> None:
    """spec.retry re-runs the same trial (pending meanwhile, so not proposed again); a trial
    that failed for the infrastructure's sake after its last attempt measured nothing, so
    its configuration may be proposed again, as Grid does."""
    sim = _finite_job("Bayesian", retry={"maxAttempts": 2})
    sim.step()
    first = sim.status.trials[0]
    sim.finish(first.job_name, state="Failed", reason="Evicted", infrastructure=True)
    decided = sim.step()
    assert decided.status.trials[0].attempt == 2 and len(decided.status.trials) == 3
    assert "tj-001-a2" in [launch.job_name for launch in decided.launch]
    _run_to_the_end(sim)
    assert sim.status.reason == "SearchSpaceExhausted"
    assert len(set(_configurations(sim))) == 4 == len(sim.status.trials)

    sim = _finite_job("Bayesian", limits={"maxTrials": 10, "maxParallelTrials": 1})
    sim.step()
    lost = sim.status.trials[0]
    sim.finish(lost.job_name, state="Failed", reason="Evicted", infrastructure=True)
    _run_to_the_end(sim)
    assert sim.status.reason == "SearchSpaceExhausted"
    again = (lost.hyperparameters["layers"], lost.hyperparameters["opt"])
    assert len(sim.status.trials) == 5 and _configurations(sim).count(again) == 2


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Sobol", "Grid", "Hyperband"])
def test_every_strategy_proposes_again_a_configuration_the_infrastructure_failed(
    strategy: str,
) -> None:
    """A trial failed for the infrastructure's sake on its last attempt (evicted, its Job
    deleted) measured nothing of its configuration (`optimizer_input._observation`): in a
    finite space every strategy, Hyperband's sampler included, may propose it again."""
    extra = {"hyperband": {"minResource": 1, "maxResource": 9}} if strategy == "Hyperband" else {}
    sim = _finite_job(strategy, limits={"maxTrials": 10, "maxParallelTrials": 1}, **extra)
    sim.step()
    lost = sim.status.trials[0]
    sim.finish(lost.job_name, state="Failed", reason="Evicted", infrastructure=True)
    _run_to_the_end(sim)
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "SearchSpaceExhausted")
    again = (lost.hyperparameters["layers"], lost.hyperparameters["opt"])
    assert len(sim.status.trials) == 5 and _configurations(sim).count(again) == 2


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Sobol", "Hyperband"])
@pytest.mark.parametrize("lost_index", [0, 1, 2])
def test_no_trial_after_an_infrastructure_failure_repeats_another_trials_configuration(
    strategy: str, lost_index: int
) -> None:
    """QA67 H2: Hyperband's sampler left the lost trial out of the numbering its draws
    follow, so the next trial took the draw of the one after the lost one, then running:
    two trials of one configuration at once. Only the lost configuration may come again
    (it measured nothing)."""
    extra = {"hyperband": {"minResource": 1, "maxResource": 9}} if strategy == "Hyperband" else {}
    limits = {"maxTrials": 8, "maxParallelTrials": 3}
    sim = Sim(make_spec(strategy=strategy, limits=limits, **extra))
    sim.step()
    lost = sim.status.trials[lost_index]
    sim.finish(lost.job_name, state="Failed", reason="Evicted", infrastructure=True)
    _run_to_the_end(sim)
    configurations = [
        tuple(sorted(t.hyperparameters.items())) for t in sim.status.trials if t.name != lost.name
    ]
    assert len(configurations) == 7 and len(set(configurations)) == 7


def test_a_finite_space_tried_whole_with_no_success_fails_the_job() -> None:
    """As when maxTrials is reached: a job Completed with no result would pass health
    checks, so a trainer that always fails fails the job, though the space is exhausted."""
    sim = _finite_job("Random", limits={"maxTrials": 10, "maxParallelTrials": 2})
    sim.step()
    for _ in range(20):
        if sim.status.phase is not Phase.IN_PROGRESS:
            break
        for job in sim.running():
            sim.finish(job, state="Failed", reason="Error", message="exit 1")
        sim.step()
    assert (sim.status.phase, sim.status.reason) == (Phase.FAILED, "NoTrialSucceeded")
    assert (sim.status.message or "").startswith(
        "the Random strategy has no untried hyperparameters left after 4 trials, but no "
        "trial succeeded (first: tj-001: Error: exit 1)"
    )
    assert len(set(_configurations(sim))) == 4 == len(sim.status.trials)


def test_a_warm_start_that_tried_everything_completes_the_job_at_once() -> None:
    parents = [
        WarmTrial({"layers": str(layers), "opt": opt}, (0.5,))
        for layers in (1, 2)
        for opt in ("sgd", "adam")
    ]
    sim = _finite_job("Sobol")
    sim.step(warm_start=parents)
    assert (sim.status.phase, sim.status.reason) == (Phase.COMPLETED, "SearchSpaceExhausted")
    assert sim.status.message == (
        "the Sobol strategy has no untried hyperparameters left after 0 trials and "
        "4 warm-start trials"
    )
    assert sim.status.trials == []
