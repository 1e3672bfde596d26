"""The operator's own checks of a spec: what the CRD's CEL rules cannot express."""

from __future__ import annotations

from typing import Any

import pytest
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
    assert repr(regex) in message
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


def test_missing_primary_container_names_the_containers() -> None:
    template = spec()["trialTemplate"]
    (message,) = messages_for(trialTemplate={**template, "primaryContainer": "main"})
    assert message.startswith("spec.trialTemplate.primaryContainer: 'main' is not a container")
    assert "'trainer', 'log-shipper'" in message
    assert "leave primaryContainer unset" in message


def test_named_primary_container_that_exists_is_fine() -> None:
    template = spec()["trialTemplate"]
    parsed = TuningJobSpec.from_api(
        spec(trialTemplate={**template, "primaryContainer": "log-shipper"})
    )
    assert validate_spec(parsed) == []
    assert parsed.trial_template.primary_container_name() == "log-shipper"


def test_template_without_containers_is_reported() -> None:
    (message,) = messages_for(trialTemplate={"job": {"template": {"spec": {}}}})
    assert message.startswith("spec.trialTemplate.job.template.spec.containers:")
    assert "add the trainer container" in message


def test_static_hyperparameter_colliding_with_a_tuned_one_is_reported() -> None:
    (message,) = messages_for(staticHyperparameters={"epochs": "10", "momentum": "0.9"})
    assert message == (
        "spec.parameters[1].name: 'momentum' is also a key of spec.staticHyperparameters; "
        "a hyperparameter is either tuned or static, remove it from one of the two"
    )


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
    assert any(m.startswith("spec.limits.maxTrials: ") and "(value 0)" in m for m in messages)
    assert any(m.startswith("spec.parameters[0].type: ") and "'Float'" in m for m in messages)


def test_parse_and_validate_returns_the_spec_and_its_messages() -> None:
    parsed, messages = parse_and_validate_spec(spec(staticHyperparameters={"momentum": "0.5"}))
    assert parsed is not None
    assert parsed.parameters[1].name == "momentum"
    assert len(messages) == 1


@pytest.mark.parametrize(
    ("static", "hyperband", "fragment"),
    [
        ({"epochs": "ten"}, {}, "staticHyperparameters.epochs='ten' is not a whole number"),
        ({"epochs": "1"}, {}, "staticHyperparameters.epochs='1' is not a whole number"),
        ({"epochs": "9"}, {"minResource": 9}, "need 1 <= min_resource < max_resource"),
        ({"epochs": "20000"}, {"reductionFactor": 2}, "15 rungs"),
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
