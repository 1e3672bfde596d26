"""Auto scaling learns Linear vs Logarithmic from the data (marginal-likelihood evidence)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from kubetune.optimizer import Continuous, SearchSpace
from kubetune.optimizer.bayesian import choose_warps, impute_and_standardise
from kubetune.optimizer.encoding import Encoder, Warp
from kubetune.optimizer.gp import fit_kernel_params

# lr spans 1.7 decades: Auto starts Linear (< 2 decades) but may learn Logarithmic.
SPACE = SearchSpace([Continuous("lr", 1.0, 50.0), Continuous("x", 0.0, 1.0)])


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        (lambda lr, x: np.sin(4 * np.log(lr)) + x, "Logarithmic"),
        (lambda lr, x: np.sin(lr / 4) + x, "Linear"),
    ],
    ids=["wiggles-in-log-space", "wiggles-in-linear-space"],
)
@pytest.mark.parametrize("start", ["Linear", "Logarithmic"])
def test_choose_warps_finds_the_scale_the_objective_lives_on(
    objective: Callable[[np.ndarray, np.ndarray], np.ndarray], expected: Warp, start: Warp
) -> None:
    rng = np.random.default_rng(0)
    values = np.column_stack([np.exp(rng.uniform(0, np.log(50), 25)), rng.random(25)])
    y = impute_and_standardise(objective(values[:, 0], values[:, 1]))
    encoder = Encoder(SPACE, {"lr": start})
    params, _ = fit_kernel_params(encoder.encode_values(values), y, encoder.is_categorical)
    assert choose_warps(encoder, values, y, params).warps == {"lr": expected, "x": "Linear"}


def test_declared_scalings_are_never_switched() -> None:
    space = SearchSpace([Continuous("lr", 1.0, 50.0, "Linear"), Continuous("x", 0.0, 1.0)])
    rng = np.random.default_rng(0)
    values = np.column_stack([np.exp(rng.uniform(0, np.log(50), 25)), rng.random(25)])
    y = impute_and_standardise(np.sin(4 * np.log(values[:, 0])))
    encoder = Encoder(space)
    params, _ = fit_kernel_params(encoder.encode_values(values), y, encoder.is_categorical)
    assert choose_warps(encoder, values, y, params).warps["lr"] == "Linear"
