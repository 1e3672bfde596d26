"""`helm install` of charts/kubetune into the local cluster, with the real operator.

The node agent runs the Deployment's pod (image kubetune/operator) as the real
`kubetune-operator` process with a kubeconfig holding the pod's ServiceAccount token, so
the API server enforces the chart's RBAC exactly as in a real cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.chart_release import (
    CHART,
    drop_tuning_job_finalizers,
    free_port,
    helm_binary,
    http_get,
)
from support.local_cluster import Cluster
from support.operator_harness import objective, tuning_job
from support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KUBE_BIN = Path.home() / ".cache" / "kubetune" / "kube-v1.36.3"
CRD = "tuningjobs.kubetune.io"


def _run(argv: list[str], stdin: str | None = None, timeout: float = 240) -> str:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    kubeconfig: str
    health_port: int
    metrics_port: int

    def helm(self, *args: str, timeout: float = 240) -> str:
        return _run(
            [
                helm_binary(),
                f"--kubeconfig={self.kubeconfig}",
                "--namespace",
                self.namespace,
                *args,
            ],
            timeout=timeout,
        )

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 240) -> str:
        kube_bin = Path(os.environ.get("KUBETUNE_KUBE_BIN", DEFAULT_KUBE_BIN))
        return _run(
            [str(kube_bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", "-n", self.namespace,
             *args],
            stdin=stdin,
            timeout=timeout,
        )  # fmt: skip

    def get(self, *args: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json"))
        return obj

    def exists(self, *args: str) -> bool:
        out = self.kubectl("get", *args, "--ignore-not-found", "-o", "name")
        return bool(out.strip())


@pytest.fixture
def release(cluster: Cluster, namespace: str) -> Iterator[Release]:
    """The chart installed (cluster-wide mode) and its operator pod ready. The release
    name contains the chart name, so every resource is named exactly after the release."""
    # Pods run as local processes on one host: give each install its own ports.
    rel = Release(
        f"kubetune-{uuid.uuid4().hex[:6]}", namespace, str(cluster.kubeconfig),
        health_port=free_port(), metrics_port=free_port(),
    )  # fmt: skip
    rel.helm(
        "install", rel.name, str(CHART),
        "--set", "image.repository=kubetune/operator",
        "--set", f"operator.healthPort={rel.health_port}",
        "--set", f"operator.metricsPort={rel.metrics_port}",
        "--wait", "--timeout=180s",
    )  # fmt: skip
    try:
        yield rel
    finally:
        subprocess.run(
            [helm_binary(),
             f"--kubeconfig={rel.kubeconfig}", "-n", namespace, "uninstall", rel.name,
             "--ignore-not-found", "--wait", "--timeout=120s"],
            capture_output=True, timeout=180, check=False,
        )  # fmt: skip
        drop_tuning_job_finalizers(cluster, namespace)


def _http_get(port: int, path: str) -> str | None:
    return http_get(f"http://127.0.0.1:{port}{path}")


def _operator_pod(rel: Release) -> dict[str, Any]:
    pods = rel.get("pods", "-l", f"app.kubernetes.io/instance={rel.name}")["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


def test_install_tune_uninstall(release: Release) -> None:
    pod = _operator_pod(release)
    assert pod["spec"]["serviceAccountName"] == release.name
    # On by default: the admission policy (the admin applying TuningJobs below may create
    # Jobs, so it admits them) and the user roles.
    policy = f"{release.name}-tuningjob-needs-job-create"
    assert release.exists("validatingadmissionpolicy", policy)
    assert release.exists("validatingadmissionpolicybinding", policy)
    assert release.exists("clusterrole", f"{release.name}-view")
    # In force (loaded by the API server a moment after the install): a user who may create
    # TuningJobs but not Jobs is refused, so the operator gets nothing to run for them.
    # tests/integration/test_admission_policy.py covers the policy in depth.
    release.kubectl(
        "create", "role", "tuningjobs-only", "--verb=create,get", f"--resource={CRD}"
    )  # fmt: skip
    release.kubectl(
        "create", "rolebinding", "tuningjobs-only", "--role=tuningjobs-only", "--user=alice"
    )  # fmt: skip
    escalation = json.dumps(tuning_job("esc", max_trials=1, parallel=1))
    wait_for(
        lambda: policy in _refusal_as(release, "alice", escalation, "--dry-run=server"),
        timeout=60,
        what=f"{policy} to refuse alice's TuningJob",
        interval=0.5,  # each check runs kubectl
    )
    refusal = _refusal_as(release, "alice", escalation)
    assert f"alice may not create jobs.batch in namespace {release.namespace}" in refusal
    assert not release.exists("tuningjob", "esc")
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["containers"][0]["image"] == "kubetune/operator:0.1.0"

    # The node agent runs no probes, so ask the operator's endpoints directly (its pod is a
    # local process): the chart's ports reach the real /healthz and /metrics.
    health = wait_for(
        lambda: _http_get(release.health_port, "/healthz"), timeout=60, what="/healthz"
    )
    assert health is not None
    metrics = _http_get(release.metrics_port, "/metrics")
    assert metrics is not None and "# TYPE" in metrics
    # The heartbeat (what `kubetune` reads, tests/e2e/test_operator_heartbeat.py): the
    # chart's Role lets the operator's ServiceAccount keep its Lease, named after the
    # release, in the release's namespace ($POD_NAMESPACE), renewed by its pod.
    lease = wait_for(
        lambda: release.exists("lease", release.name) and release.get("lease", release.name),
        timeout=60,
        what="the heartbeat Lease",
        interval=0.5,
    )
    assert lease["spec"]["holderIdentity"] == pod["metadata"]["name"]
    assert lease["metadata"]["labels"] == {"kubetune.io/operator-heartbeat": "true"}
    assert lease["metadata"]["annotations"]["kubetune.io/namespaces"] == "[]"  # every one

    # Trials run tests/e2e/fake_trainer.py: instant, loss = (x - 0.3)**2.
    job = tuning_job("helm-e2e", max_trials=3, parallel=2)
    release.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    release.kubectl(
        "wait", "--for=jsonpath={.status.phase}=Completed", "tuningjob/helm-e2e", "--timeout=240s"
    )
    status = release.get("tuningjob", "helm-e2e")["status"]
    trials = status["trials"]
    assert len(trials) == 3
    assert all(t["phase"] == "Succeeded" for t in trials), trials
    # Status semantics, not only "pods ran": each recorded objective is what the trainer
    # computed from the recorded hyperparameters, and the best trial is the minimum.
    for trial in trials:
        x = float(trial["hyperparameters"]["x"])
        assert trial["objective"] == pytest.approx(objective(x)), trial
    assert status["bestTrial"]["objective"] == pytest.approx(min(t["objective"] for t in trials))
    # The trial Jobs were created by the operator pod and are owned by the TuningJob.
    jobs = release.get("jobs", "-l", "kubetune.io/tuning-job=helm-e2e")["items"]
    assert len(jobs) == 3
    assert all(j["metadata"]["ownerReferences"][0]["kind"] == "TuningJob" for j in jobs)

    # Upgrade (as the README says): the Recreate strategy replaces the operator pod, and
    # the finished TuningJob stays finished.
    release.helm(
        "upgrade", release.name, str(CHART), "--reset-then-reuse-values",
        "--set", "operator.verbose=true", "--wait", "--timeout=180s",
    )  # fmt: skip
    upgraded = _operator_pod(release)
    assert upgraded["metadata"]["name"] != pod["metadata"]["name"]
    assert "--verbose" in upgraded["spec"]["containers"][0]["args"]
    assert release.get("tuningjob", "helm-e2e")["status"]["trials"] == trials

    release.helm("uninstall", release.name, "--wait", "--timeout=120s")
    # Everything the chart templated is gone ...
    assert not release.exists("deployment", release.name)
    assert not release.exists("serviceaccount", release.name)
    assert not release.exists("service", f"{release.name}-metrics")
    assert not release.exists("clusterrole", release.name)
    assert not release.exists("clusterrolebinding", release.name)
    assert not release.exists("validatingadmissionpolicy", policy)
    assert not release.exists("validatingadmissionpolicybinding", policy)
    assert not release.exists("clusterrole", f"{release.name}-view")
    assert not release.exists("clusterrole", f"{release.name}-edit")
    release.kubectl(
        "wait", "--for=delete", "pod", "-l", f"app.kubernetes.io/instance={release.name}",
        "--timeout=120s",
    )  # fmt: skip
    # ... but Helm never deletes CRDs, so the TuningJob (and its trial history) stays.
    assert release.exists("crd", CRD)
    assert release.get("tuningjob", "helm-e2e")["status"]["phase"] == "Completed"


def _refusal_as(rel: Release, user: str, manifest: str, *args: str) -> str:
    """kubectl's stderr when `user` applying `manifest` fails ("" when it succeeds)."""
    kube_bin = Path(os.environ.get("KUBETUNE_KUBE_BIN", DEFAULT_KUBE_BIN))
    done = subprocess.run(
        [str(kube_bin / "kubectl"), f"--kubeconfig={rel.kubeconfig}", "-n", rel.namespace,
         f"--as={user}", "apply", "-f", "-", *args],
        input=manifest, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done.stderr if done.returncode != 0 else ""


def _without_verb(cluster_role: dict[str, Any], group: str, resource: str, verb: str) -> None:
    for rule in cluster_role["rules"]:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            assert verb in rule["verbs"]
            rule["verbs"].remove(verb)
            return
    raise AssertionError(f"no rule for {group}/{resource} in {cluster_role['rules']}")


def _permission_errors(rel: Release, name: str) -> list[str]:
    """Messages about a refused `create jobs`, from the TuningJob's conditions and Events."""
    tj = rel.get("tuningjob", name)
    status = tj.get("status") or {}
    messages = [c.get("message") or "" for c in status.get("conditions") or []]
    messages.append(status.get("message") or "")
    events = rel.get("events", "--field-selector", f"involvedObject.name={name}")["items"]
    messages += [e.get("message") or "" for e in events]
    return [m for m in messages if 'cannot create resource "jobs"' in m]


def test_missing_rbac_verb_is_reported(release: Release) -> None:
    role = release.get("clusterrole", release.name)
    _without_verb(role, "batch", "jobs", "create")
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        role["metadata"].pop(key, None)
    release.kubectl("replace", "-f", "-", stdin=json.dumps(role))

    job = tuning_job("no-jobs", max_trials=2, parallel=1)
    release.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    # The operator must report, not hang or crash-loop.
    errors = wait_for(
        lambda: _permission_errors(release, "no-jobs"),
        timeout=120,
        what="the operator to report the refused `create jobs` on the TuningJob",
        interval=1.0,  # each check runs kubectl twice
    )
    assert f"system:serviceaccount:{release.namespace}:{release.name}" in errors[0]
    # No trial Job exists, and the operator is still up (it reports, it does not crash).
    assert not release.get("jobs")["items"]
    assert _operator_pod(release)["status"]["phase"] == "Running"
