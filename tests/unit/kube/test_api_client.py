"""The operator's API client names itself: its User-Agent, and the field manager of the
trial Jobs it creates and of the status it writes (managedFields, audit logs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.config import kube_config
from kubetune.operator.kube import Kube, load_credentials
from kubetune.operator.kube.api_client import user_agent

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


class _Response:
    """An HTTP response as the client's REST layer returns it, and the urllib3 response in
    it (what a call with `_preload_content=False` returns)."""

    status = 200
    data = json.dumps({"metadata": {"name": "tj"}}).encode()

    @property
    def response(self) -> _Response:
        return self

    def drain_conn(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """The requests the client built from the credentials of a kubeconfig, never sent."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in a pod
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG)
    # The client reads KUBECONFIG once, when imported.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    requests: list[dict[str, Any]] = []

    def request(method: str, url: str, headers: dict[str, str], **_: Any) -> _Response:
        requests.append({"method": method, "url": url, "headers": headers})
        return _Response()

    monkeypatch.setattr(
        client.rest.RESTClientObject, "request", lambda _, *a, **k: request(*a, **k)
    )
    return requests


def test_the_user_agent_names_the_operator_and_its_version() -> None:
    name, version = user_agent().split("/")
    assert name == "kubetune-operator" and version


def test_job_creation_and_status_writes_name_kubetune_as_their_field_manager(
    sent: list[dict[str, Any]],
) -> None:
    kube = Kube(load_credentials())
    kube.create_job("ns", {"metadata": {"name": "tj-001"}})
    kube.patch_status("ns", "tj", "7", {"phase": "InProgress"})

    create, patch = sent
    assert (create["method"], patch["method"]) == ("POST", "PATCH")
    for request in sent:
        assert "fieldManager=kubetune-operator" in request["url"]
        assert request["headers"]["User-Agent"] == user_agent()
