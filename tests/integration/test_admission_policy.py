"""No privilege escalation through the operator: the admission policy and the user roles of
manifests/ on the real API server, judged as users and ServiceAccounts of different rights
(impersonated by the admin; the API server authorizes an impersonated request as that user,
and so does the policy's `authorizer`).

- Creating a TuningJob needs create on jobs.batch in its namespace. The trial template and
  the static hyperparameters cannot change after creation (CEL rules of the CRD).
- Raising limits, and the operator's status, finalizer and annotation writes, need nothing
  more than the TuningJob's own RBAC.
- `view`, `edit` and `admin` include TuningJobs through kubetune-view and kubetune-edit.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import GROUP, PLURAL, VERSION
from support.local_cluster import Cluster
from support.waiting import wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
POLICY = "kubetune-tuningjob-needs-job-create"
# The policy's messageExpression ends with the fix, for any user and namespace.
FIX = "ask for create on jobs.batch in {ns}, or have someone who has it apply this TuningJob"

Manifest = dict[str, Any]
Rule = dict[str, list[str]]
TUNINGJOBS = "tuningjobs.kubetune.io"


def rule(group: str, resource: str, *verbs: str) -> Rule:
    return {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}


def tuning_job(name: str) -> Manifest:
    """examples/digits-cpu.yaml, renamed, asking for what only a Job creator may ask for."""
    manifest: Manifest = yaml.safe_load((ROOT / "examples" / "digits-cpu.yaml").read_text())
    manifest["metadata"] = {"name": name}  # no namespace: the request path sets it
    pod = manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]
    pod["hostNetwork"] = True
    pod["containers"][0]["securityContext"] = {"privileged": True}
    return manifest


def message(error: ApiException) -> str:
    text: str = json.loads(error.body)["message"]
    return text


class Identities:
    """Grants rights to users and ServiceAccounts in one namespace, and API clients that act
    as them (the admin's credentials with impersonation headers)."""

    def __init__(self, cluster: Cluster, kube_api: client.ApiClient, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._rbac = client.RbacAuthorizationV1Api(kube_api)
        self._core = client.CoreV1Api(kube_api)
        self._clients: list[client.ApiClient] = []

    def service_account(self, name: str) -> str:
        """Creates the ServiceAccount; returns its username."""
        self._core.create_namespaced_service_account(self.namespace, {"metadata": {"name": name}})
        return f"system:serviceaccount:{self.namespace}:{name}"

    def grant(self, username: str, *rules: Rule) -> None:
        """A Role with `rules` bound to `username` (a user, or a ServiceAccount's username)."""
        name = f"grant-{uuid.uuid4().hex[:8]}"
        self._rbac.create_namespaced_role(
            self.namespace, {"metadata": {"name": name}, "rules": list(rules)}
        )
        self._bind(name, "Role", name, username)

    def bind_cluster_role(self, username: str, cluster_role: str) -> None:
        self._bind(f"{cluster_role}-{uuid.uuid4().hex[:8]}", "ClusterRole", cluster_role, username)

    def _bind(self, name: str, kind: str, role: str, username: str) -> None:
        prefix = f"system:serviceaccount:{self.namespace}:"
        subject = (
            {"kind": "ServiceAccount", "name": username.removeprefix(prefix),
             "namespace": self.namespace}
            if username.startswith(prefix)
            else {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": username}
        )  # fmt: skip
        self._rbac.create_namespaced_role_binding(
            self.namespace,
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [subject],
            },
        )

    def custom_api(self, username: str) -> client.CustomObjectsApi:
        api = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        api.set_default_header("Impersonate-User", username)
        self._clients.append(api)
        return client.CustomObjectsApi(api)

    def batch_api(self, username: str) -> client.BatchV1Api:
        api = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        api.set_default_header("Impersonate-User", username)
        self._clients.append(api)
        return client.BatchV1Api(api)

    def can_i(self, username: str, *args: str) -> bool:
        """`kubectl auth can-i ARGS --as=USERNAME` in the namespace."""
        done = self.cluster.run_kubectl(
            "auth", "can-i", *args, f"--as={username}", "-n", self.namespace, check=False
        )
        answer = done.stdout.strip()
        assert answer in {"yes", "no"}, done.stdout + done.stderr
        return answer == "yes"

    def close(self) -> None:
        for api in self._clients:
            api.close()


def create(api: client.CustomObjectsApi, namespace: str, manifest: Manifest) -> Manifest:
    created: Manifest = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest
    )
    return created


def patch(
    api: client.CustomObjectsApi, namespace: str, name: str, body: Manifest, status: bool = False
) -> Manifest:
    """A JSON merge patch of the TuningJob (or of its status subresource)."""
    method = (
        api.patch_namespaced_custom_object_status if status else api.patch_namespaced_custom_object
    )
    patched: Manifest = method(
        GROUP, VERSION, namespace, PLURAL, name, body,
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    return patched


def refused(call: Callable[[], object], status: int) -> str:
    """The API server's message refusing `call`; fails the test if it succeeds."""
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == status, caught.value.body
    return message(caught.value)


@pytest.fixture(scope="module")
def access_manifests(cluster: Cluster, kube_api: client.ApiClient) -> Iterator[None]:
    """The CRD, then manifests/ (the policy and the user roles), applied and in force;
    the manifests are deleted afterwards (the CRD stays: other tests share it)."""
    cluster.apply_tuningjob_crd()
    cluster.run_kubectl(
        "apply", "--server-side", "--field-manager=kubetune-tests", "-f", str(MANIFESTS)
    )
    try:
        _wait_until_enforced(cluster, kube_api)
        yield
    finally:
        cluster.run_kubectl("delete", "--ignore-not-found", "-f", str(MANIFESTS), check=False)


def _wait_until_enforced(cluster: Cluster, kube_api: client.ApiClient) -> None:
    """The API server loads policies and bindings asynchronously: wait until a TuningJob-only
    user's (dry-run) creation is refused by the policy, in a namespace of its own."""
    namespace = f"kt-policy-probe-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": namespace}})
    identities = Identities(cluster, kube_api, namespace)
    try:
        identities.grant("probe", rule("kubetune.io", "tuningjobs", "create"))
        api = identities.custom_api("probe")

        def refused_by_policy() -> bool:
            try:
                api.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL,
                    tuning_job("probe"), dry_run="All",
                )  # fmt: skip
            except ApiException as e:
                if e.status == 403 and POLICY in message(e):
                    return True
                if e.status != 403:  # RBAC not yet seen refuses with 403 too
                    raise
            return False

        wait_for(refused_by_policy, timeout=60, what=f"ValidatingAdmissionPolicy {POLICY}")
    finally:
        identities.close()
        core.delete_namespace(namespace, propagation_policy="Background")


@pytest.fixture
def identities(
    cluster: Cluster, kube_api: client.ApiClient, namespace: str, access_manifests: None
) -> Iterator[Identities]:
    ids = Identities(cluster, kube_api, namespace)
    try:
        yield ids
    finally:
        ids.close()


@pytest.fixture
def admin(kube_api: client.ApiClient, access_manifests: None) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api)


def test_tuningjob_only_user_is_refused_with_the_fix(
    identities: Identities, admin: client.CustomObjectsApi, namespace: str
) -> None:
    identities.grant("alice", rule("kubetune.io", "tuningjobs", "create", "get", "list"))
    assert identities.can_i("alice", "create", TUNINGJOBS)
    assert not identities.can_i("alice", "create", "jobs.batch")
    assert not identities.can_i("alice", "create", "pods")

    alice = identities.custom_api("alice")
    text = refused(lambda: create(alice, namespace, tuning_job("esc")), 403)
    assert f"ValidatingAdmissionPolicy '{POLICY}'" in text
    assert f"alice may not create jobs.batch in namespace {namespace}" in text
    assert FIX.format(ns=namespace) in text
    # Nothing was stored, so the operator has nothing to run.
    refused(
        lambda: admin.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "esc"),
        404,
    )


def test_job_create_elsewhere_does_not_count(
    identities: Identities, kube_api: client.ApiClient, namespace: str
) -> None:
    other = f"kt-other-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": other}})
    try:
        Identities(identities.cluster, kube_api, other).grant(
            "dave", rule("batch", "jobs", "create")
        )
        identities.grant("dave", rule("kubetune.io", "tuningjobs", "create"))
        dave = identities.custom_api("dave")
        text = refused(lambda: create(dave, namespace, tuning_job("esc")), 403)
        assert f"dave may not create jobs.batch in namespace {namespace}" in text
    finally:
        core.delete_namespace(other, propagation_policy="Background")


def test_job_creator_is_admitted_and_may_name_a_service_account(
    identities: Identities, namespace: str
) -> None:
    """A ServiceAccount that may create Jobs creates the same TuningJob. Its template names
    another ServiceAccount of the namespace: as with a Job, that needs nothing more."""
    bot = identities.service_account("tuning-bot")
    identities.service_account("trainer")
    identities.grant(
        bot, rule("kubetune.io", "tuningjobs", "create", "get"), rule("batch", "jobs", "create")
    )
    manifest = tuning_job("admitted")
    pod = manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]
    pod["serviceAccountName"] = "trainer"

    created = create(identities.custom_api(bot), namespace, manifest)
    stored_pod = created["spec"]["trialTemplate"]["job"]["template"]["spec"]
    assert stored_pod["hostNetwork"] is True
    assert stored_pod["serviceAccountName"] == "trainer"
    # What the TuningJob lets it do, it could do itself: the same Job, created directly.
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "direct"},
        "spec": copy.deepcopy(manifest["spec"]["trialTemplate"]["job"]),
    }
    identities.batch_api(bot).create_namespaced_job(namespace, job, dry_run="All")


def test_updater_may_raise_limits_but_not_change_what_trials_run(
    identities: Identities, admin: client.CustomObjectsApi, namespace: str
) -> None:
    create(admin, namespace, tuning_job("running"))
    identities.grant("carol", rule("kubetune.io", "tuningjobs", "get", "update", "patch"))
    assert not identities.can_i("carol", "create", "jobs.batch")
    carol = identities.custom_api("carol")

    # More trials (and more in parallel) of the admitted template: allowed.
    raised = patch(carol, namespace, "running", {"spec": {"limits": {"maxTrials": 40}}})
    assert raised["spec"]["limits"]["maxTrials"] == 40
    patch(carol, namespace, "running", {"spec": {"suspend": True}})

    # The trial template is immutable for everyone (the CRD's CEL rule) ...
    new_template = {"spec": {"trialTemplate": {"job": {"template": {"spec": {
        "hostPID": True, "containers": [{"name": "trainer", "image": "evil"}]}}}}}}  # fmt: skip
    text = refused(lambda: patch(carol, namespace, "running", new_template), 422)
    assert "spec.trialTemplate is immutable; create a new TuningJob to change it" in text
    # ... and so are the static hyperparameters substituted into it, for everyone, also
    # for whoever may create Jobs (the policy judges creation only).
    static = {"spec": {"staticHyperparameters": {"epochs": "99"}}}
    text = refused(lambda: patch(carol, namespace, "running", static), 422)
    assert "spec.staticHyperparameters is immutable; create a new TuningJob" in text
    refused(
        lambda: patch(carol, namespace, "running", {"spec": {"staticHyperparameters": None}}), 422
    )
    bot = identities.service_account("tuning-bot")
    identities.grant(
        bot, rule("kubetune.io", "tuningjobs", "get", "patch"), rule("batch", "jobs", "create")
    )
    text = refused(lambda: patch(identities.custom_api(bot), namespace, "running", static), 422)
    assert "spec.staticHyperparameters is immutable" in text
    # Stopping the job needs no Job rights: it runs nothing new.
    stopped = patch(carol, namespace, "running", {"spec": {"stop": True}})
    assert stopped["spec"]["stop"] is True and stopped["spec"]["limits"]["maxTrials"] == 40


def test_operator_writes_are_never_judged(
    identities: Identities, admin: client.CustomObjectsApi, namespace: str
) -> None:
    """The operator's writes, by a ServiceAccount that may not create Jobs at all: status,
    the finalizer and an annotation, and the finalizer's removal on deletion."""
    manifest = tuning_job("reconciled")
    create(admin, namespace, manifest)
    writer = identities.service_account("status-writer")
    identities.grant(
        writer,
        rule("kubetune.io", "tuningjobs", "get", "patch"),
        rule("kubetune.io", "tuningjobs/status", "patch"),
    )
    assert not identities.can_i(writer, "create", "jobs.batch")
    api = identities.custom_api(writer)

    status = patch(
        api, namespace, "reconciled",
        {"status": {"phase": "InProgress", "message": "written by the operator's stand-in"}},
        status=True,
    )  # fmt: skip
    assert status["status"]["phase"] == "InProgress"
    marked = patch(
        api, namespace, "reconciled",
        {"metadata": {"finalizers": ["kubetune.io/finalizer"],
                      "annotations": {"kopf.zalando.org/last-handled-configuration": "{}"}}},
    )  # fmt: skip
    assert marked["metadata"]["finalizers"] == ["kubetune.io/finalizer"]

    admin.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "reconciled")
    patch(api, namespace, "reconciled", {"metadata": {"finalizers": None}})
    wait_for(
        lambda: _absent(admin, namespace, "reconciled"),
        timeout=30,
        what="the TuningJob to go once its finalizer is removed",
    )


def _absent(api: client.CustomObjectsApi, namespace: str, name: str) -> bool:
    try:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def test_view_edit_and_admin_include_tuningjobs(identities: Identities, namespace: str) -> None:
    identities.bind_cluster_role("viewer", "view")
    identities.bind_cluster_role("editor", "edit")
    identities.bind_cluster_role("owner", "admin")
    # The controller manager aggregates the rules into view/edit/admin asynchronously.
    for user in ("viewer", "editor", "owner"):
        wait_for(
            lambda: identities.can_i(user, "list", TUNINGJOBS),  # noqa: B023
            timeout=60,
            what=f"{user} to see TuningJobs through the aggregated roles",
            interval=0.5,  # each check runs kubectl
        )
    for verb in ("get", "list", "watch"):
        assert identities.can_i("viewer", verb, TUNINGJOBS)
    for verb in ("create", "update", "patch", "delete"):
        assert not identities.can_i("viewer", verb, TUNINGJOBS)
        assert identities.can_i("editor", verb, TUNINGJOBS)
        assert identities.can_i("owner", verb, TUNINGJOBS)
    # The status is the operator's alone; nothing cluster-wide comes with it.
    for user in ("viewer", "editor", "owner"):
        assert not identities.can_i(user, "patch", TUNINGJOBS, "--subresource=status")
        assert not identities.can_i(user, "list", TUNINGJOBS, "--all-namespaces")
    # `edit` includes Job create, so an editor's TuningJob passes the policy.
    created = create(identities.custom_api("editor"), namespace, tuning_job("edited"))
    assert created["metadata"]["name"] == "edited"
