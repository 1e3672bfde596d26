"""Bayesian batches in a space covered by trials at the no-repeat radius (QA105 finding 13).

With a trial every 2 % or less of a parameter's range (e.g. a learning-rate-only search
with maxTrials 200), every point of the space is within 1 % (``SAME_POINT``) of an
observed one. The old fallback then took the best candidate whatever it repeated, and a
batch of 3 came out as one point three times (0.2999999986, ...84, 0.3000000011): three
GPU trials with the same hyperparameters. Now the observed points' radius shrinks to
exact repeats there, while the pending points' and the batch's stays 1 %.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from kubetune.optimizer import Categorical, Continuous, Integer, SearchSpace, suggest
from kubetune.optimizer.acq_optim import SAME_POINT, maximize_log_ei
from kubetune.optimizer.acquisition import LogEI
from kubetune.optimizer.encoding import Encoder, FloatArray
from kubetune.optimizer.gp import GPRegressor, fit_kernel_params

LINE = SearchSpace([Continuous("x", 0.0, 1.0)])
# A trial every 1/149 of the range: every point is within 0.34 % of one.
DENSE = [({"x": i / 149}, (i / 149 - 0.3) ** 2) for i in range(150)]


def _apart(a: Mapping[str, object], b: Mapping[str, object], space: SearchSpace) -> bool:
    """Whether a and b differ by more than the no-repeat radius in some parameter (linear
    ranges: a fraction of max - min; categoricals: another value)."""
    for parameter in space.parameters:
        if isinstance(parameter, Categorical):
            if a[parameter.name] != b[parameter.name]:
                return True
        else:
            width = float(parameter.max) - float(parameter.min)
            gap = abs(float(a[parameter.name]) - float(b[parameter.name]))  # type: ignore[arg-type]
            if gap > SAME_POINT * width:
                return True
    return False


def _close_pairs(
    points: Sequence[Mapping[str, object]], space: SearchSpace
) -> list[tuple[Mapping[str, object], Mapping[str, object]]]:
    return [(a, b) for a, b in itertools.combinations(points, 2) if not _apart(a, b, space)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_batch_in_a_densely_covered_line_spreads_out(seed: int) -> None:
    batch = suggest(LINE, DENSE, strategy="Bayesian", n=3, seed=seed)
    assert len(batch) == 3
    assert _close_pairs(batch, LINE) == []  # old code: all three pairs, at 0.29999999..
    # Still where the model points (next to the optimum at 0.3), not anywhere free.
    assert all(abs(float(p["x"]) - 0.3) < 0.05 for p in batch), batch
    assert suggest(LINE, DENSE, strategy="Bayesian", n=3, seed=seed) == batch


def test_pending_trials_at_the_best_point_are_not_repeated() -> None:
    pending = [{"x": 0.3}]
    batch = suggest(LINE, DENSE, strategy="Bayesian", n=2, pending=pending, seed=0)
    assert len(batch) == 2
    assert _close_pairs([*batch, *pending], LINE) == []  # old code: 0.29999999.. twice


def test_a_batch_with_a_categorical_spreads_out() -> None:
    space = SearchSpace([Categorical("c", ["a", "b"]), Continuous("x", 0.0, 1.0)])
    observations = [
        ({"c": c, "x": i / 100}, (i / 100 - 0.3) ** 2 + (c == "a"))
        for c in "ab"
        for i in range(101)
    ]
    batch = suggest(space, observations, strategy="Bayesian", n=3, seed=0)
    assert len(batch) == 3
    assert _close_pairs(batch, space) == []  # old code: ("b", 0.29999..) three times


def test_an_integer_batch_in_a_covered_range_stays_by_the_optimum() -> None:
    """Every other value tried, so every untried one is within 1 % (3 values) of a tried
    one: the old code repeated the model's point, which the finite-space rule then
    replaced by random untried values (100, 6, 2); now the model places all three."""
    space = SearchSpace([Integer("k", 1, 300)])
    observations = [({"k": k}, (k - 100) ** 2) for k in range(1, 300, 2)]
    batch = suggest(space, observations, strategy="Bayesian", n=3, seed=1)
    values = sorted(int(p["k"]) for p in batch)
    assert len(set(values)) == 3
    assert all(value % 2 == 0 for value in values)  # none tried before
    assert all(abs(value - 100) <= 10 for value in values), values
    assert _close_pairs(batch, space) == []


@pytest.mark.parametrize(
    ("pending", "expected"),
    [([], [{"k": 9}, {"k": 12}]), ([{"k": 9}], [{"k": 12}])],
)
def test_an_exhausted_integer_range_still_gives_fewer_points(
    pending: list[dict[str, int]], expected: list[dict[str, int]]
) -> None:
    space = SearchSpace([Integer("k", 1, 20)])
    observations = [({"k": k}, (k - 10) ** 2) for k in range(1, 21) if k not in (9, 12)]
    batch = suggest(space, observations, strategy="Bayesian", n=3, pending=pending, seed=1)
    assert sorted(batch, key=lambda p: p["k"]) == expected


def test_the_crowded_test_applies_only_when_every_candidate_is_known() -> None:
    encoder = Encoder(LINE)
    X = encoder.encode_values(np.array([[i / 20] for i in range(21)]))  # gaps of 5 %
    y = (X[:, 0] - 0.3) ** 2
    y = (y - y.mean()) / y.std()
    params, _ = fit_kernel_params(X, y, encoder.is_categorical, n_restarts=1)
    acquisition = LogEI(GPRegressor(X, y, encoder.is_categorical, params), float(y.min()))

    def best(
        known: list[tuple[FloatArray, float]], crowded: list[tuple[FloatArray, float]]
    ) -> FloatArray:
        return maximize_log_ei(
            acquisition,
            encoder,
            known=known,
            incumbents=X[:1],
            rng=np.random.default_rng(0),
            known_when_crowded=crowded,
        )

    plain = best([(X, SAME_POINT)], [])
    # A free candidate exists: the crowded test is not consulted, even where it forbids
    # the point the plain rule takes.
    assert np.array_equal(best([(X, SAME_POINT)], [(plain[None, :], SAME_POINT)]), plain)
    everything = [(np.array([[0.5]]), 1.0)]
    unconstrained = best(everything, [])  # every candidate known: the best of them
    # Every candidate known: the best one outside the crowded test's radius.
    spread = best(everything, [(unconstrained[None, :], SAME_POINT)])
    assert float(np.max(np.abs(spread - unconstrained))) > SAME_POINT
    # And where the crowded test forbids every candidate too, the best one, as before.
    assert np.array_equal(best(everything, everything), unconstrained)
