"""has_converged: the GP regret-bound test (Makarova et al. 2022)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from kubetune.optimizer import Continuous, SearchSpace, has_converged, suggest
from kubetune.optimizer.convergence import MIN_OBSERVATIONS

SPACE = SearchSpace([Continuous("x", -5.0, 5.0), Continuous("y", -5.0, 5.0)])


Trials = list[tuple[dict[str, Any], float]]


def bowl(params: dict[str, Any]) -> float:
    return (float(params["x"]) - 1.0) ** 2 + (float(params["y"]) + 2.0) ** 2


def ackley(params: dict[str, Any]) -> float:
    v = np.array([float(params["x"]), float(params["y"])])
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.mean(v**2)))
        - np.exp(np.mean(np.cos(2 * np.pi * v)))
        + 20
        + np.e
    )


def bayesian_trials(objective: Callable[[dict[str, Any]], float], count: int) -> Trials:
    observations: Trials = []
    for _ in range(count):
        params = suggest(SPACE, observations, seed=3)[0]
        observations.append((params, objective(params)))
    return observations


@pytest.fixture(scope="module")
def bowl_trials() -> Trials:
    return bayesian_trials(bowl, 30)


@pytest.mark.slow
def test_a_smooth_bowl_searched_to_its_minimum_has_converged(bowl_trials: Trials) -> None:
    assert min(value for _, value in bowl_trials) < 1e-2
    assert has_converged(SPACE, bowl_trials)


def test_too_few_observations_never_converge(bowl_trials: Trials) -> None:
    assert not has_converged(SPACE, bowl_trials[: MIN_OBSERVATIONS - 1])


def test_a_rugged_function_sampled_at_random_has_not_converged() -> None:
    rng = np.random.default_rng(0)
    observations = [
        (params, ackley(params))
        for params in ({"x": x, "y": y} for x, y in rng.uniform(-5, 5, size=(15, 2)))
    ]
    assert not has_converged(SPACE, observations)


def test_maximize_is_minimize_of_the_negation(bowl_trials: Trials) -> None:
    negated = [(params, -value) for params, value in bowl_trials]
    assert has_converged(SPACE, negated, goal="Maximize")
    assert not has_converged(SPACE, negated, goal="Minimize")


def test_a_constant_objective_gives_no_verdict() -> None:
    rng = np.random.default_rng(1)
    flat = [({"x": x, "y": y}, 1.0) for x, y in rng.uniform(-5, 5, size=(20, 2))]
    assert not has_converged(SPACE, flat)
