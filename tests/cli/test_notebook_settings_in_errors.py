"""The notebook API's errors name the kubeconfig and context as Python gives them
(`kubeconfig=`, `context=`), the CLI's as its flags (QA76 L5: the notebook was told to
"pass --kubeconfig FILE")."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubetune.analytics import TuningJobAnalytics, UnreachableError
from kubetune.analytics.cluster import PYTHON_SETTINGS, KubeClient, Target, connect


@pytest.fixture
def no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / ".kube" / "config"


def test_the_notebook_api_without_a_kubeconfig_says_kubeconfig_equals(
    no_kubeconfig: Path,
) -> None:
    with pytest.raises(UnreachableError) as caught:
        TuningJobAnalytics("digits-cpu")
    assert str(caught.value) == (
        f"no kubeconfig at {no_kubeconfig}: pass kubeconfig='PATH' or set KUBECONFIG to the "
        "file that reaches your cluster."
    )


def test_the_cli_without_a_kubeconfig_still_says_its_flag(no_kubeconfig: Path) -> None:
    with pytest.raises(UnreachableError, match="pass --kubeconfig FILE or set KUBECONFIG"):
        connect()


def test_an_unreachable_server_names_the_python_arguments() -> None:
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:1"  # nothing listens on port 1
    configuration.retries = False
    kube = KubeClient(client.ApiClient(configuration), "default", PYTHON_SETTINGS)
    with pytest.raises(UnreachableError) as caught:
        kube.call(
            Target("get", "pods", "default"),
            client.CoreV1Api(kube.api).list_namespaced_pod,
            "default",
        )
    assert str(caught.value).endswith("is this the right kubeconfig= / context=?")
