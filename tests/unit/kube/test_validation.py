"""The operator's own checks of a spec: what the CRD's CEL rules cannot express."""

from __future__ import annotations

from typing import Any

import pytest
from kubetune.analytics.errors import KubetuneError
from kubetune.cli.local_run import check_runnable
from kubetune.operator.api import TuningJobSpec, cel
from kubetune.operator.kube.validation import (
    check_metric_regex,
    parse_and_validate_spec,
    validate_spec,
)
from kubetune.optimizer.hyperband import MAX_RESOURCE_KEYS


def spec(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "objective": {"metric": "validation:accuracy", "type": "Maximize"},
        "metrics": [{"name": "validation:accuracy", "regex": r"validation: accuracy=([0-9\.]+)"}],
        "parameters": [
            {"name": "learning_rate", "type": "Continuous", "min": 0.001, "max": 0.5},
            {"name": "momentum", "type": "Continuous", "min": 0, "max": 0.99},
        ],
        "staticHyperparameters": {"epochs": "10"},
        "trialTemplate": {
            "job": {
                "template": {"spec": {"containers": [{"name": "trainer"}, {"name": "log-shipper"}]}}
            }
        },
    }
    raw.update(overrides)
    return raw


def messages_for(**overrides: Any) -> list[str]:
    return validate_spec(TuningJobSpec.from_api(spec(**overrides)))


def test_a_valid_spec_has_no_messages() -> None:
    assert messages_for() == []


@pytest.mark.parametrize(
    "regex",
    [
        r"validation: accuracy=([0-9\.]+)",
        r"(?:val|validation): acc(?:uracy)?=(\d+\.\d+)",
        r"loss=(?P<loss>[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)",
    ],
)
def test_regex_with_one_capture_group_is_accepted(regex: str) -> None:
    assert check_metric_regex(regex) is None


@pytest.mark.parametrize(
    ("regex", "fragment"),
    [
        ("accuracy=([0-9.]+", "is not a valid RE2 regular expression (missing )"),
        (r"accuracy=(?=\d)(\d+)", "is not a valid RE2 regular expression"),
        (r"(\w+)=\1", "is not a valid RE2 regular expression"),
        (r"accuracy=[0-9.]+", "has 0 capture groups but needs exactly one"),
        (r"(train|validation): accuracy=([0-9.]+)", "has 2 capture groups"),
    ],
)
def test_bad_regex_is_reported_with_field_value_and_fix(regex: str, fragment: str) -> None:
    (message,) = messages_for(metrics=[{"name": "validation:accuracy", "regex": regex}])
    assert message.startswith("spec.metrics[0].regex (metric 'validation:accuracy'): ")
    assert f"'{regex}'" in message  # as written: no doubled backslashes
    assert fragment in message
    assert "(?:...)" in message or "fix the pattern" in message


def test_every_bad_metric_is_reported() -> None:
    metrics = [
        {"name": "validation:accuracy", "regex": "([0-9.]+)"},
        {"name": "a", "regex": "no group"},
        {"name": "b", "regex": "((nested))"},
    ]
    messages = messages_for(metrics=metrics)
    assert [m.split(" ", 1)[0] for m in messages] == [
        "spec.metrics[1].regex",
        "spec.metrics[2].regex",
    ]


def local_problems(raw: dict[str, Any]) -> list[str]:
    """What `kubetune run --local` refuses `raw` (a spec) with, one line each."""
    body = {"metadata": {"name": "job"}, "spec": raw}
    with pytest.raises(KubetuneError) as refused:
        check_runnable(body, {})
    return str(refused.value).splitlines()[1:]


def test_missing_primary_container_is_reported_once_naming_the_first() -> None:
    """The CEL rule says it (at admission, and in a local run); the operator does not say
    it again in other words."""
    template = spec()["trialTemplate"]
    raw = spec(trialTemplate={**template, "primaryContainer": "main"})
    assert validate_spec(TuningJobSpec.from_api(raw)) == []
    assert local_problems(raw) == [
        '  spec.trialTemplate.primaryContainer: trialTemplate.primaryContainer "main" is not a '
        "container of trialTemplate.job.template.spec.containers; use one of their names or "
        'leave primaryContainer unset to use the first ("trainer")'
    ]


def test_named_primary_container_that_exists_is_fine() -> None:
    template = spec()["trialTemplate"]
    parsed = TuningJobSpec.from_api(
        spec(trialTemplate={**template, "primaryContainer": "log-shipper"})
    )
    assert validate_spec(parsed) == []
    assert parsed.trial_template.primary_container_name() == "log-shipper"


def test_template_without_containers_is_reported_once() -> None:
    raw = spec(trialTemplate={"primaryContainer": "main", "job": {"template": {"spec": {}}}})
    assert validate_spec(TuningJobSpec.from_api(raw)) == []
    (problem,) = local_problems(raw)
    assert problem.startswith("  spec.trialTemplate.job: trialTemplate.job.template.spec.")
    assert "add the trainer container" in problem


def test_static_hyperparameter_colliding_with_a_tuned_one_is_reported_once() -> None:
    raw = spec(staticHyperparameters={"epochs": "10", "momentum": "0.9"})
    assert validate_spec(TuningJobSpec.from_api(raw)) == []
    assert local_problems(raw) == [
        "  spec.staticHyperparameters: a parameter name is also a key of "
        'staticHyperparameters: "momentum"; a hyperparameter is either tuned or static, '
        "remove it from one of the two"
    ]


# The CEL message names the repeated parameter or metric name: a filter over the list's
# names (a filter over its objects costs more than the API server's budget for the CRD).
@pytest.mark.parametrize(
    ("where", "problem"),
    [
        (
            "parameters",
            "spec.parameters: parameter names must be unique; rename or remove the duplicate "
            'parameters, named "momentum"',
        ),
        (
            "metrics",
            "spec.metrics: metric names must be unique; rename or remove the duplicate metrics, "
            'named "validation:accuracy"',
        ),
        ("values", 'spec.parameters[2].values: values must be distinct: "b" is repeated'),
    ],
)
def test_a_repeated_name_or_value_is_reported_once(where: str, problem: str) -> None:
    raw = spec()
    if where == "values":
        raw["parameters"].append({"name": "c", "type": "Categorical", "values": ["a", "b", "b"]})
    else:
        raw[where].append(dict(raw[where][-1]))
    (line,) = local_problems(raw)
    assert line.startswith(f"  {problem}")


def test_max_trials_below_one_is_one_problem_not_two() -> None:
    """maxParallelTrials does not "exceed" a maxTrials that is itself refused."""
    assert local_problems(spec(limits={"maxTrials": -1, "maxParallelTrials": 2})) == [
        "  spec.limits.maxTrials: -1 is less than the minimum 1; write 1 or more"
    ]


def test_hyperband_without_a_budget_is_one_problem_in_the_admission_rules_words() -> None:
    raw = spec(strategy="Hyperband", staticHyperparameters={"steps": "10"})
    expected = f"spec.hyperband: {cel.HYPERBAND_NEEDS_MAX_RESOURCE['message']}"
    # The operator's own guard (it cannot plan without a budget) says what admission says.
    assert validate_spec(TuningJobSpec.from_api(raw)) == [expected]
    assert local_problems(raw) == [f"  {expected}"]


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (
            ("limits", "maxTrials"),
            "abc",
            "spec.limits.maxTrials: 'abc' is not an integer; write a whole number, e.g. 10",
        ),
        (
            ("randomSeed",),
            1.5,
            "spec.randomSeed: 1.5 is not an integer; write a whole number, e.g. 0",
        ),
        (
            ("parameters", 0, "min"),
            "low",
            "spec.parameters[0].min: 'low' is not a number; write a number, e.g. 0.5",
        ),
        (
            ("parameters", 0, "max"),
            [1],
            "spec.parameters[0].max: a list is not a number; write a number, e.g. 0.5",
        ),
        (("suspend",), "maybe", "spec.suspend: 'maybe' is not a boolean; write true or false"),
        (
            ("metrics",),
            "loss",
            "spec.metrics: 'loss' is not a list; write its items below it, one '- item' line "
            "each, or [a, b]",
        ),
        (
            ("trialTemplate",),
            3,
            "spec.trialTemplate: 3 is not an object; write its fields (job, primaryContainer) "
            "indented below it",
        ),
        (
            ("staticHyperparameters",),
            ["epochs"],
            "spec.staticHyperparameters: a list is not an object; write its key: value lines "
            "indented below it",
        ),
        (
            ("staticHyperparameters", "epochs"),
            None,
            "spec.staticHyperparameters.epochs: an empty value is not text; write it as a "
            "string, quoted: 'like this'",
        ),
        (("objective",), None, "spec.objective: an empty value is not an object; write its "),
    ],
)
def test_a_value_of_the_wrong_type_names_the_type_and_the_fix(
    path: tuple[str | int, ...], value: Any, problem: str
) -> None:
    raw = spec()
    node: Any = raw
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    parsed, messages = parse_and_validate_spec(raw)
    assert parsed is None
    assert any(m.startswith(problem) for m in messages), messages
    assert not any("Input should be" in m for m in messages), messages


def test_a_missing_field_is_required() -> None:
    raw = spec()
    del raw["metrics"]
    assert parse_and_validate_spec(raw)[1] == ["spec.metrics: required; add it"]


def test_a_misspelled_placeholder_is_reported_with_its_path() -> None:
    """A typo would reach every trial literally: one "per-trial" path shared by all."""
    args = ["--out=/ckpt/${trial.name}/${trialParameters.epochs}", "--lr=${trialParameters.lr}"]
    env = [{"name": "RUN", "value": "${trial.nam}"}]
    container = {"name": "trainer", "args": args, "env": env}
    template = {"job": {"template": {"spec": {"containers": [container]}}}}
    first, second = messages_for(trialTemplate=template)
    assert first == (
        "spec.trialTemplate.job.template.spec.containers[0].args[1]: ${trialParameters.lr} is "
        "not a placeholder: use ${trial.name} or ${trialParameters.<name>} with one of "
        "learning_rate, momentum, epochs; fix the name"
    )
    assert second.startswith(
        "spec.trialTemplate.job.template.spec.containers[0].env[0].value: ${trial.nam} is not"
    )


def test_parse_and_validate_reports_schema_errors_with_paths() -> None:
    raw = spec(limits={"maxTrials": 0})
    raw["parameters"][0]["type"] = "Float"
    parsed, messages = parse_and_validate_spec(raw)
    assert parsed is None
    assert "spec.limits.maxTrials: 0 is less than the minimum 1; write 1 or more" in messages
    assert any(m.startswith("spec.parameters[0].type: ") and "'Float'" in m for m in messages)


def test_parse_and_validate_returns_the_spec_and_its_messages() -> None:
    metrics = [{"name": "validation:accuracy", "regex": "no group"}]
    parsed, messages = parse_and_validate_spec(spec(metrics=metrics))
    assert parsed is not None
    assert parsed.parameters[1].name == "momentum"
    assert len(messages) == 1


@pytest.mark.parametrize(
    ("static", "hyperband", "fragment"),
    [
        ({"epochs": "ten"}, {}, "staticHyperparameters.epochs 'ten' is not a whole number"),
        ({"epochs": "1"}, {}, "staticHyperparameters.epochs '1' is not a whole number"),
        # As admission says (digits only): the trainer's int() would fail on them.
        ({"epochs": "12.0"}, {}, "staticHyperparameters.epochs '12.0' is not a whole number"),
        ({"epochs": " 9 "}, {}, "staticHyperparameters.epochs ' 9 ' is not a whole number"),
        (
            {"epochs": "27"},
            {"minResource": 30},
            "spec.hyperband.minResource: 30 is not less than 27 (maxResource, unset: the "
            "epochs of spec.staticHyperparameters.epochs); lower minResource below 27 or raise "
            "epochs above 30",
        ),
        (
            {},
            {"minResource": 30, "maxResource": 27},
            "spec.hyperband.minResource: 30 is not less than 27 (spec.hyperband.maxResource); "
            "lower minResource below 27 or raise maxResource above 30",
        ),
        (
            {"epochs": "20000"},
            {"reductionFactor": 2},
            "spec.hyperband: hyperband has more than 8 rungs: minResource x reductionFactor^8 "
            "= 1 x 2^8 = 256 is less than 20000 (maxResource, unset: the epochs of "
            "spec.staticHyperparameters.epochs)",
        ),
    ],
)
def test_hyperband_max_resource_read_from_the_static_epochs_is_checked(
    static: dict[str, str], hyperband: dict[str, Any], fragment: str
) -> None:
    messages = messages_for(strategy="Hyperband", staticHyperparameters=static, hyperband=hyperband)
    assert len(messages) == 1
    assert messages[0].startswith("spec.")
    assert fragment in messages[0], messages


def test_hyperband_with_an_inferable_max_resource_is_valid() -> None:
    assert messages_for(strategy="Hyperband", staticHyperparameters={"num_epochs": "27"}) == []


def test_the_admission_rule_knows_the_optimizers_epoch_keys() -> None:
    assert cel.EPOCH_KEYS == MAX_RESOURCE_KEYS


def test_hyperband_max_resource_must_match_the_epochs_the_trainer_gets() -> None:
    (message,) = messages_for(
        strategy="Hyperband", staticHyperparameters={"epochs": "10"}, hyperband={"maxResource": 27}
    )
    assert message.startswith("spec.hyperband.maxResource: 27 differs from the 10 epochs")


def test_a_misspelled_required_field_is_one_problem() -> None:
    raw = spec()
    raw["paramters"] = raw.pop("parameters")
    assert parse_and_validate_spec(raw)[1] == [
        "spec.paramters: not a field of spec; did you mean parameters?"
    ]
