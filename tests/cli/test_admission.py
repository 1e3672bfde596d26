"""`kubetune run --local` checks the CRD's CEL rules as the API server does: every spec
the API server refuses (the admission test's table) is refused here too, with the API
server's message where only a CEL rule catches it; the examples pass (no cluster)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration.test_tuningjob_admission import (
    EXAMPLES,
    HYPERBAND_EPOCHS,
    HYPERBAND_OUT_OF_BOUNDS,
    INVALID,
    Mutation,
    base,
)
from kubetune.analytics.errors import KubetuneError
from kubetune.cli import main as cli_main
from kubetune.cli.admission import admission_problems
from kubetune.cli.local_run import checked_spec
from kubetune.operator.api import TuningJobSpec
from kubetune.operator.api.constants import MAX_PARAMETERS
from kubetune.operator.api.schema import spec_schema
from kubetune.operator.kube.validation import parse_and_validate_spec, validate_spec


@pytest.mark.parametrize(
    ("mutation", "fragments"),
    [pytest.param(m, f, id=case_id) for case_id, m, f in INVALID],
)
def test_what_the_api_server_refuses_is_refused_locally(
    mutation: Mutation, fragments: list[str]
) -> None:
    manifest = base()
    mutation(manifest)
    rules = admission_problems(manifest["spec"])
    models = parse_and_validate_spec(manifest["spec"])[1]
    assert rules or models, "accepted locally"
    if not models:  # only a CEL rule catches it: the API server's message, and its field
        for fragment in fragments:
            assert any(fragment in problem for problem in rules), (fragment, rules)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_keep_every_rule(path: Path) -> None:
    assert admission_problems(yaml.safe_load(path.read_text())["spec"]) == []


def test_defaults_count_and_whole_numbers_are_doubles() -> None:
    manifest = base()
    spec = manifest["spec"]
    # earlyStopping is not written: its default Off keeps the Hyperband rule.
    spec.pop("earlyStopping", None)
    spec["strategy"] = "Hyperband"
    spec["hyperband"] = {"maxResource": 10}
    assert admission_problems(spec) == []
    spec["earlyStopping"] = "Auto"
    (problem,) = admission_problems(spec)
    assert problem.startswith("spec.earlyStopping: earlyStopping must be Off")
    # min: 1 and max: 2 written as integers compare as the API server's doubles.
    spec = base()["spec"]
    spec["parameters"] = [{"name": "p", "type": "Continuous", "min": 2, "max": 1}]
    (problem,) = admission_problems(spec)
    assert (
        problem
        == "spec.parameters[0].min: parameter p: min must be less than max; swap or widen the range"
    )


def test_kubetune_run_local_refuses_what_only_a_cel_rule_catches(tmp_path: Path) -> None:
    manifest = base()
    manifest["spec"]["limits"] = {"maxTrials": 2, "maxParallelTrials": 3}
    path = tmp_path / "tj.yaml"
    path.write_text(yaml.safe_dump(manifest))
    out, err = io.StringIO(), io.StringIO()
    code = cli_main.run(["run", "--local", str(path), "--out", str(tmp_path / "run")], out, err)
    assert code == cli_main.EXIT_ERROR
    assert "spec.limits.maxParallelTrials: limits.maxParallelTrials must not exceed" in (
        err.getvalue()
    )
    assert not (tmp_path / "run" / "logs").exists()  # nothing ran


ONE_POD = (
    ": a trial is one training run in one pod, whose log gives the trial's objective and "
    "epochs (several pods would each train the same hyperparameters, and one be read); "
    "remove {field}, and raise spec.limits.maxParallelTrials to run more trials at once"
)


# QA67 M2, M5: a trial Job that runs other than one pod here is refused at admission,
# naming the field, its value and the fix (a cluster says the same: the rules are the CRD's).
@pytest.mark.parametrize(
    ("job", "problem"),
    [
        (
            {"completions": 3, "parallelism": 3},
            "spec.trialTemplate.job.completions: trialTemplate.job.completions is 3"
            + ONE_POD.format(field="completions"),
        ),
        (
            {"completions": 12},
            "spec.trialTemplate.job.completions: trialTemplate.job.completions is over 9"
            + ONE_POD.format(field="completions"),
        ),
        (
            {"completions": 0},
            "spec.trialTemplate.job.completions: trialTemplate.job.completions is 0"
            + ONE_POD.format(field="completions"),
        ),
        (
            {"parallelism": 4},
            "spec.trialTemplate.job.parallelism: trialTemplate.job.parallelism is 4"
            + ONE_POD.format(field="parallelism"),
        ),
        (
            {"parallelism": 0},
            "spec.trialTemplate.job.parallelism: trialTemplate.job.parallelism is 0"
            + ONE_POD.format(field="parallelism"),
        ),
        (
            {"suspend": True},
            "spec.trialTemplate.job.suspend: trialTemplate.job.suspend is true: every trial's "
            "Job would be created suspended and never start (the operator does not resume "
            "it); remove it, and set spec.suspend on the TuningJob to pause launching trials",
        ),
        (
            {"managedBy": "kueue.x-k8s.io/multikueue"},
            'spec.trialTemplate.job.managedBy: trialTemplate.job.managedBy "kueue.x-k8s.io/'
            "multikueue\" hands each trial's Job to another controller: Kubernetes' Job "
            "controller would not start its pod here, where the operator reads the trial's "
            "log; remove managedBy (or set it to kubernetes.io/job-controller)",
        ),
    ],
    ids=[
        "completions-3",
        "completions-12",
        "completions-0",
        "parallelism-4",
        "parallelism-0",
        "suspend",
        "managed",
    ],
)
def test_a_trial_job_of_other_than_one_pod_here_is_refused(
    job: dict[str, object], problem: str
) -> None:
    spec = base()["spec"]
    spec["trialTemplate"]["job"].update(job)
    problems = admission_problems(spec)
    assert problem in problems
    if "parallelism" in job and "completions" in job:  # each field said once
        assert len(problems) == 2, problems
    else:
        assert problems == [problem]
    # Nothing the operator checks itself repeats it.
    assert parse_and_validate_spec(spec)[1] == []


# What keeps a trial one pod of the Job controller is admitted: an Indexed Job of one
# completion, its per-index policies, a pod failure policy, a success policy naming
# index 0, the Job controller named as the manager.
@pytest.mark.parametrize(
    "job",
    [
        {"completions": 1, "parallelism": 1, "suspend": False},
        {"completionMode": "Indexed", "completions": 1, "backoffLimitPerIndex": 1},
        {"successPolicy": {"rules": [{"succeededIndexes": "0"}]}, "completionMode": "Indexed"},
        {
            "podFailurePolicy": {
                "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
            }
        },
        {"managedBy": "kubernetes.io/job-controller"},
    ],
    ids=["ones", "indexed", "success-policy", "pod-failure-policy", "job-controller"],
)
def test_a_trial_job_of_one_pod_is_admitted(job: dict[str, object]) -> None:
    spec = base()["spec"]
    spec["trialTemplate"]["job"].update(job)
    assert admission_problems(spec) == []


def test_categorical_values_written_bare_stay_refused_with_the_quoting_fix() -> None:
    # QA67 L7. Values stay strings: kubectl sends the JSON of the YAML, where 1.0 is 1,
    # 1e-3 is 0.001 and yes is true, so a bare value could not reach the trainer as
    # written. The API server's type error cannot be reworded: the field's description
    # (kubectl explain, the reference) says to quote, and a local run says it per value.
    values = spec_schema()["properties"]["parameters"]["items"]["properties"]["values"]
    assert values["items"]["type"] == "string"
    assert (
        'Quote numbers and the words YAML reads as booleans (`values: ["0.01", "0.1"]`'
        in (values["description"])
    )
    spec = base()["spec"]
    spec["parameters"] = [{"name": "lr", "type": "Categorical", "values": [0.01, True]}]
    problems = parse_and_validate_spec(spec)[1]
    assert (
        "spec.parameters[0].values[0]: Input should be a valid string (value 0.01); write it "
        "quoted: '0.01' (or as written: YAML reads 01 as 1, 1.10 as 1.1)"
    ) in problems
    assert any(p.startswith("spec.parameters[0].values[1]: ") and "quoted" in p for p in problems)


def _hyperband_spec(static: dict[str, str], hyperband: dict[str, object]) -> dict[str, Any]:
    spec = base()["spec"]
    spec["strategy"] = "Hyperband"
    spec["staticHyperparameters"] = static
    spec["hyperband"] = hyperband
    return spec


# QA82 M6: the maxResource Hyperband reads from staticHyperparameters is checked by CEL
# rules, in the words the operator fails such a job with (written once, in
# kubetune.operator.api.cel); a local run says it once.
@pytest.mark.parametrize(("static", "hyperband"), HYPERBAND_EPOCHS)
def test_the_epochs_hyperband_reads_are_checked_by_the_rules_in_the_operators_words(
    static: dict[str, str], hyperband: dict[str, object]
) -> None:
    spec = _hyperband_spec(static, hyperband)
    operator_says = validate_spec(TuningJobSpec.from_api(spec))
    assert len(operator_says) == 1
    assert admission_problems(spec) == operator_says
    assert _local_problems(spec) == operator_says


# QA82 L1: a Hyperband field beyond its bounds is said once, with its bound; the rules
# relating the fields (here the ninth rung's) do not add a spurious error.
@pytest.mark.parametrize(("hyperband", "field"), HYPERBAND_OUT_OF_BOUNDS)
def test_a_hyperband_field_out_of_bounds_is_said_once_locally(
    hyperband: dict[str, object], field: str
) -> None:
    spec = _hyperband_spec({}, hyperband)
    assert admission_problems(spec) == []
    (problem,) = _local_problems(spec)
    assert problem.startswith(f"{field}: ") and ("minimum" in problem or "maximum" in problem)


def test_the_epochs_hyperband_reads_within_their_rules_are_admitted() -> None:
    for static, hyperband in [
        ({"numepochs": "12"}, {}),
        ({"epochs": "6561"}, {}),  # 1 x 3^8: eight rungs
        ({"epochs": "27"}, {"maxResource": 27, "minResource": 26}),
        ({"num_epochs": "9", "n_epochs": "nine"}, {}),  # n_epochs: not the key read first
    ]:
        spec = _hyperband_spec(static, hyperband)
        assert admission_problems(spec) == [], (static, hyperband)


def _local_problems(spec: dict[str, Any]) -> list[str]:
    """What `kubetune run --local` refuses `spec` with, one problem a line."""
    with pytest.raises(KubetuneError) as refused:
        checked_spec({"metadata": {"name": "job"}, "spec": spec})
    return [line.strip() for line in str(refused.value).splitlines()[1:]]


_WIDEST_SPACE_CHECK = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from kubetune.cli.admission import admission_problems
print(json.dumps(admission_problems(json.loads(sys.stdin.read()))))
"""


@pytest.mark.parametrize("clash", [False, True])
def test_the_widest_space_is_checked_in_bounded_memory(clash: bool) -> None:
    """QA98 H1: with no staticHyperparameters, the rule that no parameter is also static
    took time and memory doubling with each parameter in cel-python (`||` evaluates both
    sides): 30 parameters, the most admitted, took 23 GB. Checked here under a 2 GiB
    address-space limit, in a process of its own."""
    spec = base()["spec"]
    spec["parameters"] = [
        {"name": f"p{i:02d}", "type": "Continuous", "min": 0.0, "max": 1.0}
        for i in range(MAX_PARAMETERS)
    ]
    spec.pop("staticHyperparameters", None)
    if clash:
        spec["staticHyperparameters"] = {"p07": "1"}
    checked = subprocess.run(
        [sys.executable, "-c", _WIDEST_SPACE_CHECK],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr[-2000:]
    problems = json.loads(checked.stdout)
    if clash:
        (problem,) = problems
        assert 'staticHyperparameters: "p07"; a hyperparameter is either tuned or static' in problem
    else:
        assert problems == []
