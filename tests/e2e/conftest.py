"""Fixtures shared by the operator's end-to-end tests: the CRDs, a real operator process
watching the test's namespace, and a small API wrapper for that namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.operator_harness import Api, OperatorProcess, install_crds, run_operator


@pytest.fixture(scope="module")
def crds(cluster: Any) -> None:
    install_crds(cluster.kubectl, cluster.kubeconfig)


@pytest.fixture
def operator(
    crds: None, kubeconfig_path: Path, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    yield from run_operator(kubeconfig_path, [namespace], tmp_path)


@pytest.fixture
def api(kube_api: client.ApiClient, namespace: str) -> Api:
    return Api(kube_api, namespace)
