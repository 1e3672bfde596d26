"""suggest() as the operator calls it: types, determinism, Grid, failures, batches, quality."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from kubetune.optimizer import (
    Categorical,
    Continuous,
    Integer,
    Observation,
    SearchSpace,
    grid_size,
    n_initial_points,
    suggest,
)
from kubetune.optimizer.bayesian import pessimistic_targets
from kubetune.optimizer.gp import GPRegressor, KernelParams

MIXED = SearchSpace(
    [
        Continuous("lr", 1e-5, 1e-1),
        Continuous("momentum", 0.0, 0.99, "ReverseLogarithmic"),
        Integer("layers", 1, 8),
        Integer("units", 16, 1024, "Logarithmic"),
        Categorical("optimizer", ["sgd", "adam", "rmsprop"]),
    ]
)


def _mixed_loss(p: dict[str, float | int | str]) -> float:
    return (
        (math.log10(float(p["lr"])) + 3) ** 2
        + abs(int(p["layers"]) - 3)
        + (0.0 if p["optimizer"] == "adam" else 2.0)
        + float(p["momentum"])
    )


def _run(
    space: SearchSpace,
    loss: Callable[[dict[str, float | int | str]], float],
    evaluations: int,
    *,
    seed: int,
    strategy: str = "Bayesian",
) -> list[Observation]:
    observations: list[Observation] = []
    while len(observations) < evaluations:
        (params,) = suggest(space, observations, strategy=strategy, seed=seed)  # type: ignore[arg-type]
        observations.append(Observation(params, loss(params)))
    return observations


def _assert_valid(space: SearchSpace, params: dict[str, float | int | str]) -> None:
    assert list(params) == list(space.names)
    for p in space.parameters:
        value = params[p.name]
        if isinstance(p, Categorical):
            assert type(value) is str and value in p.values
        else:
            assert type(value) is (int if isinstance(p, Integer) else float)
            assert p.min <= value <= p.max  # type: ignore[operator]


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Sobol"])
def test_every_strategy_returns_n_valid_points_of_the_declared_types(strategy: str) -> None:
    observations = _run(MIXED, _mixed_loss, 12, seed=1, strategy=strategy)
    for params, _ in observations:
        _assert_valid(MIXED, params)  # type: ignore[arg-type]
    batch = suggest(MIXED, observations, strategy=strategy, n=3, seed=1)  # type: ignore[arg-type]
    assert len(batch) == 3
    for params in batch:
        _assert_valid(MIXED, params)
    assert suggest(MIXED, observations, strategy=strategy, n=0) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Sobol"])
def test_same_inputs_same_output_and_successive_calls_differ(strategy: str) -> None:
    observations = _run(MIXED, _mixed_loss, 9, seed=4, strategy=strategy)
    first = suggest(MIXED, observations, strategy=strategy, n=2, seed=4)  # type: ignore[arg-type]
    again = suggest(MIXED, list(observations), strategy=strategy, n=2, seed=4)  # type: ignore[arg-type]
    assert first == again
    assert suggest(MIXED, observations, strategy=strategy, n=2, seed=5) != first  # type: ignore[arg-type]
    assert suggest(MIXED, observations[:-1], strategy=strategy, n=2, seed=4) != first  # type: ignore[arg-type]


def test_maximize_is_minimize_of_the_negation() -> None:
    observations = _run(MIXED, _mixed_loss, 10, seed=2)
    negated = [(p, -v) for p, v in observations]
    assert suggest(MIXED, negated, goal="Maximize", seed=2) == suggest(MIXED, observations, seed=2)


def test_grid_enumerates_in_declared_order_skips_seen_and_exhausts() -> None:
    space = SearchSpace([Integer("k", 1, 3), Categorical("act", ["relu", "tanh"])])
    assert grid_size(space) == 6
    everything = suggest(space, [], strategy="Grid", n=100)
    assert everything == [{"k": k, "act": a} for k in (1, 2, 3) for a in ("relu", "tanh")]
    observations = [({"k": 1, "act": "relu"}, 0.5), ({"k": 2, "act": "relu"}, math.nan)]
    pending = [{"k": 1, "act": "tanh"}]
    assert suggest(space, observations, strategy="Grid", n=2, pending=pending) == [
        {"k": 2, "act": "tanh"},
        {"k": 3, "act": "relu"},
    ]
    seen = [(params, 1.0) for params in everything]
    assert suggest(space, seen, strategy="Grid", n=3) == []


def test_failed_trials_are_tolerated_and_not_proposed_again() -> None:
    space = SearchSpace([Integer("a", 0, 3), Categorical("b", ["x", "y"])])
    observations: list[tuple[dict[str, object], float]] = [
        ({"a": a, "b": b}, math.nan if a == 0 else (math.inf if b == "y" else float(a)))
        for a in range(4)
        for b in ("x", "y")
        if (a, b) != (3, "x")
    ]
    (params,) = suggest(space, observations, seed=0)
    assert params == {"a": 3, "b": "x"}  # the only point not yet tried
    all_failed = [({"a": 1, "b": "x"}, math.nan), ({"a": 2, "b": "y"}, -math.inf)]
    for params in suggest(space, all_failed, n=3, seed=0):
        _assert_valid(space, params)
        assert (params["a"], params["b"]) not in {(1, "x"), (2, "y")}


def test_observations_outside_the_space_are_ignored() -> None:
    observations = _run(MIXED, _mixed_loss, 10, seed=3)
    foreign = [
        ({"lr": 0.5, "momentum": 0.5, "layers": 3, "units": 64, "optimizer": "adam"}, 0.0),
        ({"lr": 0.01}, 0.0),
        ({"lr": 0.01, "momentum": 0.5, "layers": 3, "units": 64, "optimizer": "lbfgs"}, 0.0),
        ("not a pair", 0.0),
        ({"lr": 0.01, "momentum": 0.5, "layers": 3, "units": 64, "optimizer": "adam"}, "oops"),
    ]
    mixed_in = [*observations, *foreign[:4]]
    assert suggest(MIXED, mixed_in, seed=3) == suggest(MIXED, observations, seed=3)  # type: ignore[arg-type]
    _assert_valid(MIXED, suggest(MIXED, [*observations, foreign[4]], seed=3)[0])  # type: ignore[arg-type]


def test_initial_design_then_model() -> None:
    space = SearchSpace([Continuous("x", 0.0, 1.0), Continuous("y", 0.0, 1.0)])
    assert n_initial_points(space) == 5
    sobol = suggest(space, [], strategy="Sobol", n=5, seed=9)
    assert suggest(space, [], n=5, seed=9) == sobol  # the design is the Sobol sequence


def test_the_sobol_strategy_skips_a_point_already_running() -> None:
    """A caller that leaves a trial out (the operator drops stopped ones) makes the index
    lag behind the trials that used the sequence; the point a running trial has is not
    proposed again, the next one is."""
    space = SearchSpace([Continuous("x", 0.0, 1.0), Continuous("y", 0.0, 1.0)])
    sobol = suggest(space, [], strategy="Sobol", n=3, seed=9)
    assert suggest(space, [], strategy="Sobol", pending=[sobol[1]], seed=9) == [sobol[2]]


def test_design_continues_past_pending_until_enough_trials_finish() -> None:
    space = SearchSpace([Continuous("x", 0.0, 1.0), Continuous("y", 0.0, 1.0)])
    sobol = suggest(space, [], strategy="Sobol", n=9, seed=9)
    # Asynchronous workers: 4 finished, 3 running -> still design, at Sobol index 7.
    finished = [Observation(p, float(p["x"])) for p in sobol[:4]]  # type: ignore[arg-type]
    (point,) = suggest(space, finished, pending=sobol[4:7], seed=9)
    assert point == sobol[7]
    # Once 5 (the design size) have finished, the model takes over.
    finished.append(Observation(sobol[4], float(sobol[4]["x"])))  # type: ignore[arg-type]
    (point,) = suggest(space, finished, pending=sobol[5:7], seed=9)
    assert point != sobol[7]


def _branin(p: dict[str, float | int | str]) -> float:
    x, y = float(p["x"]), float(p["y"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


BRANIN = SearchSpace([Continuous("x", -5.0, 10.0), Continuous("y", 0.0, 15.0)])


def test_pending_points_make_a_batch_diverse() -> None:
    observations = _run(BRANIN, _branin, 12, seed=0)
    batch = suggest(BRANIN, observations, n=4, seed=0)
    points = np.array([[p["x"], p["y"]] for p in batch]) / 15.0  # unit-cube scale
    gaps = np.linalg.norm(points[:, None] - points[None, :], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 0.02
    (alone,) = suggest(BRANIN, observations, n=1, seed=0)
    (next_one,) = suggest(BRANIN, observations, n=1, seed=0, pending=[alone])
    assert abs(next_one["x"] - alone["x"]) + abs(next_one["y"] - alone["y"]) > 0.3  # type: ignore[operator]


@pytest.mark.slow
def test_bayesian_beats_random_on_branin() -> None:
    def mean_best(strategy: str) -> float:
        return float(
            np.mean(
                [
                    min(v for _, v in _run(BRANIN, _branin, 25, seed=s, strategy=strategy))
                    for s in range(3)
                ]
            )
        )

    bayesian, random = mean_best("Bayesian"), mean_best("Random")
    assert bayesian < random
    assert bayesian < 0.397887 + 0.1  # within 0.1 of the global minimum


def test_the_model_assumes_unexplored_space_as_bad_as_the_worst_trial() -> None:
    """The GP's prior mean is the worst loss seen (failures count as the worst), so far
    from the data the posterior mean is the worst target, not the average one."""
    losses = np.array([3.0, 1.0, 2.0, np.nan, 0.5, 1.5])
    y = pessimistic_targets(losses)
    assert y.max() == 0.0 and y[0] == y[3] == 0.0 and np.argmin(y) == 4
    X = 0.1 * np.random.default_rng(0).random((len(y), 2))  # all in one corner
    params = KernelParams(np.array([0.05, 0.05]), signal_var=1.0, noise_var=1e-6)
    far_mean, _ = GPRegressor(X, y, np.zeros(2, bool), params).posterior(np.array([[1.0, 1.0]]))
    assert far_mean[0] == pytest.approx(0.0, abs=1e-3)
    assert far_mean[0] > np.mean(y) + 0.5


@pytest.mark.slow
def test_no_trial_is_spent_on_a_near_copy_of_a_known_point() -> None:
    """Near the optimum EI would keep proposing the incumbent again, moved by a hair."""
    observations = _run(BRANIN, _branin, 40, seed=0)
    points = np.array([[o.params["x"], o.params["y"]] for o in observations]) / 15.0
    for i in range(1, len(points)):
        closest = np.min(np.max(np.abs(points[:i] - points[i]), axis=1))
        assert closest > 0.01, f"trial {i} is {closest:.2g} from an earlier one"
