"""A batch's model work: the fantasies of pending points share one kernel factor, updated
from the observations' factor instead of refactored. Counted, never timed (QA98 M1: a
batch of 8 at 1000 observations took ~18 s of one core, most of it in 8 fantasy GPs per
point, each with its own (n + p)² factor and posterior variances)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.linalg
from kubetune.optimizer import Continuous, Integer, SearchSpace, suggest

SPACE = SearchSpace(
    [Continuous("x", 0.0, 1.0), Continuous("lr", 1e-3, 10.0, "Logarithmic"), Integer("k", 1, 50)]
)


def _observed(n: int) -> list[tuple[dict[str, Any], float]]:
    points = suggest(SPACE, [], strategy="Random", n=n, seed=2)
    return [(p, (p["x"] - 0.3) ** 2 + abs(np.log10(p["lr"])) * 0.1 + p["k"] * 1e-3) for p in points]


def test_a_batch_never_refactors_the_kernel_matrix_of_observations_and_pending_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes: list[int] = []
    original = scipy.linalg.cholesky

    def counting(a: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        sizes.append(len(a))
        return original(a, *args, **kwargs)

    monkeypatch.setattr(scipy.linalg, "cholesky", counting)
    n = 60
    observed = _observed(n)
    running = [p for p, _ in observed[:2]]
    points = suggest(SPACE, observed, strategy="Bayesian", n=4, pending=running, seed=1)
    assert len(points) == 4
    assert sizes.count(n) >= 1  # the observations' GP (and the fit, all 60 points)
    # Before: 8 fantasy GPs per point of the batch, each factoring (n + pending)² afresh.
    assert [s for s in sizes if s > n] == []
