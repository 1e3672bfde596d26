"""What the tests that run the chart's operator share (tests/e2e/test_helm_install.py,
test_operator_container.py, test_namespaced_operator.py, test_real_node.py): helm, a
ServiceAccount's token, free ports for the operator's endpoints, plain HTTP GETs of them,
and the clean-up after an operator is gone."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

from support.local_cluster import Cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubetune"
DEFAULT_HELM = Path.home() / ".cache" / "kubetune" / "helm-v4.3.1" / "helm"


def helm_binary() -> str:
    """$KUBETUNE_HELM (exported by the Makefile), else the cached helm of the pinned version."""
    return os.environ.get("KUBETUNE_HELM", str(DEFAULT_HELM))


def service_account_token(cluster: Cluster, namespace: str, account: str) -> str:
    """A token for the account, from the TokenRequest API, valid for an hour."""
    return cluster.run_kubectl(
        "create", "token", account, "-n", namespace, "--duration=3600s"
    ).stdout.strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for an operator on the host)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str) -> str | None:
    """The body of ``url`` when it answers 200, else None (also when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: str = response.read().decode()
            return body if response.status == 200 else None
    except OSError:
        return None


def drop_tuning_job_finalizers(cluster: Cluster, namespace: str) -> None:
    """With the operator gone nothing removes its finalizer from the TuningJobs left
    behind; drops it so that the test namespace can be deleted."""
    tuning_jobs = cluster.run_kubectl("get", "tuningjobs", "-n", namespace, "-o", "name")
    for tj in tuning_jobs.stdout.split():
        cluster.run_kubectl(
            "patch", tj, "-n", namespace, "--type=merge",
            "-p", '{"metadata": {"finalizers": null}}',
        )  # fmt: skip
