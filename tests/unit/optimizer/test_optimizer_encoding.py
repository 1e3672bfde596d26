"""Round trips of every encoding, the warps Auto picks, and lenient parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from kubetune.optimizer.encoding import ColumnCodec, Encoder, Warp, default_warp
from kubetune.optimizer.space import Categorical, Continuous, Integer, Parameter, SearchSpace

CODECS: list[tuple[Parameter, Warp, list[float]]] = [
    (Continuous("x", -5.0, 10.0, "Linear"), "Linear", [-5.0, -1.25, 0.0, 10.0]),
    (Continuous("lr", 1e-5, 1e-1, "Logarithmic"), "Logarithmic", [1e-5, 3e-4, 1e-1]),
    (Continuous("m", 0.0, 0.999, "ReverseLogarithmic"), "ReverseLogarithmic", [0.0, 0.9, 0.999]),
    (Continuous("m2", 0.5, 0.9999, "ReverseLogarithmic"), "ReverseLogarithmic", [0.5, 0.99]),
    (Integer("k", -3, 4, "Linear"), "Linear", [-3.0, 0.0, 1.0, 4.0]),
    (Integer("units", 1, 1024, "Logarithmic"), "Logarithmic", [1.0, 2.0, 100.0, 1024.0]),
    (Categorical("act", ["relu", "tanh", "gelu"]), "Linear", [0.0, 1.0, 2.0]),
]


@pytest.mark.parametrize(("param", "warp", "values"), CODECS, ids=[c[0].name for c in CODECS])
def test_encode_then_decode_returns_the_values(
    param: Parameter, warp: Warp, values: list[float]
) -> None:
    codec = ColumnCodec(param, warp)
    raw = np.array(values)
    features = codec.encode(raw)
    np.testing.assert_allclose(codec.decode(features), raw, rtol=1e-12, atol=1e-12)
    if codec.n_choices == 0:
        assert np.all((features >= 0) & (features <= 1))
    np.testing.assert_array_equal(codec.snap(features), features)


@pytest.mark.parametrize(("param", "warp", "values"), CODECS, ids=[c[0].name for c in CODECS])
def test_unit_points_map_to_valid_values(param: Parameter, warp: Warp, values: list[float]) -> None:
    codec = ColumnCodec(param, warp)
    decoded = codec.decode(codec.from_unit(np.linspace(0.0, 1.0, 101)))
    if isinstance(param, Categorical):
        assert set(decoded) == {0.0, 1.0, 2.0}  # every value reachable, none invented
    else:
        assert decoded.min() >= param.min and decoded.max() <= param.max
    if not isinstance(param, Continuous):
        np.testing.assert_array_equal(decoded, np.rint(decoded))


def test_integers_own_equal_shares_of_the_unit_interval() -> None:
    codec = ColumnCodec(Integer("k", 0, 3, "Linear"), "Linear")
    counts = np.bincount(codec.decode(np.linspace(0.0, 1.0, 4001)).astype(int))
    assert counts.min() >= 999 and counts.max() <= 1001


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (Continuous("lr", 1e-4, 1e-1), "Logarithmic"),
        (Continuous("lr", 1e-2, 1e-1), "Linear"),  # one decade: linear until data says so
        (Continuous("x", 0.0, 1000.0), "Linear"),  # min = 0 cannot be log-scaled
        (Integer("units", 8, 1024), "Logarithmic"),
        (Integer("k", 1, 10), "Linear"),
        (Continuous("m", 0.0, 0.9, "ReverseLogarithmic"), "ReverseLogarithmic"),
    ],
)
def test_auto_scaling_uses_log_for_two_decades(param: Continuous | Integer, expected: str) -> None:
    assert default_warp(param) == expected


def test_parse_rejects_values_outside_the_space_and_accepts_numeric_strings() -> None:
    encoder = Encoder(
        SearchSpace(
            [Continuous("lr", 1e-4, 1e-1), Integer("k", 1, 5), Categorical("act", ["a", "b"])]
        )
    )
    assert encoder.parse({"lr": "0.01", "k": 3.0, "act": "b", "extra": 1}) is not None
    row = encoder.parse({"lr": 0.01, "k": 3, "act": "b"})
    assert row is not None and row.tolist() == [0.01, 3.0, 1.0]
    for bad in (
        {"lr": 0.01, "k": 3},  # missing key
        {"lr": 0.5, "k": 3, "act": "a"},  # above max
        {"lr": 0.01, "k": 2.5, "act": "a"},  # not an integer
        {"lr": 0.01, "k": 3, "act": "c"},  # unknown category
        {"lr": math.nan, "k": 3, "act": "a"},
        {"lr": True, "k": 3, "act": "a"},
    ):
        assert encoder.parse(bad) is None, bad


def test_to_params_returns_declared_python_types() -> None:
    encoder = Encoder(
        SearchSpace(
            [Continuous("lr", 1e-4, 1e-1), Integer("k", 1, 5), Categorical("act", ["a", "b"])]
        )
    )
    (params,) = encoder.to_params(np.array([[0.5, 0.5, 1.0]]))
    assert type(params["lr"]) is float and type(params["k"]) is int and params["act"] == "b"
