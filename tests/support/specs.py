"""Builders of TuningJob specs for the operator's unit tests."""

from __future__ import annotations

from typing import Any

from kubetune.operator.api import TuningJobSpec


def spec_dict(**overrides: Any) -> dict[str, Any]:
    """A small valid TuningJob spec (camelCase, as the API server sends it)."""
    spec: dict[str, Any] = {
        "strategy": "Random",
        "objective": {"metric": "loss", "type": "Minimize"},
        "metrics": [{"name": "loss", "regex": r"loss=([-0-9.eE+naif]+)"}],
        "parameters": [
            {"name": "lr", "type": "Continuous", "min": 0.001, "max": 1.0},
            {"name": "layers", "type": "Integer", "min": 1, "max": 4},
            {"name": "opt", "type": "Categorical", "values": ["sgd", "adam"]},
        ],
        "staticHyperparameters": {"epochs": "3"},
        "limits": {"maxTrials": 4, "maxParallelTrials": 2},
        "randomSeed": 1,
        "trialTemplate": {
            "job": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "trainer", "image": "t", "command": ["python3", "t.py"]}
                        ]
                    }
                }
            }
        },
    }
    spec.update(overrides)
    return spec


def make_spec(**overrides: Any) -> TuningJobSpec:
    return TuningJobSpec.model_validate(spec_dict(**overrides))
