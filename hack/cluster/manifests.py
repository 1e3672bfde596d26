"""The TuningJob manifests that tests and benchmarks run: one builder, so a field added to
the resource is added once.

The trials run `command` in a container named `trainer` (image python:3.11-slim, which
the local node agent runs as a process on this machine) and minimize the metric `loss`
read with `regex`.
"""

from __future__ import annotations

from typing import Any

API_VERSION = "kubetune.io/v1alpha1"
X = {"name": "x", "type": "Continuous", "min": 0.0, "max": 1.0}
"""The default parameter: x in [0, 1]."""


def tuning_job_spec(
    command: list[str],
    *,
    strategy: str = "Random",
    max_trials: int = 4,
    parallel: int = 2,
    parameters: list[dict[str, Any]] | None = None,
    regex: str = r"^loss=(\S+)$",
    **fields: Any,
) -> dict[str, Any]:
    """A TuningJob's spec (camelCase); `fields` add or replace spec fields, and a None
    value leaves a field out."""
    container = {
        "name": "trainer",
        "image": "python:3.11-slim",
        "command": command,
        "resources": {"requests": {"cpu": "10m"}},
    }
    spec: dict[str, Any] = {
        "strategy": strategy,
        "objective": {"metric": "loss", "type": "Minimize"},
        "metrics": [{"name": "loss", "regex": regex}],
        "parameters": parameters or [X],
        "limits": {"maxTrials": max_trials, "maxParallelTrials": parallel},
        "trialTemplate": {"job": {"template": {"spec": {"containers": [container]}}}},
    }
    spec.update(fields)
    return {key: value for key, value in spec.items() if value is not None}


def tuning_job(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A TuningJob named `name` with `spec`, as `kubectl apply` or the API takes it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "TuningJob",
        "metadata": {"name": name},
        "spec": spec,
    }
