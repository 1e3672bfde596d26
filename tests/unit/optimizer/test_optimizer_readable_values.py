"""Suggested values a person can read: bounds exact, at most 10 significant digits,
integers integral, for every warp at both ends of its range."""

from __future__ import annotations

import numpy as np
import pytest
from kubetune.optimizer import Categorical, Continuous, Integer, SearchSpace, suggest
from kubetune.optimizer.encoding import SIGNIFICANT_DIGITS, ColumnCodec, Warp, readable

# (parameter, warp): ranges whose warped bounds do not round-trip exactly in binary
# (exp(log 0.5) = 0.49999999999999994, 1 - exp(log(1 - 0.99)) = 0.9899999999999999).
ENDS: list[tuple[Continuous | Integer, Warp]] = [
    (Continuous("lr", 0.5, 7.3, "Logarithmic"), "Logarithmic"),
    (Continuous("lr2", 1e-5, 0.3, "Logarithmic"), "Logarithmic"),
    (Continuous("m", 0.5, 0.99, "ReverseLogarithmic"), "ReverseLogarithmic"),
    (Continuous("m0", 0.0, 0.9999, "ReverseLogarithmic"), "ReverseLogarithmic"),
    (Continuous("x", -0.3, 0.7, "Linear"), "Linear"),
    (Integer("units", 3, 1000, "Logarithmic"), "Logarithmic"),
]


@pytest.mark.parametrize(("param", "warp"), ENDS, ids=[p.name for p, _ in ENDS])
def test_the_ends_of_the_unit_interval_decode_to_the_bounds_exactly(
    param: Continuous | Integer, warp: Warp
) -> None:
    codec = ColumnCodec(param, warp)
    low, high = codec.decode(np.array([0.0, 1.0])).tolist()
    assert (low, high) == (param.min, param.max)
    # Just inside the ends too: within rounding, the bound itself, never a near miss.
    low, high = codec.decode(np.array([1e-15, 1.0 - 1e-15])).tolist()
    assert (low, high) == (param.min, param.max)


@pytest.mark.parametrize(("param", "warp"), ENDS, ids=[p.name for p, _ in ENDS])
def test_decoded_values_have_at_most_ten_significant_digits(
    param: Continuous | Integer, warp: Warp
) -> None:
    codec = ColumnCodec(param, warp)
    for value in codec.decode(np.linspace(0.0, 1.0, 257)).tolist():
        assert float(f"{value:.{SIGNIFICANT_DIGITS}g}") == value, value
        assert param.min <= value <= param.max


def test_the_bottom_decades_of_a_wide_log_range_are_not_taken_for_its_bound() -> None:
    """Closeness to a bound is measured in the searched (log) range: below 1e-10 lie two
    of the twelve decades of [1e-12, 1], which a linear tolerance of 1e-10 of the range
    turned into 1e-12 itself (a sixth of all draws)."""
    space = SearchSpace([Continuous("x", 1e-12, 1.0, "Logarithmic")])
    values = [p["x"] for p in suggest(space, [], strategy="Random", n=400, seed=3)]
    assert values.count(1e-12) == 0
    assert 40 <= sum(v < 1e-10 for v in values) <= 95  # a sixth of 400, give or take


@pytest.mark.parametrize(
    ("value", "lo", "hi", "expected"),
    [
        (0.9899999999999999, 0.5, 0.99, 0.99),
        (0.49999999999999994, 0.5, 5.0, 0.5),
        (0.7123456789012345, 0.5, 5.0, 0.7123456789),
        (1.2345678901234e-17, 1e-18, 1e-16, 1.23456789e-17),
        (3.000000000000001e30, 1.0, 1e31, 3e30),
        (9.2e-15, 0.0, 0.9999, 0.0),  # 1e-10 of the range from a bound: the bound
        (0.4999999, 0.5, 0.6, 0.5),
        (0.7, 0.5, 0.6, 0.6),
    ],
)
def test_readable_rounds_at_every_magnitude_and_keeps_bounds(
    value: float, lo: float, hi: float, expected: float
) -> None:
    assert readable(np.array([value]), lo, hi).tolist() == [expected]


@pytest.mark.parametrize("strategy", ["Random", "Sobol", "Bayesian"])
def test_suggested_values_are_readable(strategy: str) -> None:
    space = SearchSpace(
        [p for p, _ in ENDS] + [Categorical("act", ["relu", "tanh"])]  # type: ignore[list-item]
    )
    observations: list[tuple[dict[str, object], float]] = []
    for params in suggest(space, [], strategy="Random", n=12, seed=3):
        loss = (float(params["x"]) - 0.2) ** 2 + float(np.log(float(params["lr"])))
        observations.append((params, loss))
    for params in suggest(space, observations, strategy=strategy, n=3, seed=5):  # type: ignore[arg-type]
        assert type(params["units"]) is int
        for name in ("lr", "lr2", "m", "m0", "x"):
            value = params[name]
            assert type(value) is float
            assert float(f"{value:.{SIGNIFICANT_DIGITS}g}") == value, (name, value)
