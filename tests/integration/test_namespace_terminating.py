"""The API server's refusal to create in a namespace being deleted, as the operator meets
it when a TuningJob's namespace is deleted under it: a 403 that the operator must tell
from a missing RBAC grant (`handlers.namespace_terminating`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubetune.operator.runtime.handlers import failure_cause, namespace_terminating
from support.waiting import wait_for

pytestmark = pytest.mark.cluster

HOLD = "kubetune.io/test-hold"
"""A finalizer on a ConfigMap that keeps its namespace Terminating until removed."""


@pytest.fixture
def terminating(kube_api: client.ApiClient, namespace: str) -> Iterator[str]:
    """`namespace`, deleted and held Terminating by a ConfigMap's finalizer; let go after."""
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "hold", "finalizers": [HOLD]}}
    )
    core.delete_namespace(namespace)
    try:
        yield namespace
    finally:
        core.patch_namespaced_config_map("hold", namespace, {"metadata": {"finalizers": None}})


def test_a_creation_refused_in_a_terminating_namespace_is_recognised(
    kube_api: client.ApiClient, terminating: str
) -> None:
    batch = client.BatchV1Api(kube_api)
    job = {
        "metadata": {"name": "trial-001"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "trial", "image": "busybox"}],
                }
            }
        },
    }

    def refused() -> ApiException | None:
        # The admission plugin learns of the deletion from its informer: a moment later.
        try:
            created = batch.create_namespaced_job(terminating, job)
        except ApiException as error:
            return error
        batch.delete_namespaced_job(created.metadata.name, terminating)
        return None

    error = wait_for(refused, timeout=30, what=f"a creation refused in {terminating}")
    assert error.status == 403
    assert namespace_terminating(error)
    assert failure_cause(error, "https://127.0.0.1:6443") == (
        f'HTTP 403 Forbidden: jobs.batch "trial-001" is forbidden: unable to create new '
        f"content in namespace {terminating} because it is being terminated"
    )


def test_a_refusal_by_rbac_is_not_taken_for_one(kube_api: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    with pytest.raises(ApiException) as raised:
        batch.list_namespaced_job(
            namespace,
            _preload_content=False,
            _request_timeout=10,
            _headers={"Impersonate-User": "nobody"},
        )
    assert raised.value.status == 403
    assert not namespace_terminating(raised.value)
