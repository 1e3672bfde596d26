"""charts/kubetune/values.schema.json: Helm refuses a misspelt key, a wrong type or a value
out of range at `helm template`/`install`/`upgrade`/`lint`, naming the value's path, instead
of rendering it for the API server to refuse later (a raw error and a failed release
revision) or ignoring it; `--set 'watchNamespaces={}'` means every namespace; and the
defaults and every way the repository itself sets values still render."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chart_render import CHART, RELEASE, RELEASE_NAMESPACE

Helm = Callable[..., subprocess.CompletedProcess[str]]
SCHEMA = CHART / "values.schema.json"

# (--set value, the path Helm names, what it says is wrong): the QA's values (QA67 L1) and
# their kin. Each rendered before the schema, for the API server to refuse, or was ignored.
REFUSED_BY_SCHEMA = [
    ("operator.verbos=true", "at '/operator'", "additional properties 'verbos' not allowed"),
    ("logLevel=debug", "at ''", "additional properties 'logLevel' not allowed"),
    ("operator.verbose=maybe", "at '/operator/verbose'", "got string, want boolean"),
    ("peering.enabled=yes", "at '/peering/enabled'", "got string, want boolean"),
    ("replicaCount=abc", "at '/replicaCount'", "got string, want integer"),
    ("replicaCount=-1", "at '/replicaCount'", "minimum: got -1, want 0"),
    ("operator.healthPort=99999", "at '/operator/healthPort'", "want 65,535"),
    ("operator.metricsPort=0", "at '/operator/metricsPort'", "minimum: got 0, want 1"),
    ("metrics.service.port=70000", "at '/metrics/service/port'", "want 65,535"),
    (
        "image.pullPolicy=Sometimes",
        "at '/image/pullPolicy'",
        "value must be one of 'Always', 'IfNotPresent', 'Never'",
    ),
    ("resources.limits.cpu=banana", "at '/resources/limits/cpu'", "'banana' does not match"),
    ("resources.requests.memory=256MB", "at '/resources/requests/memory'", "does not match"),
    ("resources.limit.cpu=1", "at '/resources'", "additional properties 'limit' not allowed"),
    ("watchNamespaces=team-a", "at '/watchNamespaces'", "got string, want array"),
    ("imagePullSecrets={regcred}", "at '/imagePullSecrets/0'", "got string, want object"),
    ("podAnnotations.checksum=1", "at '/podAnnotations/checksum'", "got number, want string"),
    ("nodeSelector.gpu=false", "at '/nodeSelector/gpu'", "got boolean, want string"),
    (
        "metrics.service.type=clusterip",
        "at '/metrics/service/type'",
        "value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'",
    ),
    ("metrics.serviceMonitor.interval=30sec", "at '/metrics/serviceMonitor/interval'", "match"),
    ("livenessProbe.periodSeconds=0", "at '/livenessProbe/periodSeconds'", "minimum"),
    ("readinessProbe.timeout=5", "at '/readinessProbe'", "additional properties 'timeout'"),
    ("terminationGracePeriodSeconds=-5", "at '/terminationGracePeriodSeconds'", "minimum"),
    ("fullnameOverride=KubeTune", "at '/fullnameOverride'", "'KubeTune' does not match"),
    (
        "admissionPolicy.validationActions={deny}",
        "at '/admissionPolicy/validationActions/0'",
        "value must be one of 'Deny', 'Warn', 'Audit'",
    ),
    (
        "admissionPolicy.validationActions=Deny",  # a string, not a list
        "at '/admissionPolicy/validationActions'",
        "got string, want array",
    ),
    (
        "admissionPolicy.validationActions={Deny,Deny}",
        "at '/admissionPolicy/validationActions'",
        "items at 0 and 1 are equal",
    ),
]

# Combinations a schema cannot express: the chart's own checks, naming the values and the fix.
REFUSED_BY_THE_CHART = [
    (
        "operator.healthPort=9090",  # = metricsPort: the API server refused duplicate ports
        "operator.healthPort and operator.metricsPort are both 9090",
        "give them different ones",
    ),
    (
        "watchNamespaces={team-a,}",
        'watchNamespaces: an empty name in ["team-a",""]',
        "--set 'watchNamespaces={}'",
    ),
    (
        "watchNamespaces={team-*}",
        'watchNamespaces: "team-*" is not a namespace name',
        "to watch every namespace, give none: --set 'watchNamespaces={}'",
    ),
]

# Every way the repository sets the chart's values: README.md and docs/, the Makefile's helm-lint,
# the e2e and integration tests that install it, the chart tests.
REPOSITORY_VALUES = {
    "readme-install": ["--set", "image.repository=REGISTRY/kubetune/operator"],
    "readme-namespaced": ["--set", "watchNamespaces={team-a,team-b}"],
    "readme-team-c": ["--set", "watchNamespaces={team-c}"],
    "readme-no-policy-no-roles": [
        "--set", "admissionPolicy.enabled=false", "--set", "userRoles.create=false",
    ],
    "readme-warn-audit": ["--set", "admissionPolicy.validationActions={Warn,Audit}"],
    "readme-service-monitor": ["--set", "metrics.serviceMonitor.enabled=true"],
    "readme-peering": ["--set", "peering.enabled=true", "--set", "replicaCount=2"],
    "paused": ["--set", "replicaCount=0"],
    "peering-namespaced": [
        "--set", "peering.enabled=true", "--set", "replicaCount=3",
        "--set", "watchNamespaces={team-a,team-b}",
    ],
    "e2e-helm-install": [
        "--set", "image.repository=kubetune/operator",
        "--set", "operator.healthPort=31234", "--set", "operator.metricsPort=31235",
        "--set", "operator.verbose=true",
    ],
    "e2e-real-node": [
        "--set", "image.repository=localhost/kubetune/operator",
        "--set", "image.pullPolicy=Never", "--set", "watchNamespaces={kt-real}",
        "--set-json", 'nodeSelector={"kubetune.io/node-kind": "real"}',
        "--set-json", 'tolerations=[{"key": "kubetune.io/real-node", "operator": "Exists"}]',
    ],
    "tests-fullname-tag-digest": [
        "--set", "fullnameOverride=acme", "--set", "image.tag=v9",
        "--set", "image.digest=sha256:" + "0" * 64,
    ],
    "values-yaml-as-file": ["-f", str(CHART / "values.yaml")],
    "quantities-and-pass-through": [
        "--set", "resources.limits.cpu=2", "--set", "resources.requests.cpu=0.5",
        "--set", "resources.requests.memory=512Mi", "--set", "image.tag=20260102",
        "--set", "imagePullSecrets[0].name=registry", "--set-string", "podAnnotations.a=1",
        "--set", "operator.extraArgs={--flag}", "--set", "operator.extraEnv[0].name=X",
        "--set", "metrics.serviceMonitor.interval=1m30s", "--set", "priorityClassName=high",
        "--set", "livenessProbe.successThreshold=1",
    ],
}  # fmt: skip


def _template(run_helm: Helm, *args: str) -> subprocess.CompletedProcess[str]:
    return run_helm("template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE, *args)


def _lint(run_helm: Helm, *args: str) -> subprocess.CompletedProcess[str]:
    return run_helm("lint", "--strict", str(CHART), "--namespace", RELEASE_NAMESPACE, *args)


@pytest.mark.parametrize(
    ("value", "path", "wrong"), REFUSED_BY_SCHEMA, ids=[v for v, *_ in REFUSED_BY_SCHEMA]
)
def test_helm_template_refuses_naming_the_path(
    run_helm: Helm, value: str, path: str, wrong: str
) -> None:
    done = _template(run_helm, "--set", value)
    assert done.returncode != 0, f"--set {value} rendered"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert f"- {path}: " in done.stderr and wrong in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("value", "path", "wrong"), REFUSED_BY_SCHEMA, ids=[v for v, *_ in REFUSED_BY_SCHEMA]
)
def test_helm_lint_refuses_naming_the_path(
    run_helm: Helm, value: str, path: str, wrong: str
) -> None:
    done = _lint(run_helm, "--set", value)
    assert done.returncode != 0, f"helm lint --set {value} passed: {done.stdout}"
    assert f"[ERROR] values.yaml: - {path}: " in done.stdout and wrong in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("value", "refusal", "fix"), REFUSED_BY_THE_CHART, ids=[v for v, *_ in REFUSED_BY_THE_CHART]
)
def test_combinations_are_refused_by_the_chart_naming_the_fix(
    run_helm: Helm, value: str, refusal: str, fix: str
) -> None:
    # (helm lint turns a template's `fail` into an INFO line, Helm's choice: template only.)
    done = _template(run_helm, "--set", value)
    assert done.returncode != 0, f"--set {value} rendered"
    assert refusal in done.stderr and fix in done.stderr, done.stderr


@pytest.fixture
def empty_list_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster-wide.yaml"
    path.write_text("watchNamespaces: []\n")
    return path


@pytest.mark.parametrize(
    "how", ["--set 'watchNamespaces={}'", "--set watchNamespaces=null", "-f watchNamespaces: []"]
)
def test_an_empty_watch_list_in_any_spelling_is_cluster_wide(
    run_helm: Helm, empty_list_file: Path, how: str
) -> None:
    """QA67 L2: Helm reads `{}` as [""], which the chart refused as a namespace name, telling
    the user to leave the list empty, which they had done. Each spelling renders what the
    defaults render: the ClusterRole, --all-namespaces."""
    args = {
        "--set 'watchNamespaces={}'": ["--set", "watchNamespaces={}"],
        "--set watchNamespaces=null": ["--set", "watchNamespaces=null"],
        "-f watchNamespaces: []": ["-f", str(empty_list_file)],
    }[how]
    default = _template(run_helm)
    done = _template(run_helm, *args)
    assert done.returncode == 0, done.stderr
    assert "--all-namespaces" in done.stdout
    assert done.stdout == default.stdout
    # with peering too: the ClusterKopfPeering and its cluster-wide rule, no KopfPeering
    peering = ["--set", "peering.enabled=true", "--set", "replicaCount=2"]
    done = _template(run_helm, *peering, *args)
    assert done.returncode == 0, done.stderr
    assert "kind: ClusterKopfPeering" in done.stdout
    assert done.stdout == _template(run_helm, *peering).stdout


def test_going_back_to_cluster_wide_is_in_the_helm_docs() -> None:
    helm_doc = (CHART.parents[1] / "docs" / "helm.md").read_text()
    assert "To go back to watching every namespace" in helm_doc
    assert "--set 'watchNamespaces={}'" in helm_doc


@pytest.mark.parametrize("args", REPOSITORY_VALUES.values(), ids=REPOSITORY_VALUES.keys())
def test_the_repositorys_own_values_render_and_lint(run_helm: Helm, args: list[str]) -> None:
    done = _template(run_helm, *args)
    assert done.returncode == 0, done.stderr
    linted = _lint(run_helm, *args)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def _schema_nodes(
    values: Any, schema: dict[str, Any], path: str = ""
) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(path, default value, schema) of every values.yaml key the schema lists by name."""
    for key, value in values.items():
        sub = schema["properties"].get(key)
        where = f"{path}.{key}" if path else key
        yield where, value, sub
        if sub is not None and isinstance(value, dict) and "properties" in sub:
            yield from _schema_nodes(value, sub, where)


def test_the_schema_covers_every_value_and_says_what_to_give() -> None:
    schema = json.loads(SCHEMA.read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    for path, _, sub in _schema_nodes(values, schema):
        assert sub is not None, f"{path} is in values.yaml but not in values.schema.json"
        assert sub.get("description"), f"{path}: no description in values.schema.json"
        if "properties" in sub:  # keys the chart owns: a misspelt one is refused
            assert sub.get("additionalProperties") is False, path
    # and nothing the schema names is missing from values.yaml (both document the values)
    listed = {p for p, _, _ in _schema_nodes(values, schema)}

    def named(node: dict[str, Any], path: str = "") -> Iterator[str]:
        for key, sub in node.get("properties", {}).items():
            where = f"{path}.{key}" if path else key
            yield where
            yield from named(sub, where)

    # Kubernetes fields passed through that values.yaml leaves at their defaults.
    passed_through = {"resources.claims"} | {
        f"{probe}.{field}"
        for probe in ("livenessProbe", "readinessProbe")
        for field in ("successThreshold", "terminationGracePeriodSeconds")
    }
    extra = set(named(schema)) - listed - passed_through
    assert not extra, f"in values.schema.json but not in values.yaml: {sorted(extra)}"
