"""The posterior of many points is computed `POSTERIOR_BLOCK` points at a time (bounded
memory, QA106): the same values as point by point, for one target and for fantasies."""

from __future__ import annotations

import numpy as np
import pytest
from kubetune.optimizer.gp import POSTERIOR_BLOCK, GPRegressor, KernelParams

IS_CATEGORICAL = np.array([False, False, True])
PARAMS = KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-4)


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.random((n, 2)), rng.integers(0, 3, n)]).astype(float)


@pytest.mark.parametrize("targets", [None, 3], ids=["one target", "three fantasies"])
def test_a_posterior_in_blocks_equals_the_posterior_point_by_point(targets: int | None) -> None:
    X = _points(40, seed=0)
    shape = (len(X),) if targets is None else (len(X), targets)
    y = np.random.default_rng(1).standard_normal(shape)
    gp = GPRegressor(X, y, IS_CATEGORICAL, PARAMS)
    x = _points(2 * POSTERIOR_BLOCK + 7, seed=2)  # two full blocks and a short one
    mean, var = gp.posterior(x)
    assert mean.shape == (len(x), *shape[1:]) and var.shape == (len(x),)
    one_by_one = [gp.posterior(point[None, :]) for point in x]
    np.testing.assert_allclose(mean, np.concatenate([m for m, _ in one_by_one]), atol=1e-12)
    np.testing.assert_allclose(var, np.concatenate([v for _, v in one_by_one]), atol=1e-12)
