"""Writing the operator's heartbeat Lease (its format: `kubetune.operator.api.heartbeat`)."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubetune.operator.kube.api_client import COMPONENT, REQUEST_TIMEOUT, _release


def renew_lease(api: client.ApiClient, lease: dict[str, Any]) -> None:
    """Write `lease` (a whole heartbeat Lease, `heartbeat.lease_body`): merge-patched onto
    the existing one, created when there is none. No resourceVersion precondition: replicas
    that serve the same namespaces share the Lease, and the last renewal wins. Raises the
    API's errors (403 when RBAC grants no `patch`/`create` on leases in its namespace)."""
    coordination = client.CoordinationV1Api(api)
    meta = lease["metadata"]
    for _ in range(2):  # created by another replica between the two calls: patch again
        try:
            response = coordination.patch_namespaced_lease(
                meta["name"],
                meta["namespace"],
                lease,
                field_manager=COMPONENT,
                _content_type="application/merge-patch+json",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            _release(response)
            return
        except ApiException as error:
            if error.status != 404:
                raise
        try:
            response = coordination.create_namespaced_lease(
                meta["namespace"],
                lease,  # type: ignore[arg-type]  # a dict is sent as it is
                field_manager=COMPONENT,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            _release(response)
            return
        except ApiException as error:
            if error.status != 409:
                raise
