"""Finite spaces (Integer and Categorical parameters only): no strategy proposes a
configuration already tried (observed, failed or pending) while untried ones remain, and
none proposes anything once every one has been tried, as Grid always did."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from kubetune.optimizer import (
    SAMPLERS,
    STRATEGIES,
    Categorical,
    Continuous,
    HyperbandSampler,
    HyperbandTrial,
    Integer,
    SearchSpace,
    grid,
    suggest,
    suggest_hyperband,
)
from kubetune.optimizer.encoding import Encoder

SIX = SearchSpace([Integer("a", 1, 3), Categorical("c", ["x", "y"])])
EVERY_POINT = [(a, c) for a in (1, 2, 3) for c in ("x", "y")]


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(params[name] for name in SIX.names)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_proposes_every_configuration_once_then_nothing(strategy: str) -> None:
    observations: list[tuple[dict[str, Any], float]] = []
    for i in range(10):
        proposed = suggest(SIX, observations, strategy=strategy, n=1, seed=3)  # type: ignore[arg-type]
        observations += [(p, float(i)) for p in proposed]
        assert len(proposed) == (1 if i < 6 else 0)
    assert sorted(_key(p) for p, _ in observations) == sorted(EVERY_POINT)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_batch_takes_only_the_untried_configurations(strategy: str) -> None:
    tried = [({"a": 1, "c": "x"}, 0.5), ({"a": 2, "c": "y"}, math.nan)]  # a failure counts
    pending = [{"a": 3, "c": "x"}]
    proposed = suggest(SIX, tried, strategy=strategy, n=5, pending=pending, seed=1)  # type: ignore[arg-type]
    assert sorted(_key(p) for p in proposed) == [(1, "y"), (2, "x"), (3, "y")]
    everything = [{"a": a, "c": c} for a, c in EVERY_POINT if (a, c) not in {(1, "x"), (2, "y")}]
    assert suggest(SIX, tried, strategy=strategy, n=2, pending=everything, seed=1) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["Bayesian", "Sobol"])
def test_successive_batches_with_pending_trials_never_repeat(strategy: str) -> None:
    space = SearchSpace([Integer("k", 0, 4), Categorical("act", ["relu", "tanh", "gelu"])])
    observations: list[tuple[dict[str, Any], float]] = []
    pending: list[dict[str, Any]] = []
    for _ in range(6):
        batch = suggest(space, observations, strategy=strategy, n=3, pending=pending, seed=2)  # type: ignore[arg-type]
        pending += batch
        done, pending = pending[:2], pending[2:]
        observations += [(p, float(p["k"])) for p in done]
    keys = [(p["k"], p["act"]) for p, _ in observations] + [(p["k"], p["act"]) for p in pending]
    assert len(keys) == len(set(keys)) == 15
    assert suggest(space, observations, strategy=strategy, n=3, pending=pending, seed=2) == []  # type: ignore[arg-type]


def test_random_stays_uniform_over_the_untried_configurations() -> None:
    tried = [({"a": a, "c": c}, 1.0) for a, c in ((1, "x"), (1, "y"), (2, "x"))]
    counts = Counter(_key(suggest(SIX, tried, strategy="Random", seed=s)[0]) for s in range(3000))
    assert set(counts) == {(2, "y"), (3, "x"), (3, "y")}
    assert all(abs(c / 3000 - 1 / 3) < 0.03 for c in counts.values()), counts


def test_random_keeps_its_log_weights_restricted_to_the_untried() -> None:
    """A log-scaled Integer is drawn log-uniformly: without replacement, each untried value
    keeps its weight relative to the other untried ones."""
    space = SearchSpace([Integer("u", 1, 4, "Logarithmic")])
    weights = np.diff(np.log([0.5, 1.5, 2.5, 3.5, 4.5]))
    tried = [({"u": 2}, 1.0)]
    counts = Counter(suggest(space, tried, strategy="Random", seed=s)[0]["u"] for s in range(4000))
    expected = {u: weights[u - 1] / (weights.sum() - weights[1]) for u in (1, 3, 4)}
    assert set(counts) == set(expected)
    assert all(abs(counts[u] / 4000 - p) < 0.03 for u, p in expected.items()), counts


def test_random_without_replacement_is_deterministic_in_its_inputs() -> None:
    tried = [({"a": 1, "c": "x"}, 1.0), ({"a": 1, "c": "y"}, 2.0), ({"a": 3, "c": "y"}, 0.0)]
    first = suggest(SIX, tried, strategy="Random", n=3, seed=7)
    assert first == suggest(SIX, list(tried), strategy="Random", n=3, seed=7)
    assert len({_key(p) for p in first}) == 3


def test_a_repeat_in_a_huge_space_is_redrawn_without_enumerating_the_grid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    space = SearchSpace([Integer("i", 0, 10**9), Integer("j", 0, 10**9)])
    encoder = Encoder(space)

    def no_enumeration(*_: Any) -> Any:
        raise AssertionError("enumerated a grid of 1e18 points")

    monkeypatch.setattr(grid, "_grid_values", no_enumeration)
    monkeypatch.setattr(grid, "_untried_weights", no_enumeration)
    tried = np.array([[5.0, 7.0]])
    proposed = np.array([[5.0, 7.0], [5.0, 7.0]])
    fresh = grid.replace_repeats(encoder, proposed, tried, np.random.default_rng(0))
    assert fresh.shape == (2, 2) and len({tuple(r) for r in fresh} | {(5.0, 7.0)}) == 3


def test_the_redraw_path_is_uniform_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the enumeration bound, a repeat is replaced by re-drawing until untried."""
    monkeypatch.setattr(grid, "_MAX_ENUMERATED", 1)
    tried = [({"a": a, "c": c}, 1.0) for a, c in ((1, "x"), (1, "y"), (2, "x"))]
    counts = Counter(_key(suggest(SIX, tried, strategy="Random", seed=s)[0]) for s in range(3000))
    assert set(counts) == {(2, "y"), (3, "x"), (3, "y")}
    assert all(abs(c / 3000 - 1 / 3) < 0.03 for c in counts.values()), counts


def test_proposals_that_do_not_repeat_are_returned_as_they_are() -> None:
    encoder = Encoder(SIX)
    proposed = np.array([[1.0, 0.0], [2.0, 1.0]])
    rng = np.random.default_rng(0)
    assert grid.replace_repeats(encoder, proposed, np.array([[3.0, 0.0]]), rng) is proposed
    plane = Encoder(SearchSpace([Continuous("x", 0.0, 1.0), Integer("k", 1, 2)]))
    same = np.array([[0.5, 1.0], [0.5, 1.0]])  # a space with a Continuous is never exhausted
    assert grid.replace_repeats(plane, same, same, rng) is same


def test_untried_count_bounds_its_work() -> None:
    assert grid.count_untried(SIX, np.array([[1.0, 0.0], [1.0, 0.0], [3.0, 1.0]])) == 4
    huge = SearchSpace([Integer("i", 0, 10**12)])
    assert grid.count_untried(huge, np.array([[4.0]])) == 10**12
    assert grid.count_untried(SearchSpace([Continuous("x", 0.0, 1.0)]), np.empty((0, 1))) is None


# Hyperband: every trial of the job counts as tried, whatever rung it stopped at.


@pytest.mark.parametrize("kind", SAMPLERS)
def test_each_hyperband_sampler_proposes_every_configuration_once_then_nothing(
    kind: str,
) -> None:
    trials: list[HyperbandTrial] = []
    sampler = HyperbandSampler(kind)  # type: ignore[arg-type]
    for i in range(10):
        proposed = suggest_hyperband(SIX, trials, n_levels=3, sampler=sampler, n=1, seed=3)
        assert len(proposed) == (1 if i < 6 else 0)
        # Odd trials stop at the first rung, even ones run to the end; one fails.
        values = [] if i == 4 else [float(i)] * (1 if i % 2 else 3)
        trials += [HyperbandTrial(p, values) for p in proposed]
    assert sorted(_key(dict(t.params)) for t in trials) == sorted(EVERY_POINT)


@pytest.mark.parametrize("kind", SAMPLERS)
def test_hyperband_samplers_avoid_running_trials(kind: str) -> None:
    running = [HyperbandTrial({"a": a, "c": c}, [], running=True) for a, c in EVERY_POINT]
    sampler = HyperbandSampler(kind)  # type: ignore[arg-type]
    proposed = suggest_hyperband(SIX, running[:4], n_levels=3, sampler=sampler, n=4, seed=1)
    assert sorted(_key(p) for p in proposed) == sorted(_key(dict(t.params)) for t in running[4:])
    assert suggest_hyperband(SIX, running, n_levels=3, sampler=sampler, n=2, seed=1) == []
