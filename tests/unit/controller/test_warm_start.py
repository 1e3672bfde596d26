"""Warm start from a Hyperband parent (QA82 M3): its trials stopped at a rung hold a value
after a few epochs, not a final objective. A Hyperband child with the same levels takes
every trial at the levels it reached; any other child only those trained to the end."""

from __future__ import annotations

import math
from typing import Any

from kubetune.operator.api import TrialPhase, TrialStatus, TuningJobSpec, TuningJobStatus
from kubetune.operator.controller import Optimizer, WarmTrial, warm_start_trials
from kubetune.optimizer import suggest_hyperband
from support.plan_sim import Sim
from support.specs import make_spec

HYPERBAND = {"minResource": 1, "maxResource": 9, "reductionFactor": 3}  # levels 1, 3, 9


def hyperband(**hyperband: Any) -> TuningJobSpec:
    return make_spec(strategy="Hyperband", hyperband={**HYPERBAND, **hyperband})


def trial(
    name: str, phase: TrialPhase, objective: float | None, rungs: list[float] | None = None
) -> TrialStatus:
    return TrialStatus(
        name=name,
        hyperparameters={"lr": f"0.{name[-1]}", "layers": "2", "opt": "sgd"},
        phase=phase,
        objective=objective,
        rung_values=rungs,
        rung_seqs=None if rungs is None else list(range(len(rungs))),
    )


# A finished Hyperband parent of 9 epochs (rungs at 1 and 3): two trials trained to the
# end (one whose rung values were never read), two stopped at a rung, one diverged.
PARENT = TuningJobStatus(
    trials=[
        trial("p-001", TrialPhase.SUCCEEDED, 0.1, [0.5, 0.3]),
        trial("p-002", TrialPhase.EARLY_STOPPED, 1.04, [1.04]),  # its 9-epoch loss: lower
        trial("p-003", TrialPhase.EARLY_STOPPED, 0.5, [0.6, 0.5]),
        trial("p-004", TrialPhase.SUCCEEDED, 0.2),
        trial("p-005", TrialPhase.FAILED, None, [0.4]),
    ]
)


def params(name: str) -> dict[str, str]:
    return {"lr": f"0.{name[-1]}", "layers": "2", "opt": "sgd"}


def test_a_hyperband_child_with_the_same_levels_takes_each_trial_at_the_levels_it_reached() -> None:
    warm = warm_start_trials(hyperband(), [(hyperband(), PARENT)])
    assert warm[:3] == [
        WarmTrial(params("p-001"), (0.5, 0.3, 0.1)),  # its rungs, then its objective
        WarmTrial(params("p-002"), (1.04,)),  # stopped at rung 0: its value at 1 epoch
        WarmTrial(params("p-003"), (0.6, 0.5)),  # stopped at rung 1
    ]
    # Trained to the end, its rung values unknown (the operator was down): NaN there.
    unread = warm[3]
    assert (unread.params, len(unread.values), unread.values[-1]) == (params("p-004"), 3, 0.2)
    assert all(math.isnan(v) for v in unread.values[:2])
    assert len(warm) == 4  # the failed trial is not carried


def test_other_children_take_only_the_trials_a_hyperband_parent_trained_to_the_end() -> None:
    bayesian = make_spec(strategy="Bayesian")
    assert warm_start_trials(bayesian, [(hyperband(), PARENT)]) == [
        WarmTrial(params("p-001"), (0.1,)),
        WarmTrial(params("p-004"), (0.2,)),
    ]
    # Other rungs: its rung values are other epochs; its final values are final here too.
    longer = hyperband(maxResource=27)
    assert warm_start_trials(longer, [(hyperband(), PARENT)]) == [
        WarmTrial(params("p-001"), (0.1,) * 4),
        WarmTrial(params("p-004"), (0.2,) * 4),
    ]


def test_a_parent_of_another_strategy_is_carried_as_before() -> None:
    """Its early-stopped trial's last value is its result there (the median rule's)."""
    parent = TuningJobStatus(
        trials=[
            trial("q-001", TrialPhase.SUCCEEDED, 0.1),
            trial("q-002", TrialPhase.EARLY_STOPPED, 0.8),
        ]
    )
    bayesian = make_spec(strategy="Bayesian")
    assert warm_start_trials(bayesian, [(bayesian, parent)]) == [
        WarmTrial(params("q-001"), (0.1,)),
        WarmTrial(params("q-002"), (0.8,)),
    ]
    assert warm_start_trials(hyperband(), [(bayesian, parent)]) == [
        WarmTrial(params("q-001"), (0.1,) * 3),
        WarmTrial(params("q-002"), (0.8,) * 3),
    ]


def test_the_hyperband_sampler_sees_a_parent_trial_stopped_at_rung_0_as_stopped_there() -> None:
    """Before, p-002 (1.04 after 1 epoch) was shown as a trial that ran to maxResource
    with 1.04 at every level: ranked above every child trial stopped at rung 1."""
    sim = Sim(hyperband())
    seen: list[Any] = []

    def spy(*args: Any, **kw: Any) -> list[dict[str, Any]]:
        seen.append(args[1])
        return suggest_hyperband(*args, **kw)

    warm = warm_start_trials(sim.spec, [(sim.spec, PARENT)])
    sim.step(Optimizer(suggest_hyperband=spy), warm_start=warm)
    sim.step(Optimizer(suggest_hyperband=spy), warm_start=warm)
    carried = {tuple(sorted(t.params.items())): list(t.values) for t in seen[0][:4]}
    assert carried[tuple(sorted(params("p-002").items()))] == [1.04]
    assert carried[tuple(sorted(params("p-001").items()))] == [0.5, 0.3, 0.1]
    assert not any(t.running for t in seen[0][:4])


def test_a_bayesian_child_observes_no_value_after_a_few_epochs() -> None:
    bayesian = make_spec(strategy="Bayesian", limits={"maxTrials": 2, "maxParallelTrials": 1})
    sim = Sim(bayesian)
    seen: list[Any] = []

    def spy(space: Any, observations: Any, **kw: Any) -> list[dict[str, Any]]:
        seen.append(list(observations))
        return [{"lr": 0.2, "layers": 1, "opt": "adam"}] * kw["n"]

    warm = warm_start_trials(bayesian, [(hyperband(), PARENT)])
    sim.step(Optimizer(suggest=spy), warm_start=warm)
    sim.step(Optimizer(suggest=spy), warm_start=warm)
    assert seen[0] == [(params("p-001"), 0.1), (params("p-004"), 0.2)]
