"""The operator's heartbeat Lease and what `kubetune` says with it, against the real local
cluster, the real operator process and the installed `kubetune` command: while the
operator runs it says nothing; killed, once its Lease has gone stale, `describe`, `trials`
and `list` say that no operator serves the namespace, and the running trials' durations
stop growing; a user who may not read Leases is told nothing; a TuningJob deleted while
the operator is away is shown being deleted, and goes once the operator is back.

The operator renews every second here (`--heartbeat-seconds 1`: stale after 4 s), its
Lease in the test's namespace ($POD_NAMESPACE), which goes with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster.operator_process import OperatorProcess
from kubernetes import client
from support.operator_harness import Api, tuning_job, wait_for

KUBETUNE = Path(sys.executable).with_name("kubetune")
LEASE = "heartbeat-test"
SEEN = "has been seen for"
"""What `kubetune` says once the operator's Lease is stale."""


def kubetune(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBETUNE), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def operator(
    crds: None,
    kubeconfig_path: Path,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[OperatorProcess]:
    monkeypatch.setenv("POD_NAMESPACE", namespace)  # where its Lease goes
    process = OperatorProcess(
        kubeconfig_path,
        [namespace],
        tmp_path / "operator.log",
        extra_args=["--heartbeat-seconds", "1", "--heartbeat-lease", LEASE],
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
        print(f"operator log tail:\n{process.log_tail()}")


def _running_job(api: Api, operator: OperatorProcess, name: str) -> None:
    """A TuningJob with a trial that runs for minutes, recorded Running."""
    api.create(
        tuning_job(name, max_trials=2, parallel=1, static={"mode": "sleep", "seconds": "600"})
    )
    wait_for(
        f"{name}'s first trial to be recorded Running",
        lambda: any(t.get("phase") == "Running" for t in api.status(name).get("trials") or []),
        timeout=120,
        operator=operator,
    )


def _lease(kube_api: client.ApiClient, namespace: str) -> Any:
    return client.CoordinationV1Api(kube_api).read_namespaced_lease(LEASE, namespace)


def _describe(kubeconfig: Path, namespace: str, name: str) -> str:
    result = kubetune(kubeconfig, "-n", namespace, "describe", name)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_says_when_no_operator_serves_the_namespace(
    operator: OperatorProcess,
    api: Api,
    kube_api: client.ApiClient,
    kubeconfig_path: Path,
    namespace: str,
    tmp_path: Path,
) -> None:
    _running_job(api, operator, "beat")
    lease = _lease(kube_api, namespace)
    assert lease.metadata.labels == {"kubetune.io/operator-heartbeat": "true"}
    assert json.loads(lease.metadata.annotations["kubetune.io/namespaces"]) == [namespace]
    assert lease.spec.lease_duration_seconds == 4
    # Served: nothing said.
    described = _describe(kubeconfig_path, namespace, "beat")
    assert "Operator:" not in described, described
    trials = kubetune(kubeconfig_path, "-n", namespace, "trials", "beat")
    assert trials.returncode == 0 and "Note:" not in trials.stderr, trials.stderr

    operator.kill()
    killed = datetime.now(UTC)
    described = wait_for(
        "describe to say that no operator serves the namespace",
        lambda: SEEN in (text := _describe(kubeconfig_path, namespace, "beat")) and text,
        timeout=30,
    )
    line = next(x for x in described.splitlines() if x.startswith("Operator:"))
    assert f"No kubetune operator serving namespace {namespace} {SEEN}" in line, line
    assert f"heartbeat Lease {namespace}/{LEASE}, last renewed by" in line, line
    assert "kubectl get deploy -A -l app.kubernetes.io/part-of=kubetune" in line, line
    assert "the running trials are as last recorded" in line, line

    trials = kubetune(kubeconfig_path, "-n", namespace, "trials", "beat", "-o", "json")
    assert trials.returncode == 0, trials.stderr
    assert f"Note: no kubetune operator serving namespace {namespace} {SEEN}" in trials.stderr
    # The running trial's duration is counted to the last heartbeat, before the kill: it
    # does not grow while nobody records the trial's end.
    running = next(t for t in json.loads(trials.stdout) if t["phase"] == "Running")
    start = datetime.fromisoformat(running["start"].replace("Z", "+00:00"))
    assert start + timedelta(seconds=running["durationSeconds"]) <= killed

    listed = kubetune(kubeconfig_path, "-n", namespace, "list")
    assert listed.returncode == 0 and "Note (beat): no kubetune operator" in listed.stderr

    # A user who may read TuningJobs but not Leases is told nothing, and not refused.
    reader = _tuning_job_reader(kube_api, kubeconfig_path, namespace, tmp_path)
    as_reader = wait_for(
        "the reader's Role to take effect",
        lambda: (r := kubetune(reader, "-n", namespace, "describe", "beat")).returncode == 0 and r,
        timeout=30,
    )
    assert "Operator:" not in as_reader.stdout and "Phase:      InProgress" in as_reader.stdout

    # Back: put right.
    operator.start()
    wait_for(
        "describe to say nothing of the operator again",
        lambda: "Operator:" not in _describe(kubeconfig_path, namespace, "beat"),
        timeout=60,
        operator=operator,
    )
    api.delete("beat")
    wait_for("beat to go", lambda: api.get("beat") is None, timeout=60, operator=operator)


def test_tuning_job_deleted_while_the_operator_is_away_is_shown_being_deleted(
    operator: OperatorProcess, api: Api, kubeconfig_path: Path, namespace: str
) -> None:
    _running_job(api, operator, "going")
    body = api.get("going")
    assert body is not None and "kubetune.io/finalizer" in body["metadata"]["finalizers"]
    operator.stop()  # SIGTERM: a clean stop
    api.delete("going")

    described = _describe(kubeconfig_path, namespace, "going")
    assert (
        "Deleting:   for " in described
        and "waiting for the kubetune operator to remove its finalizer kubetune.io/finalizer"
        in described
    ), described
    trials = kubetune(kubeconfig_path, "-n", namespace, "trials", "going")
    assert trials.returncode == 0 and 'TuningJob "going" is being deleted for ' in trials.stderr
    listed = kubetune(kubeconfig_path, "-n", namespace, "list")
    assert 'TuningJob "going" is being deleted for ' in listed.stderr, listed.stderr

    operator.start()
    wait_for("going to be deleted", lambda: api.get("going") is None, timeout=60, operator=operator)


def _tuning_job_reader(
    kube_api: client.ApiClient, kubeconfig: Path, namespace: str, tmp_path: Path
) -> Path:
    """A kubeconfig for a ServiceAccount that may get and list TuningJobs in `namespace`,
    nothing else."""
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    )
    rbac = client.RbacAuthorizationV1Api(kube_api)
    rule = {"apiGroups": ["kubetune.io"], "resources": ["tuningjobs"], "verbs": ["get", "list"]}
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "reader"}, "rules": [rule]})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"] = [{"name": "reader", "user": {"token": token.status.token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "reader"
    path = tmp_path / "reader.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path
