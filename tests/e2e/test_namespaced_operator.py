"""The operator under the chart's namespaced RBAC (`watchNamespaces`), as its
ServiceAccount: a process with the account's token, where test_operator_container.py runs
the image. It serves the namespace it is given at once, never asking for the namespaces
the chart does not let it see."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml
from support.chart_release import (
    CHART,
    drop_tuning_job_finalizers,
    helm_binary,
    service_account_token,
)
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for


def namespaced_rbac(namespace: str) -> str:
    """The chart's ServiceAccount and RBAC, watching only `namespace`."""
    return subprocess.run(
        [helm_binary(), "template", f"kt-{uuid.uuid4().hex[:6]}", str(CHART),
         "--namespace", namespace, "--set", f"watchNamespaces={{{namespace}}}",
         "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip


def service_account_kubeconfig(cluster: Any, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig holding only the account's token (from the TokenRequest API)."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    token = service_account_token(cluster, namespace, account)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "local", "user": account}}],
                "current-context": "sa",
            }
        )
    )
    return path


def test_the_namespaced_operator_serves_its_namespace_without_listing_namespaces(
    cluster: Any, crds: None, namespace: str, api: Api, tmp_path: Path
) -> None:
    rbac = namespaced_rbac(namespace)
    cluster.run_kubectl("apply", "-f", "-", stdin=rbac)
    [account] = [o for o in yaml.safe_load_all(rbac) if o and o["kind"] == "ServiceAccount"]
    kubeconfig = service_account_kubeconfig(
        cluster, namespace, account["metadata"]["name"], tmp_path / "kubeconfig"
    )
    # A second namespace it may not watch (not created yet, so no Role): left out with
    # an error, instead of kopf ending the operator after 9 refused watches.
    missing = f"kubetune-missing-{uuid.uuid4().hex[:6]}"
    operator = OperatorProcess(kubeconfig, [namespace, missing], tmp_path)
    api.create(tuning_job("namespaced", max_trials=2, parallel=2))
    operator.start()
    try:
        status = wait_for(
            "namespaced to finish",
            lambda: api.terminal("namespaced"),
            timeout=120,
            operator=operator,
        )
        assert status["phase"] == "Completed" and len(status["trials"]) == 2, status
        log = operator.log_tail(100_000)
        # kopf asked for nothing it may not have: no refused request, retried or not.
        assert "Not enough permissions" not in log and "Request attempt" not in log, log
        assert f"namespace {missing}: not served: this operator may not list tuningjobs" in log
    finally:
        operator.stop()
        drop_tuning_job_finalizers(cluster, namespace)
        cluster.run_kubectl("delete", "-f", "-", "--wait=false", stdin=rbac, check=False)
