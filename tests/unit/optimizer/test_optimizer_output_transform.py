"""The output transform (standardise, or Yeo-Johnson then standardise) is chosen by the
GP's evidence on the loss scale."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from kubetune.optimizer.bayesian import Targets, choose_output_transform, output_transforms

IS_NUMERIC = np.zeros(2, dtype=bool)


def test_log_jacobian_is_the_derivative_of_the_transform() -> None:
    losses = np.exp(np.random.default_rng(0).normal(size=12))  # skewed: λ far from 1
    _, power = output_transforms(losses)
    mean, std = losses.mean(), losses.std()
    lmbda = scipy.stats.yeojohnson((losses - mean) / std)[1]
    transformed = scipy.stats.yeojohnson((losses - mean) / std, lmbda)

    def transform(loss: np.ndarray) -> np.ndarray:
        # The same map with its constants (means, stds, λ) frozen at the fitted values.
        return (scipy.stats.yeojohnson((loss - mean) / std, lmbda) - transformed.mean()) / (
            transformed.std()
        )

    np.testing.assert_allclose(transform(losses), power.y, atol=1e-12)
    step = 1e-6
    slope = (transform(losses + step) - transform(losses - step)) / (2 * step)
    np.testing.assert_allclose(power.log_jacobian, np.log(slope), rtol=1e-5, atol=1e-7)


def test_few_or_constant_losses_are_only_standardised() -> None:
    assert len(output_transforms(np.array([1.0, 2.0, 3.0]))) == 1
    (only,) = output_transforms(np.full(8, 4.0))
    np.testing.assert_array_equal(only.y, np.zeros(8))
    (with_failures,) = output_transforms(np.array([np.nan, 1.0, 3.0]))
    np.testing.assert_allclose(with_failures.y, [1.0, -2.0, 1.0] / np.sqrt(2))


def _choose(losses: np.ndarray, X: np.ndarray) -> int:
    chosen, _ = choose_output_transform(X, output_transforms(losses), IS_NUMERIC)
    return chosen


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_heavy_tailed_losses_choose_the_power_transform(scale: float) -> None:
    # A smooth function seen through exp(): a few losses dwarf the rest.
    X = np.random.default_rng(1).random((30, 2))
    losses = scale * np.exp(4 * (np.sin(3 * X[:, 0]) + X[:, 1] ** 2))
    assert _choose(losses, X) == 1


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_losses_a_gp_models_as_they_are_stay_standardised(scale: float) -> None:
    # The power transform would bend a smooth surface that needs no bending.
    X = np.random.default_rng(2).random((30, 2))
    losses = scale * (np.sin(3 * X[:, 0]) + X[:, 1] ** 2)
    assert _choose(losses, X) == 0


def test_the_first_candidate_stays_on_a_near_tie() -> None:
    X = np.random.default_rng(3).random((20, 2))
    y = np.sin(3 * X[:, 0])
    same = Targets(y, np.zeros(20))
    slightly_better = Targets(y, np.full(20, 0.05))  # +1 nat in all: under the margin
    assert choose_output_transform(X, [same, slightly_better], IS_NUMERIC)[0] == 0
    much_better = Targets(y, np.full(20, 0.5))  # +10 nats
    assert choose_output_transform(X, [same, much_better], IS_NUMERIC)[0] == 1
