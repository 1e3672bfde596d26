"""The batch/v1 Job each trial runs: a pure function, no API calls.

`build_trial_job` turns a TuningJob's `trialTemplate` and one recorded trial into the Job
manifest the adapter creates, named by `kubetune.operator.api.naming` (deterministic, so
a Job is created once even across a restart).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kubetune.operator.api import API_VERSION, HYPERPARAMETERS_ENV, KIND, TuningJobSpec
from kubetune.operator.api.naming import (
    ATTEMPT_ANNOTATION,
    TRIAL_LABEL,
    TUNING_JOB_LABEL,
    label_value,
    trial_job_name,
)

_SUBSTITUTION = re.compile(r"\$\{(trialParameters\.([A-Za-z0-9_.-]+)|trial\.name)\}")
# What a user may have meant as a placeholder: ${trial.nam}, ${trialParameter.lr}, ...
_PLACEHOLDER_LIKE = re.compile(r"\$\{(trial[A-Za-z]*\.[^}]*)\}")


def unknown_placeholders(value: Any, names: Iterable[str], path: str = "") -> list[str]:
    """`path: ${...}` for each placeholder-like text in the strings of `value` that
    `substitute` would leave as it is, given the hyperparameter `names` (a misspelled
    placeholder would reach every trial literally: one "per-trial" path for all)."""
    if isinstance(value, str):
        known = {"trial.name", *(f"trialParameters.{n}" for n in names)}
        return [
            f"{path}: ${{{m.group(1)}}}"
            for m in _PLACEHOLDER_LIKE.finditer(value)
            if m.group(1) not in known
        ]
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return []
    return [found for p, v in items for found in unknown_placeholders(v, names, p)]


def substitute(value: Any, replacements: Mapping[str, str]) -> Any:
    """Replace `${trialParameters.<name>}` and `${trial.name}` in every string of `value`.

    `replacements` maps `trial.name` and `trialParameters.<name>` to their text; unknown
    placeholders are left as they are. Dicts and lists are copied, never mutated.
    """
    if isinstance(value, str):
        if "${" not in value:
            return value
        return _SUBSTITUTION.sub(lambda m: replacements.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {key: substitute(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, replacements) for item in value]
    return value


def trial_hyperparameters(spec: TuningJobSpec, tuned: Mapping[str, str]) -> dict[str, str]:
    """All hyperparameters a trial receives: the tuned ones in spec order, then the static."""
    merged = {p.name: tuned[p.name] for p in spec.parameters if p.name in tuned}
    for key in sorted(spec.static_hyperparameters or {}):
        merged.setdefault(key, (spec.static_hyperparameters or {})[key])
    return merged


def _harden_container(container: dict[str, Any]) -> None:
    """Restricted-profile defaults wherever the template leaves the field unset, except
    where the template asks for more: a privileged container, or one adding SYS_ADMIN,
    escalates by definition, and the API server refuses allowPrivilegeEscalation: false
    beside them (such a template is the user's choice, admitted by the policy)."""
    context = container.setdefault("securityContext", {})
    added = {c.removeprefix("CAP_") for c in (context.get("capabilities") or {}).get("add") or []}
    if not (context.get("privileged") or "SYS_ADMIN" in added):
        context.setdefault("allowPrivilegeEscalation", False)
    context.setdefault("capabilities", {"drop": ["ALL"]})


def _deliver(container: dict[str, Any], hyperparameters: Mapping[str, str]) -> None:
    """Give the primary container its hyperparameters as arguments and as JSON in the env."""
    # Appended to `args`, which the runtime passes as argv: no shell ever parses them.
    container["args"] = [
        *container.get("args", []),
        *(f"--{key}={value}" for key, value in hyperparameters.items()),
    ]
    env = [e for e in container.get("env", []) if e.get("name") != HYPERPARAMETERS_ENV]
    env.append(
        {"name": HYPERPARAMETERS_ENV, "value": json.dumps(dict(hyperparameters), sort_keys=True)}
    )
    container["env"] = env


def build_trial_job(
    *,
    tuning_job_name: str,
    tuning_job_uid: str,
    spec: TuningJobSpec,
    trial: str,
    hyperparameters: Mapping[str, str],
    attempt: int = 1,
) -> dict[str, Any]:
    """The batch/v1 Job manifest for one attempt of one trial.

    In: the TuningJob's name, UID and spec; the trial's name, its tuned hyperparameters as
    strings, and the attempt number. Out: a Job owned by the TuningJob (controller, blocks
    owner deletion, so deleting the TuningJob deletes its Jobs and pods), labelled with the
    TuningJob and trial names (the pod template too), whose primary container receives the
    tuned and static hyperparameters. Defaults where the template is silent: backoffLimit
    0 (a failed pod fails the trial; `spec.retry` re-runs infrastructure failures as new
    Jobs), restartPolicy Never, no privilege escalation, all capabilities dropped, the
    RuntimeDefault seccomp profile, and the primary container's terminationMessagePolicy
    FallbackToLogsOnError. `runAsNonRoot` is left to the template: many training
    images run as root, and they would not start.
    """
    all_hyperparameters = trial_hyperparameters(spec, hyperparameters)
    replacements = {"trial.name": trial}
    replacements.update({f"trialParameters.{k}": v for k, v in all_hyperparameters.items()})
    job_spec: dict[str, Any] = substitute(copy.deepcopy(spec.trial_template.job), replacements)

    labels = {TUNING_JOB_LABEL: label_value(tuning_job_name), TRIAL_LABEL: trial}
    job_spec.setdefault("backoffLimit", 0)
    template = job_spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**template_meta.get("labels", {}), **labels}
    pod_spec = template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    pod_context = pod_spec.setdefault("securityContext", {})
    pod_context.setdefault("seccompProfile", {"type": "RuntimeDefault"})

    containers: list[dict[str, Any]] = pod_spec.get("containers", [])
    primary = spec.trial_template.primary_container_name()
    for container in [*pod_spec.get("initContainers", []), *containers]:
        _harden_container(container)
    target = next((c for c in containers if c.get("name") == primary), None)
    if target is None and containers:
        target = containers[0]
    if target is not None:
        _deliver(target, all_hyperparameters)
        # A trainer that fails says why in its last log line (a traceback's last line, a
        # missing dataset): the kubelet makes it the termination message, which the
        # trial's message quotes (observe.last_words).
        target.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")

    name = trial_job_name(trial, attempt)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {ATTEMPT_ANNOTATION: str(attempt)},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": tuning_job_name,
                    "uid": tuning_job_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": job_spec,
    }
