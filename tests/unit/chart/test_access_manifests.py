"""The admission policies and the user roles: the chart renders exactly the plain manifests in
manifests/ (for installs without Helm), and neither lands in the chart's crds/, which Helm
installs unconditionally and never templates (the policy must be able to be turned off).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.operator.api import TERMINAL_PHASES
from support.chart_render import CHART, ROOT, Render

MANIFESTS = ROOT / "manifests"
POLICY = "kubetune-tuningjob-needs-job-create"
WARNING = "kubetune-ended-tuningjob-warning"
# Labels the chart adds to everything it renders; the plain manifests have none of them.
CHART_LABEL_PREFIXES = ("app.kubernetes.io/", "helm.sh/")

Manifest = dict[str, Any]


def _plain(name: str) -> list[Manifest]:
    return [o for o in yaml.safe_load_all((MANIFESTS / name).read_text()) if o]


def _without_chart_labels(obj: Manifest) -> Manifest:
    out = copy.deepcopy(obj)
    labels = {
        key: value
        for key, value in out["metadata"].pop("labels", {}).items()
        if not key.startswith(CHART_LABEL_PREFIXES)
    }
    if labels:
        out["metadata"]["labels"] = labels
    return out


def _named(render: Render, kind: str, name: str) -> Manifest:
    found = [o for o in render.of_kind(kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, rendered {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    "manifest", ["admission-policy.yaml", "ended-tuningjob-warning.yaml", "cluster-roles.yaml"]
)
def test_chart_renders_the_plain_manifests(render: Callable[..., Render], manifest: str) -> None:
    # Release "kubetune" (chart_render.RELEASE): the chart's names are the plain ones.
    rendered = render()
    plain = _plain(manifest)
    assert plain
    for obj in plain:
        chart_obj = _named(rendered, obj["kind"], obj["metadata"]["name"])
        assert _without_chart_labels(chart_obj) == obj, (
            f"charts/kubetune/templates and manifests/{manifest} disagree on "
            f"{obj['kind']} {obj['metadata']['name']}: change both"
        )


def test_policy_judges_creation_by_the_requesting_users_job_rights() -> None:
    policy, binding = _plain("admission-policy.yaml")
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    assert "matchResources" not in binding["spec"], "bind in every namespace"
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    [rule] = spec["matchConstraints"]["resourceRules"]
    # No subresource: the operator's status writes are never judged.
    assert rule["resources"] == ["tuningjobs"]
    # CREATE only: what the trials run (trialTemplate, staticHyperparameters) is immutable.
    assert rule["operations"] == ["CREATE"]
    assert "matchConditions" not in spec
    [validation] = spec["validations"]
    assert validation["expression"] == (
        "authorizer.group('batch').resource('jobs').namespace(object.metadata.namespace)"
        ".check('create').allowed()"
    )
    assert validation["reason"] == "Forbidden"
    assert "have someone who has it apply this TuningJob" in validation["messageExpression"]


def test_ended_job_warning_warns_on_spec_updates_only() -> None:
    """It never refuses (Warn, and an error lets the request through), judges updates of
    the TuningJob itself (not its status, which the operator writes), and only a spec
    that changed on a job whose old phase is terminal."""
    policy, binding = _plain("ended-tuningjob-warning.yaml")
    assert binding["spec"] == {"policyName": WARNING, "validationActions": ["Warn"]}
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Ignore"
    [rule] = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["tuningjobs"]
    assert rule["operations"] == ["UPDATE"]
    [validation] = spec["validations"]
    assert validation["expression"].endswith("|| object.spec == oldObject.spec")
    phases = str(sorted(p.value for p in TERMINAL_PHASES))
    assert f"!(oldObject.status.phase in {phases})" in validation["expression"]


def test_user_roles_cover_tuningjobs_and_nothing_more() -> None:
    roles = {r["metadata"]["name"]: r for r in _plain("cluster-roles.yaml")}
    assert set(roles) == {"kubetune-view", "kubetune-edit"}
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k in roles["kubetune-view"]["metadata"]["labels"]} == {
        aggregate + "view",
        aggregate + "edit",
        aggregate + "admin",
    }
    assert {k for k in roles["kubetune-edit"]["metadata"]["labels"]} == {
        aggregate + "edit",
        aggregate + "admin",
    }
    for role in roles.values():
        for rule in role["rules"]:
            assert rule["apiGroups"] == ["kubetune.io"]
            assert rule["resources"] == ["tuningjobs"], "no status: the operator's alone"
    [view] = roles["kubetune-view"]["rules"]
    assert view["verbs"] == ["get", "list", "watch"]


def test_chart_crds_folder_holds_crds_only() -> None:
    for path in sorted((CHART / "crds").glob("*")):
        kinds = {o["kind"] for o in yaml.safe_load_all(path.read_text()) if o}
        assert kinds == {"CustomResourceDefinition"}, f"{path.name}: {kinds}"


def test_policy_and_roles_can_be_turned_off(render: Callable[..., Render]) -> None:
    no_policy = render("admissionPolicy.enabled=false")
    [(policy, binding)] = zip(
        no_policy.of_kind("ValidatingAdmissionPolicy"),
        no_policy.of_kind("ValidatingAdmissionPolicyBinding"),
        strict=True,
    )
    assert policy["metadata"]["name"] == binding["metadata"]["name"] == WARNING
    no_warning = render("admissionPolicy.enabled=false", "endedJobWarning.enabled=false")
    assert not no_warning.of_kind("ValidatingAdmissionPolicy")
    assert not no_warning.of_kind("ValidatingAdmissionPolicyBinding")
    assert len(no_policy.of_kind("ClusterRole")) == 3
    no_roles = render("userRoles.create=false")
    assert [r["metadata"]["name"] for r in no_roles.of_kind("ClusterRole")] == ["kubetune"]
    assert len(no_roles.of_kind("ValidatingAdmissionPolicy")) == 2


def test_names_follow_the_release(render: Callable[..., Render]) -> None:
    rendered = render("fullnameOverride=acme", "admissionPolicy.validationActions={Warn,Audit}")
    policy = _named(rendered, "ValidatingAdmissionPolicy", "acme-tuningjob-needs-job-create")
    binding = _named(rendered, "ValidatingAdmissionPolicyBinding", policy["metadata"]["name"])
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    warning = _named(rendered, "ValidatingAdmissionPolicyBinding", "acme-ended-tuningjob-warning")
    assert warning["spec"]["policyName"] == "acme-ended-tuningjob-warning"
    names = {r["metadata"]["name"] for r in rendered.of_kind("ClusterRole")}
    assert names == {"acme", "acme-view", "acme-edit"}


def test_namespaced_mode_still_guards_every_namespace(render: Callable[..., Render]) -> None:
    for binding in render("watchNamespaces={team-a}").of_kind("ValidatingAdmissionPolicyBinding"):
        assert "matchResources" not in binding["spec"]


def test_policy_name_is_the_documented_one() -> None:
    assert _plain("admission-policy.yaml")[0]["metadata"]["name"] == POLICY
    assert POLICY in Path(ROOT / "README.md").read_text()
