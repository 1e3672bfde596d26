"""build_trial_job and the trial/Job names: pure, deterministic manifests."""

from __future__ import annotations

import json

import pytest
from kubetune.operator.api import HYPERPARAMETERS_ENV, TuningJobSpec
from kubetune.operator.api.naming import (
    TRIAL_LABEL,
    TUNING_JOB_LABEL,
    label_value,
    trial_job_name,
    trial_name,
)
from kubetune.operator.kube.trial_job import build_trial_job, substitute
from support.specs import make_spec, spec_dict


def build(spec: TuningJobSpec, **kw: object) -> dict:  # type: ignore[type-arg]
    args: dict = {  # type: ignore[type-arg]
        "tuning_job_name": "tj",
        "tuning_job_uid": "uid-1",
        "spec": spec,
        "trial": "tj-001",
        "hyperparameters": {"lr": "0.1", "layers": "2", "opt": "adam"},
    }
    args.update(kw)
    return build_trial_job(**args)


def test_names_are_deterministic_and_fit_label_values() -> None:
    assert trial_name("cifar10", 7) == "cifar10-007"
    assert trial_name("cifar10", 1000) == "cifar10-1000"
    long = "a" * 253
    name = trial_name(long, 999)
    assert name == trial_name(long, 999)
    assert len(name) <= 58 and name.endswith("-999")
    assert trial_name("a" * 100, 1) != trial_name("a" * 99 + "b", 1)  # hash keeps them apart
    assert len(trial_job_name(name, 30)) <= 63
    assert trial_job_name("tj-001") == "tj-001"
    assert trial_job_name("tj-001", 2) == "tj-001-a2"
    assert len(label_value(long)) <= 63


def test_job_is_owned_labelled_and_defaulted() -> None:
    spec = make_spec()
    job = build(spec)
    meta = job["metadata"]
    assert meta["name"] == "tj-001"
    assert meta["labels"] == {TUNING_JOB_LABEL: "tj", TRIAL_LABEL: "tj-001"}
    (owner,) = meta["ownerReferences"]
    assert owner["uid"] == "uid-1" and owner["controller"] and owner["blockOwnerDeletion"]
    assert owner["kind"] == "TuningJob" and owner["apiVersion"] == "kubetune.io/v1alpha1"
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"][TUNING_JOB_LABEL] == "tj"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = pod["spec"]["containers"][0]["securityContext"]
    assert context == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    # The trainer's last log line becomes its termination message, quoted by the trial.
    assert pod["spec"]["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_hyperparameters_reach_the_primary_container_three_ways() -> None:
    raw = spec_dict()
    raw["trialTemplate"] = {
        "primaryContainer": "main",
        "job": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "s"},
                        {
                            "name": "main",
                            "image": "t",
                            "args": ["--out=/models/${trial.name}", "lr is ${trialParameters.lr}"],
                            "env": [{"name": HYPERPARAMETERS_ENV, "value": "stale"}],
                        },
                    ]
                }
            }
        },
    }
    job = build(TuningJobSpec.model_validate(raw))
    sidecar, main = job["spec"]["template"]["spec"]["containers"]
    assert "args" not in sidecar and "env" not in sidecar
    assert main["args"] == [
        "--out=/models/tj-001",
        "lr is 0.1",
        "--lr=0.1",
        "--layers=2",
        "--opt=adam",
        "--epochs=3",
    ]
    (env,) = main["env"]
    assert json.loads(env["value"]) == {"lr": "0.1", "layers": "2", "opt": "adam", "epochs": "3"}


def test_template_settings_win_and_the_spec_is_not_mutated() -> None:
    raw = spec_dict()
    container = raw["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"allowPrivilegeEscalation": True}
    container["terminationMessagePolicy"] = "File"
    raw["trialTemplate"]["job"]["backoffLimit"] = 3
    spec = TuningJobSpec.model_validate(raw)
    before = spec.model_dump()
    job = build(spec, attempt=2)
    assert job["metadata"]["name"] == "tj-001-a2"
    assert job["spec"]["backoffLimit"] == 3
    got = job["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert got["allowPrivilegeEscalation"] is True
    assert job["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] == "File"
    assert spec.model_dump() == before


@pytest.mark.parametrize(
    "context",
    [{"privileged": True}, {"capabilities": {"add": ["SYS_ADMIN"]}}],
    ids=["privileged", "sys-admin"],
)
def test_a_container_that_escalates_by_definition_gets_no_contradicting_default(
    context: dict[str, object],
) -> None:
    """The API server refuses allowPrivilegeEscalation: false beside privileged: true or
    an added SYS_ADMIN, so the default would make a valid template fail every trial."""
    raw = spec_dict()
    raw["trialTemplate"]["job"]["template"]["spec"]["containers"][0]["securityContext"] = context
    job = build(TuningJobSpec.model_validate(raw))
    got = job["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert "allowPrivilegeEscalation" not in got and got == {
        "capabilities": {"drop": ["ALL"]},
        **context,
    }


def test_substitution_never_interprets_values() -> None:
    # A value with shell metacharacters stays one literal argument.
    out = substitute(
        ["${trialParameters.x}", {"k": "${trial.name}"}, "${unknown}", 3],
        {"trialParameters.x": "$(rm -rf /); `x`", "trial.name": "t"},
    )
    assert out == ["$(rm -rf /); `x`", {"k": "t"}, "${unknown}", 3]


def test_build_is_deterministic() -> None:
    assert build(make_spec()) == build(make_spec())
