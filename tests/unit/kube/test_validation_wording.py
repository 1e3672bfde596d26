"""The wording of the spec checks' messages (QA76 L4): a duration where seconds are
counted, an enum value in the wrong case, an Integer parameter's bound that is not whole,
each said with the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubetune.cli.admission import _message, admission_problems
from kubetune.operator.api.schema import spec_schema
from kubetune.operator.kube.validation import parse_and_validate_spec

SPEC: dict[str, Any] = {
    "objective": {"metric": "validation:accuracy", "type": "Maximize"},
    "metrics": [{"name": "validation:accuracy", "regex": r"accuracy=([0-9.]+)"}],
    "parameters": [
        {"name": "lr", "type": "Continuous", "min": 0.001, "max": 0.5},
        {"name": "wd", "type": "Integer", "min": 0, "max": 8},
    ],
    "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "trainer"}]}}}},
}


def problems_with(path: tuple[str | int, ...], value: Any) -> list[str]:
    """The models' problems with SPEC where `path` is set to `value`."""
    raw = copy.deepcopy(SPEC)
    node: Any = raw
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    return parse_and_validate_spec(raw)[1]


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("30m", "write a whole number of seconds: 1800"),
        ("1h30m", "write a whole number of seconds: 5400"),
        ("90s", "write a whole number of seconds: 90"),
        ("soon", "write a whole number of seconds, e.g. 1800"),
    ],
)
def test_a_field_of_seconds_asks_for_seconds(value: str, fix: str) -> None:
    assert problems_with(("limits", "maxRuntimeSeconds"), value) == [
        f"spec.limits.maxRuntimeSeconds: {value!r} is not an integer; {fix}"
    ]


def test_another_integer_field_keeps_its_example() -> None:
    assert problems_with(("limits", "maxTrials"), "30m") == [
        "spec.limits.maxTrials: '30m' is not an integer; write a whole number, e.g. 10"
    ]


def test_the_crd_shows_the_example_of_a_field_of_seconds() -> None:
    limits = spec_schema()["properties"]["limits"]["properties"]
    assert limits["maxRuntimeSeconds"]["example"] == 1800


@pytest.mark.parametrize(
    ("path", "value", "meant"),
    [
        (("strategy",), "bayesian", "Bayesian"),
        (("strategy",), "HYPERBAND", "Hyperband"),
        (("parameters", 1, "type"), "integer", "Integer"),
        (("parameters", 0, "scaling"), "logarithmic", "Logarithmic"),
        (("earlyStopping",), "auto", "Auto"),
        (("objective", "type"), "maximize", "Maximize"),
    ],
)
def test_an_enum_value_in_the_wrong_case_says_case_matters(
    path: tuple[str | int, ...], value: str, meant: str
) -> None:
    (problem,) = problems_with(path, value)
    assert problem.endswith(f"(value {value!r}); write {meant}: case matters"), problem


def test_an_unknown_enum_value_gets_no_case_hint() -> None:
    (problem,) = problems_with(("strategy",), "Annealing")
    assert "case matters" not in problem
    assert "'Bayesian', 'Random', 'Grid', 'Sobol' or 'Hyperband' (value 'Annealing')" in problem


@pytest.mark.parametrize(
    ("bound", "value", "said"),
    [
        ("max", 0.001, "and this one has a fraction; round it"),
        ("min", -0.5, "and this one has a fraction; round it"),
        ("max", 1e16, "and this one is beyond them; bring it within them"),
    ],
)
def test_an_integer_parameters_bound_says_what_is_wrong_with_it(
    bound: str, value: float, said: str
) -> None:
    raw = copy.deepcopy(SPEC)
    raw["parameters"][1][bound] = value
    assert admission_problems(raw) == [
        f"spec.parameters[1].{bound}: parameter wd: {bound} of an Integer parameter must be a "
        f"whole number between -1e15 and 1e15, {said}, or make the parameter Continuous"
    ]


def test_a_message_expression_that_fails_falls_back_to_the_message() -> None:
    # As the API server does: a messageExpression that cannot be evaluated shows `message`.
    rule = {"rule": "false", "message": "plain", "messageExpression": "'x' + self.missing"}
    assert _message(rule, {"self": {}}) == "plain"
