"""`Kube.delete_job` against the API server: it deletes a Job only when the TuningJob whose
UID it is given owns it (QA99 H2: a failed job's end deleted, by name, a user's own Job
named like a trial). ConfigMaps stand in for TuningJobs as owners: the garbage collector
keeps a Job whose owner exists, and `delete_job` looks at the owner's UID only."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubetune.operator.kube.api_client import Kube

pytestmark = pytest.mark.cluster


def _owner(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any]:
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": created.metadata.uid}


def _job(batch: client.BatchV1Api, namespace: str, name: str, *owners: dict[str, Any]) -> str:
    """A suspended Job (it never runs) owned by `owners`; its UID."""
    body = {
        "metadata": {"name": name, "ownerReferences": list(owners)},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                }
            },
        },
    }
    return str(batch.create_namespaced_job(namespace, body).metadata.uid)


def _there(batch: client.BatchV1Api, namespace: str, name: str) -> bool:
    """Whether the Job `name` exists and is not being deleted."""
    items = batch.list_namespaced_job(namespace, field_selector=f"metadata.name={name}").items
    return bool(items) and items[0].metadata.deletion_timestamp is None


def test_only_a_job_the_tuning_job_owns_is_deleted(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    ours, theirs = _owner(core, namespace, "ours"), _owner(core, namespace, "theirs")
    _job(batch, namespace, "tj-001", ours)
    _job(batch, namespace, "tj-002")  # a user's own, owned by nothing
    _job(batch, namespace, "tj-003", theirs)  # another TuningJob's
    _job(batch, namespace, "tj-004", theirs, ours)  # ours among others'
    kube = Kube(kube_api)
    for name in ("tj-001", "tj-002", "tj-003", "tj-004", "tj-005"):  # tj-005: none
        kube.delete_job(namespace, name, ours["uid"])
    assert not _there(batch, namespace, "tj-001")
    assert _there(batch, namespace, "tj-002")
    assert _there(batch, namespace, "tj-003")
    assert not _there(batch, namespace, "tj-004")


def test_a_job_replaced_between_the_read_and_the_delete_is_not_deleted(
    kube_api: client.ApiClient, namespace: str
) -> None:
    """The deletion is conditional on the UID read: the user's Job that took the name
    since (HTTP 409, precondition failed) stays."""
    core, batch = client.CoreV1Api(kube_api), client.BatchV1Api(kube_api)
    ours = _owner(core, namespace, "ours")
    read = _job(batch, namespace, "tj-001", ours)
    kube = Kube(kube_api)
    batch.delete_namespaced_job("tj-001", namespace, propagation_policy="Background")
    _job(batch, namespace, "tj-001")  # a user's, under the same name
    assert kube._delete_job_uid(namespace, "tj-001", read) is False
    assert _there(batch, namespace, "tj-001")
