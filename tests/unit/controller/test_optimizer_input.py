"""What the optimizer is given: observations as recorded, failures as NaN, the seed."""

from __future__ import annotations

import math

from kubetune.operator.api import TrialPhase, TrialStatus, TuningJobStatus
from kubetune.operator.controller import WarmTrial
from kubetune.operator.controller.optimizer_input import observations, search_space, seed_for
from kubetune.optimizer import Integer
from support.specs import make_spec


def test_observations_and_pending_trials() -> None:
    trials = [
        ("a", "0.5", TrialPhase.SUCCEEDED, 1.0),
        ("b", "0.6", TrialPhase.FAILED, None),
        ("c", "0.7", TrialPhase.EARLY_STOPPED, 2.0),
        ("d", "0.8", TrialPhase.RUNNING, None),
        ("e", "0.9", TrialPhase.STOPPED, None),
    ]
    status = TuningJobStatus(
        trials=[
            TrialStatus(name=n, hyperparameters={"lr": lr}, phase=phase, objective=objective)
            for n, lr, phase, objective in trials
        ]
    )
    warm = [WarmTrial({"lr": "0.1"}, (3.0,))]
    observed, pending = observations(status, warm)
    assert observed[0] == ({"lr": "0.1"}, 3.0) and observed[1] == ({"lr": "0.5"}, 1.0)
    assert observed[2][0] == {"lr": "0.6"} and math.isnan(observed[2][1])
    assert observed[3] == ({"lr": "0.7"}, 2.0) and len(observed) == 4
    assert pending == [{"lr": "0.8"}]


def test_a_trial_the_infrastructure_failed_says_nothing_of_its_point() -> None:
    evicted = TrialStatus(
        name="a", hyperparameters={"lr": "0.5"}, phase=TrialPhase.FAILED, infrastructure=True
    )
    crashed = TrialStatus(name="b", hyperparameters={"lr": "0.6"}, phase=TrialPhase.FAILED)
    observed, pending = observations(TuningJobStatus(trials=[evicted, crashed]), [])
    assert len(observed) == 1 and observed[0][0] == {"lr": "0.6"} and math.isnan(observed[0][1])
    assert pending == []


def test_search_space_and_seed() -> None:
    spec = make_spec()
    space = search_space(spec)
    assert [p.name for p in space] == ["lr", "layers", "opt"]
    assert isinstance(space.parameters[1], Integer)
    assert seed_for(spec, "uid") == 1  # spec.randomSeed
    unseeded = make_spec(randomSeed=None)
    assert seed_for(unseeded, "uid-a") == seed_for(unseeded, "uid-a") != seed_for(unseeded, "uid-b")


def test_integer_bounds_that_are_not_whole_are_rounded_inwards() -> None:
    """Admission refuses them; local mode has no admission, and truncating min 0.5 to 0
    would give trials a value below the declared range."""
    spec = make_spec(
        parameters=[{"name": "layers", "type": "Integer", "min": 0.5, "max": 4.9}],
    )
    (layers,) = search_space(spec).parameters
    assert isinstance(layers, Integer) and (layers.min, layers.max) == (1, 4)
