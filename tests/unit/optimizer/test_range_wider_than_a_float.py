"""QA105 #2: a Continuous range wider than the largest float ([-1e308, 1e308]: max - min
overflows to inf) is searched like any other; every trial got max before."""

from __future__ import annotations

import numpy as np
import pytest
from kubetune.optimizer import Continuous, SearchSpace, suggest
from kubetune.optimizer.encoding import Encoder

WIDE = SearchSpace([Continuous("x", -1e308, 1e308, "Linear")])


@pytest.mark.parametrize("strategy", ["Random", "Sobol", "Bayesian"])
def test_values_spread_over_a_range_wider_than_a_float(strategy: str) -> None:
    observed = [({"x": k * 1e307}, float(k * k)) for k in range(-5, 6)]
    values = [p["x"] for p in suggest(WIDE, observed, strategy=strategy, n=6, seed=4)]
    assert all(-1e308 <= v <= 1e308 for v in values)
    assert len(set(values)) == 6, values


def test_the_middle_of_the_range_encodes_as_one_half_and_back() -> None:
    codec = Encoder(WIDE).columns[0]
    assert codec.encode(np.array([-1e308, 0.0, 5e307, 1e308])).tolist() == [0, 0.5, 0.75, 1]
    assert codec.decode(np.array([0.0, 0.5, 0.75, 1.0])).tolist() == [-1e308, 0.0, 5e307, 1e308]


def test_ordinary_ranges_encode_exactly_as_before() -> None:
    rng = np.random.default_rng(0)
    for low, high in ((0.0, 1.0), (-3.5, 7.25), (1e-6, 1e-1), (-1e6, 1e9)):
        codec = Encoder(SearchSpace([Continuous("x", low, high, "Linear")])).columns[0]
        values = rng.uniform(low, high, 1000)
        assert np.array_equal(codec.encode(values), (values - low) / (high - low))
