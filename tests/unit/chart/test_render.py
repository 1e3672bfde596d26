"""`helm lint` and `helm template` of charts/kubetune, cluster-wide and namespaced."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from support.chart_render import CHART, RELEASE_NAMESPACE, Render

Helm = Callable[..., subprocess.CompletedProcess[str]]
NAMESPACED = "watchNamespaces={team-a,team-b}"


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """{(apiGroup, resource): verbs} of a Role or ClusterRole."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def _operator_cluster_role(render: Render) -> dict[str, Any]:
    """The ClusterRole bound to the operator (the chart also renders the user roles)."""
    name = render.one("ClusterRoleBinding")["roleRef"]["name"]
    [role] = [r for r in render.of_kind("ClusterRole") if r["metadata"]["name"] == name]
    return role


def _container(render: Render) -> dict[str, Any]:
    deployment = render.one("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("values", [[], [NAMESPACED]], ids=["cluster-wide", "namespaced"])
def test_helm_lint_strict(run_helm: Helm, values: list[str]) -> None:
    args = ["lint", "--strict", str(CHART), "--namespace", RELEASE_NAMESPACE]
    for value in values:
        args += ["--set", value]
    done = run_helm(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_default_render_kinds(render: Callable[..., Render]) -> None:
    kinds = sorted(o["kind"] for o in render().objects)
    assert kinds == [
        "ClusterRole",  # the operator's
        "ClusterRole",  # kubetune-view
        "ClusterRole",  # kubetune-edit
        "ClusterRoleBinding",
        "Deployment",
        "Role",  # the heartbeat Lease's, in the release's namespace
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",  # creating a TuningJob needs create on jobs
        "ValidatingAdmissionPolicy",  # a warning on edits of an ended TuningJob
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ]


def test_deployment_is_hardened(render: Callable[..., Render]) -> None:
    rendered = render()
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    container = _container(rendered)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    # The read-only root filesystem gets a writable /tmp.
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_probes_hit_the_operator_health_endpoint(render: Callable[..., Render]) -> None:
    container = _container(render())
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert "--health-port=8080" in container["args"]
    assert "--metrics-port=9090" in container["args"]


def test_default_is_cluster_wide_standalone(render: Callable[..., Render]) -> None:
    rendered = render()
    container = _container(rendered)
    assert container["image"] == "kubetune/operator:0.1.0"
    assert "--all-namespaces" in container["args"]
    assert "--standalone" in container["args"]
    assert not any(a.startswith("--namespace") for a in container["args"])
    # Two unpaired operators must never overlap during an upgrade.
    assert rendered.one("Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    assert rendered.one("Deployment")["spec"]["replicas"] == 1


def test_default_cluster_role_grants_what_the_operator_uses(
    render: Callable[..., Render],
) -> None:
    rendered = render()
    rules = _rules(_operator_cluster_role(rendered))
    assert rules[("kubetune.io", "tuningjobs")] >= {"list", "watch", "patch"}
    assert rules[("kubetune.io", "tuningjobs/status")] >= {"patch"}
    assert rules[("batch", "jobs")] >= {"create", "list", "watch", "delete"}
    assert rules[("", "pods/log")] == {"get"}
    assert rules[("", "events")] == {"create", "list"}  # list: why a trial has no pod
    assert rules[("apiextensions.k8s.io", "customresourcedefinitions")] == {"list", "watch"}
    # Least privilege: no wildcards, no secrets, no namespace reads cluster-wide.
    assert not any("*" in k[0] or "*" in k[1] or "*" in v for k, v in rules.items())
    assert ("", "secrets") not in rules
    assert ("", "namespaces") not in rules
    binding = rendered.one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == _operator_cluster_role(rendered)["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": rendered.one("ServiceAccount")["metadata"]["name"],
            "namespace": RELEASE_NAMESPACE,
        }
    ]


@pytest.mark.parametrize("values", [[], [NAMESPACED]], ids=["cluster-wide", "namespaced"])
def test_every_rbac_rule_says_why(render: Callable[..., Render], values: list[str]) -> None:
    lines = render(*values).text.splitlines()
    rule_lines = [i for i, line in enumerate(lines) if re.match(r"^\s*- apiGroups:", line)]
    assert rule_lines
    for i in rule_lines:
        assert lines[i - 1].strip().startswith("#"), f"RBAC rule without a comment: {lines[i]}"


def _watch_roles(rendered: Render, kind: str) -> list[dict[str, Any]]:
    """The Roles (or RoleBindings) of the watched namespaces, not the heartbeat's."""
    return [r for r in rendered.of_kind(kind) if not r["metadata"]["name"].endswith("-heartbeat")]


def test_namespaced_mode_uses_roles(render: Callable[..., Render]) -> None:
    rendered = render(NAMESPACED)
    container = _container(rendered)
    assert "--namespace=team-a" in container["args"]
    assert "--namespace=team-b" in container["args"]
    assert "--all-namespaces" not in container["args"]

    roles = {r["metadata"]["namespace"]: r for r in _watch_roles(rendered, "Role")}
    bindings = {b["metadata"]["namespace"]: b for b in _watch_roles(rendered, "RoleBinding")}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    for namespace, role in roles.items():
        rules = _rules(role)
        assert rules[("kubetune.io", "tuningjobs")] >= {"list", "watch", "patch"}
        assert rules[("batch", "jobs")] >= {"create"}
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"][0]["namespace"] == RELEASE_NAMESPACE

    # Nothing cluster-wide: the operator, given names, turns kopf's cluster scanning off.
    assert rendered.of_kind("ClusterRoleBinding") == []
    assert {r["metadata"]["name"] for r in rendered.of_kind("ClusterRole")} == {
        "kubetune-view",
        "kubetune-edit",
    }  # the user roles, bound by nobody here


def test_namespace_patterns_are_refused(run_helm: Helm) -> None:
    done = run_helm("template", "kubetune", str(CHART), "--set", "watchNamespaces={team-*}")
    assert done.returncode != 0
    assert "patterns cannot be used" in done.stderr


def test_replicas_without_peering_are_refused(run_helm: Helm) -> None:
    done = run_helm("template", "kubetune", str(CHART), "--set", "replicaCount=2")
    assert done.returncode != 0
    assert "replicaCount > 1 needs peering.enabled=true" in done.stderr


@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        ("image.digest=sha256:abc", 'image.digest: "sha256:abc" is not an image digest'),
        (
            "admissionPolicy.validationActions={Deny,Warn}",
            "admissionPolicy.validationActions: Deny and Warn exclude each other",
        ),
        # An unknown action, one named twice, a string: values.schema.json refuses them
        # first (test_values_schema.py).
    ],
)
def test_values_the_api_server_would_refuse_later_are_refused_at_render(
    run_helm: Helm, value: str, refusal: str
) -> None:
    done = run_helm("template", "kubetune", str(CHART), "--set", value)
    assert done.returncode != 0
    assert refusal in done.stderr


@pytest.mark.parametrize("values", [[], [NAMESPACED]], ids=["cluster-wide", "namespaced"])
def test_peering(render: Callable[..., Render], values: list[str]) -> None:
    rendered = render("peering.enabled=true", "replicaCount=2", *values)
    container = _container(rendered)
    assert "--peering=kubetune" in container["args"]
    assert "--standalone" not in container["args"]
    assert rendered.one("Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    if values:
        peerings = rendered.of_kind("KopfPeering")
        assert {p["metadata"]["namespace"] for p in peerings} == {"team-a", "team-b"}
        for role in _watch_roles(rendered, "Role"):
            assert _rules(role)[("kopf.dev", "kopfpeerings")] >= {"patch", "watch"}
    else:
        assert rendered.one("ClusterKopfPeering")["metadata"]["name"] == "kubetune"
        rules = _rules(_operator_cluster_role(rendered))
        assert rules[("kopf.dev", "clusterkopfpeerings")] >= {"patch", "watch"}


def test_service_monitor_is_optional(render: Callable[..., Render]) -> None:
    assert not render().of_kind("ServiceMonitor")
    rendered = render("metrics.serviceMonitor.enabled=true")
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def test_metrics_service_targets_the_operator_pod(render: Callable[..., Render]) -> None:
    rendered = render()
    service = rendered.one("Service")
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_image_digest_and_tag(render: Callable[..., Render]) -> None:
    assert _container(render("image.tag=v9"))["image"] == "kubetune/operator:v9"
    digest = "sha256:" + "0" * 64
    assert _container(render(f"image.digest={digest}"))["image"] == f"kubetune/operator@{digest}"
