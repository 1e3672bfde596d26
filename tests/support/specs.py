"""Specs of TuningJobs for unit tests, from the one manifest builder
(hack/cluster/manifests.py) that the end-to-end tests and the benchmark use too."""

from __future__ import annotations

from typing import Any

from cluster.manifests import tuning_job_spec
from kubetune.operator.api import TuningJobSpec


def spec_dict(**overrides: Any) -> dict[str, Any]:
    """A small valid TuningJob spec (camelCase, as the API server sends it): three
    parameters of each type, a static hyperparameter, 4 trials, 2 in parallel, seeded."""
    fields: dict[str, Any] = {
        "parameters": [
            {"name": "lr", "type": "Continuous", "min": 0.001, "max": 1.0},
            {"name": "layers", "type": "Integer", "min": 1, "max": 4},
            {"name": "opt", "type": "Categorical", "values": ["sgd", "adam"]},
        ],
        "regex": r"loss=([-0-9.eE+naif]+)",
        "staticHyperparameters": {"epochs": "3"},
        "randomSeed": 1,
        **overrides,
    }
    return tuning_job_spec(["python3", "t.py"], **fields)


def make_spec(**overrides: Any) -> TuningJobSpec:
    return TuningJobSpec.model_validate(spec_dict(**overrides))
