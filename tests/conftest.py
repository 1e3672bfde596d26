"""Session fixtures for tests against the local Kubernetes control plane (hack/cluster).

- Tests under tests/integration/ and tests/e2e/ are marked ``cluster`` automatically and
  get a running cluster; no other test starts one (``pytest -m 'not cluster'`` never
  does).
- ``cluster``: reuses a cluster that answers at .cluster/kubeconfig (e.g. from
  ``make cluster-up``; left running), otherwise starts one for the session and stops it at
  the end.
- ``kubeconfig_path`` (admin), ``kube_api`` (an admin ``kubernetes.client.ApiClient``),
  ``namespace`` (a fresh namespace per test, with its ``default`` ServiceAccount; deleted
  afterwards).
- Waiting for a condition: ``from support.waiting import wait_for``; the ``cluster``
  fixture's value, with a ``run_kubectl(...)`` method: ``support.local_cluster``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from support.local_cluster import Cluster
from support.waiting import wait_for

REPO = Path(__file__).resolve().parent.parent
CLUSTER_TEST_DIRS = (REPO / "tests" / "integration", REPO / "tests" / "e2e")
TRAINER_TEST_DIR = REPO / "tests" / "trainer"
START_TIMEOUT_S = 120


def _state_dir() -> Path:
    return Path(os.environ.get("KUBETUNE_CLUSTER_DIR", REPO / ".cluster")).resolve()


def _cluster_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m cluster <args>`` with hack/ (never the repository root) on sys.path."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "hack"), "PYTHONSAFEPATH": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cluster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S + 30,
        check=False,
    )


def _kube_bin() -> Path:
    """$KUBETUNE_KUBE_BIN (exported by the Makefile) or the cache dir of the pinned version."""
    if os.environ.get("KUBETUNE_KUBE_BIN"):
        return Path(os.environ["KUBETUNE_KUBE_BIN"])
    for line in (REPO / "Makefile").read_text().splitlines():
        if line.startswith("KUBE_VERSION"):
            version = line.split("=", 1)[1].strip()
            return Path.home() / ".cache" / "kubetune" / f"kube-{version}"
    raise RuntimeError("KUBE_VERSION not found in the Makefile; set KUBETUNE_KUBE_BIN")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the tiers (see the Makefile's test targets): every test under
    tests/integration/ and tests/e2e/ ``cluster``, under tests/trainer/ ``trainer``, and
    every test that uses the ``helm`` fixture ``helm``."""
    for item in items:
        path = Path(str(item.path)).resolve()
        if any(path.is_relative_to(d) for d in CLUSTER_TEST_DIRS):
            item.add_marker(pytest.mark.cluster)
        if path.is_relative_to(TRAINER_TEST_DIR):
            item.add_marker(pytest.mark.trainer)
        if "helm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.helm)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local cluster for the session: reused if one answers, else started (and stopped
    at the end of the session)."""
    state = _state_dir()
    # `up` reuses a cluster that answers (and says so); it holds a lock while it decides,
    # so two sessions starting at once share one cluster.
    done = _cluster_command("up")
    if done.returncode != 0:
        pytest.fail(
            f"could not start the local cluster (logs in {state}):\n{done.stdout}{done.stderr}",
            pytrace=False,
        )
    started_here = "already running" not in done.stdout
    sys.stderr.write(done.stdout)
    try:
        yield Cluster(state / "kubeconfig", state, _kube_bin() / "kubectl", started_here)
    finally:
        if started_here:
            _cluster_command("down")


@pytest.fixture(autouse=True)
def _cluster_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """Tests marked ``cluster`` get one even if they ask for no cluster fixture."""
    if request.node.get_closest_marker("cluster") is not None:
        request.getfixturevalue("cluster")


@pytest.fixture(scope="session")
def kubeconfig_path(cluster: Cluster) -> Path:
    """The admin kubeconfig of the local cluster."""
    return cluster.kubeconfig


@pytest.fixture(scope="session")
def kube_api(cluster: Cluster) -> Iterator[client.ApiClient]:
    """An ApiClient authenticated as the cluster admin (system:masters)."""
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(kube_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, ready for pods (its ``default`` ServiceAccount
    exists); deleted afterwards without waiting."""
    core = client.CoreV1Api(kube_api)
    stem = request.node.name.lower().replace("_", "-")
    stem = "".join(c for c in stem if c.isalnum() or c == "-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"kubetune.io/test": "true"}}})

    def service_account() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    wait_for(service_account, timeout=30, what=f"ServiceAccount {name}/default")
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as e:
            if e.status != 404:
                raise
