"""What a pod's containers get from the API: ConfigMap/Secret data for their environment,
and a kubeconfig that authenticates as the pod's ServiceAccount.

There is no /var/run/secrets/kubernetes.io/serviceaccount here (pods are local processes),
so the token goes into a per-pod kubeconfig whose path the container gets as KUBECONFIG.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .launch import LaunchError
from .rest import body, json_of

TOKEN_EXPIRATION_S = 24 * 3600


def read_data(
    core: client.CoreV1Api, kind: str, namespace: str, name: str
) -> dict[str, str] | None:
    """A ConfigMap's (``kind`` "configMap") or Secret's (decoded) data; None if missing."""
    try:
        if kind == "configMap":
            config_map = core.read_namespaced_config_map(name, namespace, _preload_content=False)
            data: dict[str, str] = json_of(config_map).get("data") or {}
            return data
        secret = core.read_namespaced_secret(name, namespace, _preload_content=False)
        encoded: dict[str, str] = json_of(secret).get("data") or {}
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in encoded.items()}
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def service_account_kubeconfig(
    core: client.CoreV1Api, pod: dict[str, Any], path: Path, *, server: str, ca_file: Path
) -> Path | None:
    """Writes, at ``path``, a kubeconfig with a token for the pod's ServiceAccount (from the
    TokenRequest API, bound to the pod: it dies with the pod) and returns ``path``; None
    when the pod or its ServiceAccount opts out (automountServiceAccountToken: false).
    Raises LaunchError (CreateContainerConfigError) when the token cannot be had."""
    meta, spec = pod["metadata"], pod["spec"]
    namespace = meta["namespace"]
    account = spec.get("serviceAccountName") or "default"
    automount = spec.get("automountServiceAccountToken")
    try:
        if automount is None:
            found = core.read_namespaced_service_account(account, namespace, _preload_content=False)
            automount = json_of(found).get("automountServiceAccountToken", True)
        if automount is False:
            return None
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": TOKEN_EXPIRATION_S,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        response = core.create_namespaced_service_account_token(
            account, namespace, body(request), _preload_content=False
        )
    except ApiException as e:
        raise LaunchError(
            "CreateContainerConfigError",
            f"token for ServiceAccount {namespace}/{account}: {e.status} {e.reason}: "
            f"{(e.body or '')[:300]}",
        ) from e
    token: str = json_of(response)["status"]["token"]
    user = f"system:serviceaccount:{namespace}:{account}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "in-pod",
                "context": {"cluster": "local", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "in-pod",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path
