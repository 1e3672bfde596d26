"""The chart's RBAC grants exactly what the operator's code uses: every Kubernetes client
call in operator/kube/api_client.py and every resource kopf watches for
operator/runtime/handlers.py; and, in the release's namespace, the heartbeat Lease's calls
in operator/kube/heartbeat.py.

A new API call in the operator without a matching rule (or a rule the operator no longer
needs) fails here, not at 3 a.m. in someone's cluster.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

from kubetune.operator import api as models
from support.chart_render import ROOT, Render

OPERATOR = ROOT / "operator"
Grants = dict[tuple[str, str], set[str]]

# Client method verb -> RBAC verb.
_VERBS = {
    "read": "get",
    "get": "get",
    "list": "list",
    "create": "create",
    "delete": "delete",
    "patch": "patch",
    "replace": "update",
}
# kubernetes-client method suffix -> (apiGroup, resource). The only custom objects the
# operator touches are TuningJobs.
_RESOURCES = {
    "custom_object": (models.GROUP, models.PLURAL),
    "custom_object_status": (models.GROUP, f"{models.PLURAL}/status"),
    "job": ("batch", "jobs"),
    "job_status": ("batch", "jobs/status"),
    "pod": ("", "pods"),
    "pod_log": ("", "pods/log"),
    "pod_status": ("", "pods/status"),
    "event": ("", "events"),
    "lease": ("coordination.k8s.io", "leases"),
}
_METHOD = re.compile(
    r"^(?P<verb>[a-z]+)_(?:namespaced_|cluster_)?(?P<resource>[a-z_]+?)(?:_for_all_namespaces)?$"
)


def _add(grants: Grants, key: tuple[str, str], *verbs: str) -> None:
    grants.setdefault(key, set()).update(verbs)


# A request the operator builds itself (`ApiClient.param_serialize`): its HTTP method and
# path, e.g. POST /apis/batch/v1/namespaces/{namespace}/jobs.
_HTTP_VERBS = {"POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}
_PATH = re.compile(
    r"^/apis?/(?:(?P<group>[^/]+)/)?v[^/]*/namespaces/\{namespace\}/(?P<resource>[a-z]+)$"
)


def _raw_request(node: ast.Call) -> tuple[tuple[str, str], str]:
    """((group, resource), verb) of a `param_serialize(method=..., resource_path=...)`."""
    words = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
    match = _PATH.match(str(words.get("resource_path")))
    assert match and words.get("method") in _HTTP_VERBS, f"unrecognised request {words}"
    return (match["group"] or "", match["resource"]), _HTTP_VERBS[str(words["method"])]


def client_calls(path: Path) -> Grants:
    """(group, resource) -> verbs for every `self.<api>.<method>(...)` call in `path`, and
    every request built with `param_serialize`."""
    grants: Grants = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr == "param_serialize":
            resource, verb = _raw_request(node)
            _add(grants, resource, verb)
            continue
        owner = node.func.value
        name = getattr(owner, "attr", getattr(owner, "id", None))
        if name not in {"custom", "batch", "core", "coordination"}:
            continue
        match = _METHOD.match(node.func.attr)
        assert match, f"unrecognised client call {node.func.attr} in {path.name}"
        assert match["resource"] in _RESOURCES, f"map {node.func.attr} to a resource here"
        _add(grants, _RESOURCES[match["resource"]], _VERBS[match["verb"]])
    return grants


def kopf_watches(path: Path) -> Grants:
    """(group, resource) -> verbs kopf needs for the handlers declared in `path`."""
    grants: Grants = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            name = ast.unparse(decorator.func)
            args = [
                getattr(models, a.id) if isinstance(a, ast.Name) else ast.literal_eval(a)
                for a in decorator.args
            ]
            if name in {"kopf.on.event", "kopf.daemon", "kopf.timer"} or (
                name.startswith("kopf.on.") and args
            ):
                group, resource = ("", args[1]) if args[0] == "v1" else (args[0], args[2])
                _add(grants, (group, resource), "list", "watch")
                if name != "kopf.on.event":
                    # Daemons, timers and change handlers: kopf's finalizer and progress
                    # annotations are patched onto the object.
                    _add(grants, (group, resource), "patch")
    return grants


def expected_grants() -> Grants:
    grants = client_calls(OPERATOR / "kube" / "api_client.py")
    for key, verbs in kopf_watches(OPERATOR / "runtime" / "handlers.py").items():
        _add(grants, key, *verbs)
    # kopf itself: handler errors as core/v1 Events, and CRD observation (cluster-wide).
    _add(grants, ("", "events"), "create")
    _add(grants, ("apiextensions.k8s.io", "customresourcedefinitions"), "list", "watch")
    # Trial Jobs are owned with blockOwnerDeletion: update on the owner's finalizers.
    _add(grants, (models.GROUP, f"{models.PLURAL}/finalizers"), "update")
    return grants


def heartbeat_grants() -> Grants:
    """What the heartbeat needs, in the release's namespace only."""
    return client_calls(OPERATOR / "kube" / "heartbeat.py")


def _granted(render: Render, kind: str, namespace: str | None = None) -> Grants:
    """What the `kind` roles bound to the operator grant (not the users' kubetune-view/-edit),
    those in `namespace` only when given."""
    bound = {binding["roleRef"]["name"] for binding in render.of_kind(f"{kind}Binding")}
    grants: Grants = {}
    for role in render.of_kind(kind):
        if role["metadata"]["name"] not in bound:
            continue
        if namespace is not None and role["metadata"].get("namespace") != namespace:
            continue
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    _add(grants, (group, resource), *rule["verbs"])
    return grants


def test_the_scanner_sees_the_operator_calls() -> None:
    calls = client_calls(OPERATOR / "kube" / "api_client.py")
    assert calls[("batch", "jobs")] >= {"create"}
    assert calls[("", "pods/log")] == {"get"}
    watches = kopf_watches(OPERATOR / "runtime" / "handlers.py")
    assert watches[(models.GROUP, models.PLURAL)] >= {"list", "watch", "patch"}
    assert heartbeat_grants() == {("coordination.k8s.io", "leases"): {"create", "patch"}}


def test_cluster_role_grants_exactly_what_the_operator_uses(
    render: Callable[..., Render],
) -> None:
    rendered = render()
    assert _granted(rendered, "ClusterRole") == expected_grants()
    assert _granted(rendered, "Role") == heartbeat_grants()


def test_heartbeat_role_is_in_the_release_namespace_limited_to_its_lease(
    render: Callable[..., Render],
) -> None:
    """The Lease is patched by name only: the operator cannot touch other Leases (leader
    elections, node heartbeats) in its namespace."""
    for rendered in (render(), render("watchNamespaces={team-a}")):
        roles = [
            r for r in rendered.of_kind("Role") if r["metadata"]["name"].endswith("-heartbeat")
        ]
        assert len(roles) == 1
        (role,) = roles
        deployment = rendered.of_kind("Deployment")[0]
        assert role["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        lease = deployment["metadata"]["name"]
        assert (
            f"--heartbeat-lease={lease}"
            in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        )
        by_verb = {
            verb: rule.get("resourceNames") for rule in role["rules"] for verb in rule["verbs"]
        }
        assert by_verb == {"create": None, "patch": [lease]}


def test_namespaced_roles_grant_exactly_what_the_operator_uses(
    render: Callable[..., Render],
) -> None:
    """Given namespaces by name, the operator turns kopf's cluster scanning off
    (`Runtime.exact_namespaces`): no CRD observation, nothing cluster-wide."""
    rendered = render("watchNamespaces={team-a}")
    crd_observation = ("apiextensions.k8s.io", "customresourcedefinitions")
    expected = {k: v for k, v in expected_grants().items() if k != crd_observation}
    assert _granted(rendered, "Role", "team-a") == expected
    assert _granted(rendered, "Role") == {**expected, **heartbeat_grants()}
    assert _granted(rendered, "ClusterRole") == {}
