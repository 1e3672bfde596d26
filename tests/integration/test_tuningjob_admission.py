"""The TuningJob CRD on a real API server: examples accepted, invalid specs refused.

Admission is the API server's job (structural schema + CEL rules generated from
kubetune.operator.api), so these tests create real objects on the local control plane
and assert on the API server's own error messages.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from codegen.crd import CRD_NAME
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubetune.operator import api as models
from kubetune.operator.kube.validation import validate_spec

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "kubetune.io_tuningjobs.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

Manifest = dict[str, Any]


def kubectl_path() -> str:
    """kubectl from KUBETUNE_KUBE_BIN (set by the Makefile), else the default cache."""
    kube_bin = os.environ.get("KUBETUNE_KUBE_BIN")
    if kube_bin:
        return str(Path(kube_bin) / "kubectl")
    return str(Path.home() / ".cache" / "kubetune" / "kube-v1.36.3" / "kubectl")


def kubectl(kubeconfig: Path | str, *args: str, stdin: str | None = None) -> str:
    """Run kubectl against the test cluster; raise with its stderr on failure."""
    result = subprocess.run(
        [kubectl_path(), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def crd_installed(kubeconfig_path: Path | str) -> None:
    """The committed CRD, applied and Established (idempotent: other tests may share it)."""
    kubectl(
        kubeconfig_path,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=kubetune-tests",
        "-f",
        str(CRD_FILE),
    )
    kubectl(
        kubeconfig_path,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        f"crd/{CRD_NAME}",
    )


@pytest.fixture(scope="module")
def custom_api(
    kubeconfig_path: Path | str, crd_installed: None
) -> Iterator[client.CustomObjectsApi]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig_path))
    try:
        yield client.CustomObjectsApi(api_client)
    finally:
        api_client.close()


def load(path: Path) -> Manifest:
    with path.open() as f:
        manifest: Manifest = yaml.safe_load(f)
    return manifest


def create(api: client.CustomObjectsApi, namespace: str, manifest: Manifest) -> Manifest:
    created: Manifest = api.create_namespaced_custom_object(
        models.GROUP, models.VERSION, namespace, models.PLURAL, manifest
    )
    return created


def rejection(api: client.CustomObjectsApi, namespace: str, manifest: Manifest) -> str:
    """The API server's message refusing `manifest`; fails the test if it is accepted."""
    with pytest.raises(ApiException) as caught:
        create(api, namespace, manifest)
    assert caught.value.status == 422, caught.value.body
    message: str = json.loads(caught.value.body)["message"]
    return message


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_accepted_by_server_side_apply(
    path: Path, kubeconfig_path: Path | str, namespace: str, crd_installed: None
) -> None:
    kubectl(
        kubeconfig_path,
        "apply",
        "--server-side",
        "--field-manager=kubetune-tests",
        f"--namespace={namespace}",
        "-f",
        str(path),
    )
    name = load(path)["metadata"]["name"]
    stored = json.loads(kubectl(kubeconfig_path, "get", "tj", name, "-n", namespace, "-o", "json"))
    # What the API server stored (with its defaults) parses as a spec and validates clean.
    spec = models.TuningJobSpec.from_api(stored["spec"])
    assert spec.retry.max_attempts == 1  # a default the CRD applied
    assert spec.suspend is False


def test_cifar10_data_manifest_is_accepted_by_the_api_server(
    kubeconfig_path: Path | str, namespace: str
) -> None:
    # A server-side dry run: the API server validates the PVC and the Job in full.
    out = kubectl(
        kubeconfig_path,
        "apply",
        "--dry-run=server",
        f"--namespace={namespace}",
        "-f",
        str(ROOT / "examples" / "data" / "cifar10-prepare.yaml"),
    )
    assert "persistentvolumeclaim/cifar10-data created (server dry run)" in out
    assert "job.batch/cifar10-prepare created (server dry run)" in out


def test_examples_exist_for_the_issue() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "cifar10-resnet34-bayesian.yaml",
        "cifar10-resnet34-random.yaml",
        "digits-cpu.yaml",
        "digits-cpu-hyperband.yaml",
    } <= names


def test_defaults_are_applied_by_the_api_server(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    minimal: Manifest = {
        "apiVersion": models.API_VERSION,
        "kind": models.KIND,
        "metadata": {"name": "minimal"},
        "spec": {
            "objective": {"metric": "loss", "type": "Minimize"},
            "metrics": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
            "parameters": [{"name": "x", "type": "Continuous", "min": 0, "max": 1}],
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}}
            },
        },
    }
    spec = create(custom_api, namespace, minimal)["spec"]
    assert spec["strategy"] == "Bayesian"
    assert spec["limits"] == {"maxTrials": 10, "maxParallelTrials": 1}
    assert spec["earlyStopping"] == "Off"
    assert spec["retry"] == {"maxAttempts": 1}
    assert spec["suspend"] is False
    # Not inside a list's items: a client-side apply would re-send the list at every apply.
    assert "scaling" not in spec["parameters"][0]


# --------------------------------------------------------------------------- invalid specs


def base() -> Manifest:
    """A valid TuningJob to break one way per case."""
    manifest = load(ROOT / "examples" / "digits-cpu.yaml")
    manifest["metadata"] = {"name": "invalid"}
    return manifest


Mutation = Callable[[Manifest], None]


def param(**fields: Any) -> Mutation:
    """Replace the parameters with one parameter made of `fields`."""

    def mutate(m: Manifest) -> None:
        m["spec"]["parameters"] = [{"name": "p", **fields}]

    return mutate


def setting(path: str, value: Any) -> Mutation:
    """Set a dotted path under spec (creating objects on the way); value None deletes it."""

    def mutate(m: Manifest) -> None:
        *parents, leaf = path.split(".")
        node = m["spec"]
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = copy.deepcopy(value)

    return mutate


def containers(value: Any) -> Mutation:
    def mutate(m: Manifest) -> None:
        m["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"] = value

    return mutate


def many_parameters(count: int, name_length: int = 8) -> Mutation:
    def mutate(m: Manifest) -> None:
        m["spec"]["parameters"] = [
            {"name": f"p{i:0{name_length - 1}d}", "type": "Continuous", "min": 0, "max": 1}
            for i in range(count)
        ]

    return mutate


def many_metrics(count: int) -> Mutation:
    def mutate(m: Manifest) -> None:
        m["spec"]["metrics"] = [
            {"name": "validation:accuracy", "regex": "accuracy=([0-9.]+)"},
            *({"name": f"m{i}", "regex": "m=([0-9.]+)"} for i in range(count - 1)),
        ]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(m: Manifest) -> None:
        for mutation in mutations:
            mutation(m)

    return mutate


LOG_OK = {"type": "Continuous", "min": 0.1, "max": 1}

# (id, mutation, fragments the API server's message must contain)
INVALID: list[tuple[str, Mutation, list[str]]] = [
    (
        "strategy-unsupported",
        setting("strategy", "Hyperopt"),
        ["spec.strategy", 'Unsupported value: "Hyperopt"'],
    ),
    (
        "objective-undeclared",
        setting("objective.metric", "validation:acc"),
        ["spec.objective.metric", 'objective.metric "validation:acc" is not declared in metrics'],
    ),
    (
        "objective-type",
        setting("objective.type", "Max"),
        ["spec.objective.type", 'Unsupported value: "Max"'],
    ),
    ("objective-missing", setting("objective", None), ["spec.objective", "Required value"]),
    ("metrics-empty", setting("metrics", []), ["spec.metrics", "at least 1 item"]),
    ("metrics-41", many_metrics(41), ["spec.metrics", "must have at most 40 items"]),
    (
        "metrics-duplicate",
        setting(
            "metrics",
            [
                {"name": "validation:accuracy", "regex": "a=(1)"},
                {"name": "validation:accuracy", "regex": "b=(1)"},
            ],
        ),
        ["spec.metrics", "metric names must be unique"],
    ),
    (
        "metric-regex-too-long",
        setting("metrics", [{"name": "validation:accuracy", "regex": "(" + "a" * 500 + ")"}]),
        ["spec.metrics[0].regex", "Too long"],
    ),
    ("parameters-31", many_parameters(31), ["spec.parameters", "must have at most 30 items"]),
    (
        "parameters-duplicate",
        setting(
            "parameters",
            [
                {"name": "lr", "type": "Continuous", "min": 0, "max": 1},
                {"name": "lr", "type": "Integer", "min": 0, "max": 1},
            ],
        ),
        ["spec.parameters", "parameter names must be unique"],
    ),
    (
        "parameter-name-pattern",
        param(name="learning rate", type="Continuous", min=0, max=1),
        ["spec.parameters[0].name", "should match"],
    ),
    (
        "parameter-type",
        param(type="Float", min=0, max=1),
        ["spec.parameters[0].type", 'Unsupported value: "Float"'],
    ),
    (
        "scaling-unsupported",
        param(type="Continuous", min=0.1, max=1, scaling="Log"),
        ["spec.parameters[0].scaling", 'Unsupported value: "Log"'],
    ),
    (
        "min-not-below-max",
        param(type="Continuous", min=1, max=1),
        ["spec.parameters[0].min", "parameter p: min must be less than max"],
    ),
    (
        "continuous-without-max",
        param(type="Continuous", min=0),
        ["spec.parameters[0]", "parameter p: Continuous parameters need both min and max"],
    ),
    (
        "integer-without-bounds",
        param(type="Integer"),
        ["spec.parameters[0]", "parameter p: Integer parameters need both min and max"],
    ),
    (
        "continuous-with-values",
        param(type="Continuous", min=0, max=1, values=["a"]),
        ["spec.parameters[0].values", "values is only for Categorical parameters"],
    ),
    (
        "integer-fractional-min",
        param(type="Integer", min=0.5, max=4),
        [
            "spec.parameters[0].min",
            "parameter p: min of an Integer parameter must be a whole number between -1e15 "
            "and 1e15, and this one has a fraction; round it, or make the parameter Continuous",
        ],
    ),
    (
        "integer-fractional-max",
        param(type="Integer", min=1, max=4.25),
        ["spec.parameters[0].max", "max of an Integer parameter must be a whole number"],
    ),
    (
        "integer-max-beyond-1e15",
        param(type="Integer", min=1, max=1e16),
        [
            "spec.parameters[0].max",
            "and this one is beyond them; bring it within them, or make the parameter Continuous",
        ],
    ),
    (
        "log-min-zero",
        param(type="Continuous", min=0, max=1, scaling="Logarithmic"),
        [
            "spec.parameters[0].scaling",
            "Logarithmic scaling needs a Continuous or Integer parameter with min > 0",
        ],
    ),
    (
        "log-categorical",
        param(type="Categorical", values=["a", "b"], scaling="Logarithmic"),
        ["spec.parameters[0].scaling", "Logarithmic scaling needs a Continuous or Integer"],
    ),
    (
        "reverse-log-max-one",
        param(type="Continuous", min=0.5, max=1, scaling="ReverseLogarithmic"),
        [
            "spec.parameters[0].scaling",
            "ReverseLogarithmic scaling needs a Continuous parameter with 0 <= min < max < 1",
        ],
    ),
    (
        "reverse-log-negative-min",
        param(type="Continuous", min=-0.5, max=0.5, scaling="ReverseLogarithmic"),
        ["spec.parameters[0].scaling", "ReverseLogarithmic scaling"],
    ),
    (
        "reverse-log-integer",
        param(type="Integer", min=0, max=0, scaling="ReverseLogarithmic"),
        ["spec.parameters[0].scaling", "ReverseLogarithmic scaling needs a Continuous parameter"],
    ),
    (
        "categorical-without-values",
        param(type="Categorical"),
        ["spec.parameters[0]", "parameter p: a Categorical parameter needs values"],
    ),
    (
        "categorical-empty-values",
        param(type="Categorical", values=[]),
        ["spec.parameters[0].values", "at least 1 item"],
    ),
    (
        "categorical-with-bounds",
        param(type="Categorical", values=["a"], min=0, max=1),
        ["spec.parameters[0]", "min and max are not allowed for Categorical parameters"],
    ),
    (
        "categorical-duplicates",
        param(type="Categorical", values=["sgd", "adam", "sgd"]),
        ["spec.parameters[0].values", "values must be distinct"],
    ),
    (
        "categorical-31-values",
        param(type="Categorical", values=[f"v{i}" for i in range(31)]),
        ["spec.parameters[0].values", "must have at most 30 items"],
    ),
    (
        "grid-with-continuous",
        setting("strategy", "Grid"),
        ["spec.strategy", "strategy Grid needs Categorical or Integer parameters only"],
    ),
    (
        "parallel-above-max",
        setting("limits", {"maxTrials": 4, "maxParallelTrials": 5}),
        [
            "spec.limits.maxParallelTrials",
            "limits.maxParallelTrials must not exceed limits.maxTrials",
        ],
    ),
    (
        "max-trials-above-1000",
        setting("limits.maxTrials", 1001),
        ["spec.limits.maxTrials", "less than or equal to 1000"],
    ),
    (
        "max-trials-zero",
        setting("limits.maxTrials", 0),
        ["spec.limits.maxTrials", "greater than or equal to 1"],
    ),
    (
        "status-would-not-fit",
        both(many_parameters(30, name_length=30), setting("limits", {"maxTrials": 1000})),
        ["spec.limits.maxTrials", "limits.maxTrials is too large for these parameters"],
    ),
    (
        "recorded-metrics-would-not-fit",
        both(many_metrics(40), setting("limits", {"maxTrials": 1000})),
        ["spec.limits.maxTrials", "too large for these parameters and metrics"],
    ),
    (
        "static-key-pattern",
        setting("staticHyperparameters", {"batch size": "64"}),
        ["spec.staticHyperparameters", "staticHyperparameters keys must start with a letter"],
    ),
    (
        "static-collides",
        setting("staticHyperparameters", {"momentum": "0.9"}),
        ["spec.staticHyperparameters", "a parameter name is also a key of staticHyperparameters"],
    ),
    (
        "early-stopping-unsupported",
        setting("earlyStopping", "On"),
        ["spec.earlyStopping", 'Unsupported value: "On"'],
    ),
    (
        "retry-zero-attempts",
        setting("retry", {"maxAttempts": 0}),
        ["spec.retry.maxAttempts", "greater than or equal to 1"],
    ),
    (
        "warm-start-bad-name",
        setting("warmStart", {"parents": ["Not_A_Name"]}),
        ["spec.warmStart.parents[0]", "should match"],
    ),
    (
        "random-seed-negative",
        setting("randomSeed", -1),
        ["spec.randomSeed", "greater than or equal to 0"],
    ),
    (
        "hyperband-min-not-below-max",
        both(
            setting("strategy", "Hyperband"),
            setting("hyperband", {"minResource": 9, "maxResource": 9}),
        ),
        [
            "spec.hyperband.minResource",
            "9 is not less than 9 (spec.hyperband.maxResource); lower minResource below 9 or "
            "raise maxResource above 9",
        ],
    ),
    (
        "hyperband-reduction-factor-1",
        both(setting("strategy", "Hyperband"), setting("hyperband", {"reductionFactor": 1})),
        ["spec.hyperband.reductionFactor", "greater than or equal to 2"],
    ),
    (
        "hyperband-max-above-20000",
        both(setting("strategy", "Hyperband"), setting("hyperband", {"maxResource": 20001})),
        ["spec.hyperband.maxResource", "less than or equal to 20000"],
    ),
    (
        "hyperband-too-many-rungs",
        both(
            setting("strategy", "Hyperband"),
            setting("hyperband", {"maxResource": 20000, "reductionFactor": 2}),
        ),
        [
            "spec.hyperband.maxResource",
            "hyperband has more than 8 rungs: minResource x reductionFactor^8 = 1 x 2^8 = 256 "
            "is less than 20000 (spec.hyperband.maxResource)",
        ],
    ),
    (
        "hyperband-epochs-not-a-number",
        both(setting("strategy", "Hyperband"), setting("staticHyperparameters.epochs", "nine")),
        [
            "spec.staticHyperparameters",
            "staticHyperparameters.epochs 'nine' is not a whole number of epochs from 2 to 20000",
        ],
    ),
    (
        "hyperband-epochs-one",
        both(
            setting("strategy", "Hyperband"),
            setting("staticHyperparameters", {"num_epochs": "1"}),
        ),
        ["spec.staticHyperparameters", "staticHyperparameters.num_epochs '1' is not a whole"],
    ),
    (
        "hyperband-min-not-below-the-epochs",
        both(
            setting("strategy", "Hyperband"),
            setting("staticHyperparameters.epochs", "9"),
            setting("hyperband", {"minResource": 10}),
        ),
        [
            "spec.hyperband.minResource",
            "10 is not less than 9 (maxResource, unset: the epochs of "
            "spec.staticHyperparameters.epochs); lower minResource below 9 or raise epochs "
            "above 10",
        ],
    ),
    (
        "hyperband-max-differs-from-the-epochs",
        both(
            setting("strategy", "Hyperband"),
            setting("staticHyperparameters.epochs", "9"),
            setting("hyperband", {"maxResource": 27}),
        ),
        [
            "spec.hyperband.maxResource",
            "27 differs from the 9 epochs of spec.staticHyperparameters.epochs",
        ],
    ),
    (
        "hyperband-too-many-rungs-of-the-epochs",
        both(
            setting("strategy", "Hyperband"),
            setting("staticHyperparameters", {"n-epochs": "10000"}),
        ),
        [
            "spec.hyperband",
            "= 1 x 3^8 = 6561 is less than 10000 (maxResource, unset: the epochs of "
            "spec.staticHyperparameters.n-epochs)",
        ],
    ),
    (
        "convergence-without-bayesian",
        both(setting("strategy", "Random"), setting("completionCriteria", {"convergence": "Auto"})),
        [
            "spec.completionCriteria.convergence",
            "completionCriteria.convergence Auto needs strategy Bayesian",
        ],
    ),
    (
        "hyperband-with-early-stopping",
        both(setting("strategy", "Hyperband"), setting("earlyStopping", "Auto")),
        ["spec.earlyStopping", "earlyStopping must be Off with strategy Hyperband"],
    ),
    (
        "hyperband-max-not-inferable",
        both(setting("strategy", "Hyperband"), setting("staticHyperparameters.epochs", None)),
        ["spec.hyperband", "strategy Hyperband needs hyperband.maxResource"],
    ),
    (
        "hyperband-without-its-strategy",
        setting("hyperband", {"maxResource": 27}),
        ["spec.hyperband", "hyperband is only for strategy: Hyperband"],
    ),
    ("no-containers", containers([]), ["spec.trialTemplate.job", "needs at least one container"]),
    (
        "no-pod-template",
        setting("trialTemplate.job", {"backoffLimit": 0}),
        ["spec.trialTemplate.job", "needs at least one container"],
    ),
    (
        "primary-container-missing",
        setting("trialTemplate.primaryContainer", "main"),
        [
            "spec.trialTemplate.primaryContainer",
            'trialTemplate.primaryContainer "main" is not a container',
        ],
    ),
    (
        "trial-template-missing",
        setting("trialTemplate", None),
        ["spec.trialTemplate", "Required value"],
    ),
    (
        "trial-job-of-three-pods",
        setting("trialTemplate.job.completions", 3),
        ["spec.trialTemplate.job.completions", "completions is 3: a trial is one training run"],
    ),
    (
        "trial-job-parallelism",
        setting("trialTemplate.job.parallelism", 4),
        ["spec.trialTemplate.job.parallelism", "parallelism is 4"],
    ),
    (
        "trial-job-suspended",
        setting("trialTemplate.job.suspend", True),
        ["spec.trialTemplate.job.suspend", "set spec.suspend on the TuningJob"],
    ),
    (
        "trial-job-managed-elsewhere",
        setting("trialTemplate.job.managedBy", "kueue.x-k8s.io/multikueue"),
        ["spec.trialTemplate.job.managedBy"],
    ),
]


@pytest.mark.parametrize(
    ("mutation", "fragments"),
    [pytest.param(m, f, id=case_id) for case_id, m, f in INVALID],
)
def test_invalid_spec_is_rejected_with_a_message_naming_the_field(
    mutation: Mutation,
    fragments: list[str],
    custom_api: client.CustomObjectsApi,
    namespace: str,
) -> None:
    manifest = base()
    mutation(manifest)
    message = rejection(custom_api, namespace, manifest)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the API server's message: {message}"


HYPERBAND_OUT_OF_BOUNDS = [
    ({"minResource": 0, "maxResource": 9}, "spec.hyperband.minResource"),
    ({"reductionFactor": 1, "maxResource": 9}, "spec.hyperband.reductionFactor"),
    ({"maxResource": 30000}, "spec.hyperband.maxResource"),
]
"""Hyperband fields beyond their bounds (minResource 0 and reductionFactor 1 made the
ninth rung fall below maxResource, and 30000 is beyond it with 1 x 3^8 = 6561)."""


@pytest.mark.parametrize(("hyperband", "field"), HYPERBAND_OUT_OF_BOUNDS)
def test_a_hyperband_field_out_of_bounds_is_one_error_not_a_spurious_rungs_one(
    hyperband: Manifest, field: str, custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    manifest = base()
    both(
        setting("strategy", "Hyperband"),
        setting("hyperband", hyperband),
        setting("staticHyperparameters", None),  # its epochs would differ from maxResource
    )(manifest)
    with pytest.raises(ApiException) as caught:
        create(custom_api, namespace, manifest)
    causes = json.loads(caught.value.body)["details"]["causes"]
    assert [cause["field"] for cause in causes] == [field], causes
    assert "rungs" not in caught.value.body


HYPERBAND_EPOCHS = [
    ({"epochs": "nine"}, {}),
    ({"num_epochs": "1"}, {}),
    ({"epochs": "12.0"}, {}),  # a run with no API server refused it too (helper-87)
    ({"epochs": "9"}, {"minResource": 10}),
    ({"epochs": "9"}, {"maxResource": 27}),
    ({"n-epochs": "10000"}, {}),
    ({"epochs": "20000"}, {"minResource": 2, "reductionFactor": 2}),
]
"""Hyperband specs whose maxResource, read from staticHyperparameters, the operator would
fail at once (InvalidSpec): QA82 M6."""


@pytest.mark.parametrize(("static", "hyperband"), HYPERBAND_EPOCHS)
def test_the_epochs_hyperband_reads_are_refused_at_admission_in_the_operators_words(
    static: dict[str, str],
    hyperband: Manifest,
    custom_api: client.CustomObjectsApi,
    namespace: str,
) -> None:
    manifest = base()
    both(
        setting("strategy", "Hyperband"),
        setting("staticHyperparameters", static),
        setting("hyperband", hyperband),
    )(manifest)
    (operator_says,) = validate_spec(models.TuningJobSpec.from_api(manifest["spec"]))
    field, words = operator_says.split(": ", 1)
    with pytest.raises(ApiException) as caught:
        create(custom_api, namespace, manifest)
    (cause,) = json.loads(caught.value.body)["details"]["causes"]
    assert (cause["field"], cause["message"]) == (field, f"Invalid value: {words}")


def test_the_invalid_table_is_large_and_every_base_is_valid(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    """The table's cases fail for their own reason, not because the base is broken."""
    assert len(INVALID) >= 25
    assert len({case_id for case_id, _, _ in INVALID}) == len(INVALID)
    manifest = base()
    manifest["metadata"]["name"] = "base-is-valid"
    assert create(custom_api, namespace, manifest)["spec"]["strategy"] == "Bayesian"
    forty_metrics = base()
    forty_metrics["metadata"]["name"] = "forty-metrics-fewer-trials"
    both(many_metrics(40), setting("limits", {"maxTrials": 300}))(forty_metrics)
    assert len(create(custom_api, namespace, forty_metrics)["spec"]["metrics"]) == 40


# --------------------------------------------------------------------------- updates

IMMUTABLE: list[tuple[str, Mutation]] = [
    ("strategy", setting("strategy", "Random")),
    ("objective", setting("objective.type", "Minimize")),
    ("metrics", setting("metrics", [{"name": "validation:accuracy", "regex": "acc=([0-9.]+)"}])),
    (
        "parameters",
        setting(
            "parameters", [{"name": "learning_rate", "type": "Continuous", "min": 0.01, "max": 0.5}]
        ),
    ),
    ("trialTemplate", setting("trialTemplate.job.backoffLimit", 3)),
    ("staticHyperparameters", setting("staticHyperparameters.epochs", "50")),
    ("randomSeed", setting("randomSeed", None)),  # removing counts as changing
    ("warmStart", setting("warmStart", {"parents": ["an-earlier-job"]})),  # so does setting
    ("hyperband", setting("hyperband.reductionFactor", 4)),  # on the Hyperband example
]


def replace_spec(
    api: client.CustomObjectsApi, namespace: str, name: str, mutation: Mutation
) -> Manifest:
    current: Manifest = api.get_namespaced_custom_object(
        models.GROUP, models.VERSION, namespace, models.PLURAL, name
    )
    mutation(current)
    replaced: Manifest = api.replace_namespaced_custom_object(
        models.GROUP, models.VERSION, namespace, models.PLURAL, name, current
    )
    return replaced


@pytest.mark.parametrize(("field", "mutation"), IMMUTABLE, ids=[f for f, _ in IMMUTABLE])
def test_immutable_field_cannot_change(
    field: str, mutation: Mutation, custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    example = "digits-cpu-hyperband.yaml" if field == "hyperband" else "digits-cpu.yaml"
    manifest = load(ROOT / "examples" / example)
    manifest["metadata"] = {"name": f"immutable-{field.lower()}"}
    create(custom_api, namespace, manifest)
    with pytest.raises(ApiException) as caught:
        replace_spec(custom_api, namespace, manifest["metadata"]["name"], mutation)
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    assert f"spec.{field} is immutable; create a new TuningJob to change it" in message


def test_stop_may_be_set_but_never_unset(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    manifest = base()
    manifest["metadata"]["name"] = "stop-once"
    assert create(custom_api, namespace, manifest)["spec"]["stop"] is False  # the default
    stopped = replace_spec(custom_api, namespace, "stop-once", setting("stop", True))
    assert stopped["spec"]["stop"] is True
    for unset in (setting("stop", False), setting("stop", None)):
        with pytest.raises(ApiException) as caught:
            replace_spec(custom_api, namespace, "stop-once", unset)
        assert caught.value.status == 422
        message = json.loads(caught.value.body)["message"]
        assert "spec.stop cannot be set back to false" in message
        assert "keep `stop: true` in your manifest (GitOps" in message  # QA99 L5
        assert "create a new TuningJob with warmStart.parents naming this one" in message


def test_limits_completion_criteria_and_suspend_may_change(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    manifest = base()
    manifest["metadata"]["name"] = "mutable"
    created = create(custom_api, namespace, manifest)
    updated = replace_spec(
        custom_api,
        namespace,
        "mutable",
        both(
            setting("limits", {"maxTrials": 40, "maxParallelTrials": 4}),
            setting("completionCriteria", {"targetObjective": 0.97, "maxTrialsNotImproving": 5}),
            setting("suspend", True),
            setting("earlyStopping", "Auto"),
        ),
    )
    assert updated["metadata"]["generation"] == created["metadata"]["generation"] + 1
    spec = models.TuningJobSpec.from_api(updated["spec"])
    assert spec.limits.max_trials == 40
    assert spec.completion_criteria is not None
    assert spec.completion_criteria.target_objective == 0.97
    assert spec.suspend is True


def test_an_update_is_still_validated(custom_api: client.CustomObjectsApi, namespace: str) -> None:
    manifest = base()
    manifest["metadata"]["name"] = "update-validated"
    create(custom_api, namespace, manifest)
    with pytest.raises(ApiException) as caught:
        replace_spec(
            custom_api,
            namespace,
            "update-validated",
            setting("limits", {"maxTrials": 2, "maxParallelTrials": 3}),
        )
    assert "limits.maxParallelTrials must not exceed limits.maxTrials" in caught.value.body


# --------------------------------------------------------------------------- status


def sample_status() -> models.TuningJobStatus:
    """A status as the operator writes it mid-run."""
    t0 = "2025-01-01T10:00:00Z"
    return models.TuningJobStatus.model_validate(
        {
            "observedGeneration": 1,
            "phase": "InProgress",
            "reason": "TrialsRunning",
            "message": "12 of 20 trials done",
            "conditions": [
                {
                    "type": "Running",
                    "status": "True",
                    "reason": "TrialsRunning",
                    "message": "launching trials",
                    "lastTransitionTime": t0,
                    "observedGeneration": 1,
                }
            ],
            "startTime": t0,
            "consumedSeconds": 321,
            "counters": {"running": 2, "completed": 11, "failed": 1},
            "bestTrial": {
                "name": "status-sample-004",
                "hyperparameters": {"learning_rate": "0.05", "momentum": "0.9", "wd": "1e-05"},
                "objective": 0.9888888888888889,
            },
            "bestObjective": 0.9888888888888889,
            "bestObjectiveText": "0.988889",
            "trialsDone": "12/20",
            "trials": [
                {
                    "name": f"status-sample-{i:03d}",
                    "hyperparameters": {"learning_rate": "0.05", "momentum": "0.9", "wd": "0"},
                    "objective": 0.9 if i % 3 else None,
                    "intermediateCount": 10,
                    "phase": "Succeeded" if i % 3 else "Failed",
                    "reason": None if i % 3 else "MetricUnavailable",
                    "attempt": 1,
                    "startTime": t0,
                    "endTime": "2025-01-01T10:01:00Z",
                }
                for i in range(12)
            ],
        }
    )


def test_status_subresource_accepts_the_operators_status_and_the_main_resource_ignores_it(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    manifest = base()
    manifest["metadata"]["name"] = "status-sample"
    manifest["status"] = {"phase": "Completed"}
    created = create(custom_api, namespace, manifest)
    # The main resource drops status on create: what shows is the CRD's default (the
    # operator has not looked yet, kstatus' InProgress: QA99 M1).
    assert created["status"] == {"observedGeneration": 0, "phase": "Pending"}

    status = sample_status()
    patched = custom_api.patch_namespaced_custom_object_status(
        models.GROUP,
        models.VERSION,
        namespace,
        models.PLURAL,
        "status-sample",
        {"status": status.to_api()},
    )
    assert models.TuningJobStatus.from_api(patched["status"]) == status

    # A status change sent to the main resource is ignored, the spec change applied.
    after = custom_api.patch_namespaced_custom_object(
        models.GROUP,
        models.VERSION,
        namespace,
        models.PLURAL,
        "status-sample",
        {"spec": {"suspend": True}, "status": {"phase": "Failed", "trialsDone": "0/20"}},
    )
    assert after["spec"]["suspend"] is True
    assert after["status"]["phase"] == "InProgress"
    assert after["status"]["trialsDone"] == "12/20"


def test_status_patch_is_validated_against_the_schema(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    manifest = base()
    manifest["metadata"]["name"] = "status-invalid"
    create(custom_api, namespace, manifest)
    with pytest.raises(ApiException) as caught:
        custom_api.patch_namespaced_custom_object_status(
            models.GROUP,
            models.VERSION,
            namespace,
            models.PLURAL,
            "status-invalid",
            {"status": {"phase": "Done"}},
        )
    assert 'Unsupported value: "Done"' in json.loads(caught.value.body)["message"]


def test_kubectl_get_tj_shows_the_printer_columns(
    kubeconfig_path: Path | str, custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    manifest = base()
    manifest["metadata"]["name"] = "printed"
    create(custom_api, namespace, manifest)
    custom_api.patch_namespaced_custom_object_status(
        models.GROUP,
        models.VERSION,
        namespace,
        models.PLURAL,
        "printed",
        {"status": sample_status().to_api()},
    )
    table = kubectl(kubeconfig_path, "get", "tj", "printed", "-n", namespace)
    header, row = table.strip().splitlines()
    assert header.split() == [
        "NAME",
        "STRATEGY",
        "PHASE",
        "BEST",
        "TRIALS",
        "RUNNING",
        "EPOCHS",
        "AGE",
    ]
    # Best: the operator's text of the value, not the JSON's 17 digits.
    assert row.split()[:6] == ["printed", "Bayesian", "InProgress", "0.988889", "12/20", "2"]
    # -o wide adds the job's message.
    wide = kubectl(kubeconfig_path, "get", "tj", "printed", "-n", namespace, "-o", "wide")
    assert wide.splitlines()[0].split()[-1] == "MESSAGE"
    assert sample_status().message in wide
    # The short name and the category work too.
    assert "printed" in kubectl(kubeconfig_path, "get", "kubetune", "-n", namespace, "-o", "name")


def test_kubectl_explain_shows_the_model_docstrings(
    kubeconfig_path: Path | str, crd_installed: None
) -> None:
    explained = kubectl(kubeconfig_path, "explain", "tuningjob.spec.parameters")
    assert "The hyperparameters to tune" in explained
    assert "scaling" in explained
    explained = kubectl(kubeconfig_path, "explain", "tj.spec.trialTemplate.job")
    assert models.HYPERPARAMETERS_ENV in explained


# --------------------------------------------------------------------------- apply, edits


def test_server_side_apply_after_client_side_applies_takes_over_without_conflict(
    kubeconfig_path: Path | str, namespace: str, crd_installed: None, tmp_path: Path
) -> None:
    """`parameters` and `metrics` are lists keyed by name: each item's fields have their
    own managers, so a server-side apply (Argo CD, Flux, Helm 4) of a TuningJob applied
    client-side before takes over its parameters without a conflict over the whole list,
    (QA99 M3). A client-side re-apply of the same manifest changes nothing: the CRD
    defaults nothing inside the lists' items, so the JSON merge patch kubectl sends a
    custom resource, which replaces a list whole, finds the list as the manifest has it
    (it said "configured" at every apply while `scaling: Auto` was defaulted, and Argo
    CD's default diff, the same three-way merge, saw the job OutOfSync for ever)."""
    manifest = base()
    manifest["metadata"]["name"] = "applied"
    for parameter in manifest["spec"]["parameters"]:
        parameter.pop("scaling", None)  # once defaulted by the API server
    path = tmp_path / "applied.yaml"
    path.write_text(yaml.safe_dump(manifest))
    apply = ("apply", f"--namespace={namespace}", "-f", str(path))
    get = ("get", "tj", "applied", f"--namespace={namespace}", "-o", "json")
    assert "created" in kubectl(kubeconfig_path, *apply)
    created = json.loads(kubectl(kubeconfig_path, *get))
    assert kubectl(kubeconfig_path, *apply).strip() == "tuningjob.kubetune.io/applied unchanged"
    # kubectl's default manager for server-side apply ("kubectl") takes over the fields.
    out = kubectl(kubeconfig_path, *apply[:1], "--server-side", *apply[1:])
    assert out.strip() == "tuningjob.kubetune.io/applied serverside-applied"
    applied = json.loads(kubectl(kubeconfig_path, *get))
    assert applied["spec"] == created["spec"]
    assert applied["metadata"]["generation"] == created["metadata"]["generation"]


def test_reordering_parameters_or_metrics_is_still_a_change(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    """Keyed lists compare equal in any order in CEL: the immutability rule compares the
    names in order too, so a reordering is refused as before."""
    manifest = base()
    manifest["metadata"]["name"] = "reordered"
    manifest["spec"]["metrics"].append({"name": "loss", "regex": "loss=([0-9.]+)"})
    create(custom_api, namespace, manifest)
    for field in ("parameters", "metrics"):
        assert len(manifest["spec"][field]) >= 2, field
        with pytest.raises(ApiException) as caught:
            replace_spec(
                custom_api,
                namespace,
                "reordered",
                lambda m, f=field: m["spec"].__setitem__(f, m["spec"][f][::-1]),
            )
        assert caught.value.status == 422
        message = json.loads(caught.value.body)["message"]
        assert f"spec.{field} is immutable; create a new TuningJob to change it" in message


PARAMETER_EDITS: list[tuple[str, Mutation]] = [
    ("scaling", lambda m: m["spec"]["parameters"][1].__setitem__("scaling", "Linear")),
    ("min", lambda m: m["spec"]["parameters"][1].__setitem__("min", 0.1)),
    ("max removed", lambda m: m["spec"]["parameters"][1].pop("max")),
    ("type", lambda m: m["spec"]["parameters"][1].__setitem__("type", "Integer")),
    (
        "values",
        lambda m: m["spec"]["parameters"][3].__setitem__("values", ["sgd", "adam", "rmsprop"]),
    ),
    (
        "an item added",
        lambda m: m["spec"]["parameters"].append(
            {"name": "z", "type": "Integer", "min": 1, "max": 3}
        ),
    ),
]


def test_parameters_are_immutable_by_their_effective_values(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    """The CRD no longer defaults `scaling`, so a job created while it did holds
    `scaling: Auto` where its manifest has none: applying that manifest again, or writing
    `Auto` out, is no change; any other edit of a parameter still is."""
    manifest = base()
    manifest["metadata"]["name"] = "effective-parameters"
    manifest["spec"]["parameters"][1]["scaling"] = "Auto"  # as the API server wrote it
    manifest["spec"]["parameters"].append(
        {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam"]}
    )
    create(custom_api, namespace, manifest)
    for scaling in (None, "Auto", None):
        replaced = replace_spec(
            custom_api,
            namespace,
            "effective-parameters",
            lambda m, s=scaling: (
                m["spec"]["parameters"][1].update({"scaling": s})
                if s
                else m["spec"]["parameters"][1].pop("scaling", None)
            ),
        )
        assert replaced["spec"]["parameters"][1].get("scaling") == scaling
    for edit, mutation in PARAMETER_EDITS:
        with pytest.raises(ApiException) as caught:
            replace_spec(custom_api, namespace, "effective-parameters", mutation)
        assert caught.value.status == 422, edit
        message = json.loads(caught.value.body)["message"]
        assert "spec.parameters is immutable; create a new TuningJob to change it" in message, (
            edit,
            message,
        )


def test_writing_out_or_removing_the_hyperband_defaults_is_no_change(
    custom_api: client.CustomObjectsApi, namespace: str
) -> None:
    """`hyperband` is immutable by its effective values: an absent block is its defaults
    (QA99 L1); a value other than the default is still refused."""
    manifest = load(ROOT / "examples" / "digits-cpu-hyperband.yaml")
    manifest["metadata"] = {"name": "hyperband-defaults"}
    del manifest["spec"]["hyperband"]
    create(custom_api, namespace, manifest)
    written = {"reductionFactor": 3}
    replaced = replace_spec(
        custom_api, namespace, "hyperband-defaults", setting("hyperband", written)
    )
    assert replaced["spec"]["hyperband"] == {
        "minResource": 1,
        "reductionFactor": 3,
        "sampler": "SobolBayesian",
    }
    replaced = replace_spec(custom_api, namespace, "hyperband-defaults", setting("hyperband", None))
    assert "hyperband" not in replaced["spec"]
    for changed in ({"reductionFactor": 4}, {"sampler": "Random"}):
        with pytest.raises(ApiException) as caught:
            replace_spec(custom_api, namespace, "hyperband-defaults", setting("hyperband", changed))
        assert caught.value.status == 422, changed
        message = json.loads(caught.value.body)["message"]
        assert "spec.hyperband is immutable; create a new TuningJob to change it" in message
