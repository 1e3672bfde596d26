"""Validation of parameters, spaces and suggest's arguments: every error names the culprit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubetune.optimizer import Categorical, Continuous, Integer, SearchSpace, grid_size, suggest

INVALID: list[tuple[str, Callable[[], object], str]] = [
    ("min not below max", lambda: Continuous("lr", 1.0, 1.0), r"'lr'.*min=1\.0.*max=1\.0"),
    ("min above max", lambda: Integer("depth", 5, 2), r"'depth'.*min=5.*below max=2"),
    ("log needs min>0", lambda: Continuous("lr", 0.0, 1.0, "Logarithmic"), r"'lr'.*min > 0"),
    ("int log min>0", lambda: Integer("n", 0, 9, "Logarithmic"), r"'n'.*raise min to 1"),
    ("reverse log max<1", lambda: Continuous("m", 0.5, 1.0, "ReverseLogarithmic"), r"'m'.*< 1"),
    ("reverse log min>=0", lambda: Continuous("m", -0.1, 0.5, "ReverseLogarithmic"), r"'m'"),
    ("reverse log int", lambda: Integer("k", 1, 5, "ReverseLogarithmic"), r"'k'.*Continuous"),
    ("unknown scaling", lambda: Continuous("x", 0, 1, "log"), r"'x'.*scaling='log'"),  # type: ignore[arg-type]
    ("nan bound", lambda: Continuous("x", float("nan"), 1.0), r"'x'.*min=nan.*finite"),
    ("float integer bound", lambda: Integer("k", 1.5, 5), r"'k'.*min=1\.5.*int"),  # type: ignore[arg-type]
    ("empty name", lambda: Continuous("", 0, 1), r"name=''"),
    ("no values", lambda: Categorical("act", []), r"'act'.*empty"),
    ("non-string value", lambda: Categorical("act", ["relu", 3]), r"'act'.*3.*string"),  # type: ignore[list-item]
    ("duplicate value", lambda: Categorical("act", ["relu", "relu"]), r"'act'.*\['relu'\]"),
    ("empty space", lambda: SearchSpace([]), r"at least one"),
    (
        "duplicate names",
        lambda: SearchSpace([Continuous("x", 0, 1), Integer("x", 0, 3)]),
        r"'x'.*more than once",
    ),
]


@pytest.mark.parametrize(("case", "build", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_definitions_raise_value_error_naming_the_parameter(
    case: str, build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()


SPACE = SearchSpace([Continuous("x", 0.0, 1.0)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "TPE"}, r"strategy='TPE'"),
        ({"goal": "minimize"}, r"goal='minimize'"),
        ({"n": -1}, r"n=-1"),
        ({"n": 1.0}, r"n=1\.0"),
        ({"seed": "7"}, r"seed='7'"),
    ],
)
def test_invalid_suggest_arguments_raise_value_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        suggest(SPACE, [], **kwargs)  # type: ignore[arg-type]


def test_grid_refuses_continuous_parameters() -> None:
    space = SearchSpace([Integer("k", 1, 3), Continuous("lr", 1e-4, 1e-1)])
    with pytest.raises(ValueError, match=r"'lr' is Continuous"):
        suggest(space, [], strategy="Grid")
    with pytest.raises(ValueError, match=r"'lr' is Continuous"):
        grid_size(space)


def test_valid_space_keeps_declared_order_and_freezes_values() -> None:
    values = ["relu", "tanh"]
    space = SearchSpace([Categorical("act", values), Integer("k", 1, 3, "Linear")])
    values.append("gelu")
    assert space.names == ("act", "k")
    assert space.parameters[0] == Categorical("act", ["relu", "tanh"])
    assert hash(space) == hash(
        SearchSpace([Categorical("act", ("relu", "tanh")), Integer("k", 1, 3, "Linear")])
    )
