"""The operator image (operator.Dockerfile, built by `make images`) run as a real container
against the local API server, as the chart's Deployment runs it.

podman (hack/podman) starts the image on the host network with what the kubelet would
give the chart's pod: the ServiceAccount's in-cluster credentials (a token from the
TokenRequest API, the cluster CA and the namespace at /var/run/secrets/kubernetes.io/
serviceaccount, KUBERNETES_SERVICE_HOST/PORT), the chart's RBAC, the pod and container
security context (UID 10001, read-only root filesystem, a memory-backed /tmp, no
capabilities, no privilege escalation), its resource limits and its arguments, all read
from the chart rendered by `helm template`. Its trials run on the local node agent.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chart_release import (
    CHART,
    drop_tuning_job_finalizers,
    free_port,
    helm_binary,
    http_get,
    service_account_token,
)
from support.operator_harness import Api, objective, tuning_job
from support.podman_cli import built_image, podman
from support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.containers

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Everything the chart renders except what the kubelet would run (the Deployment, here
# replaced by podman) and the metrics Service (no Service proxy on the process node).
APPLIED_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def render_chart(release: str, namespace: str, health_port: int, metrics_port: int) -> list[Any]:
    """The chart's manifests, namespaced mode (the operator sees only `namespace`)."""
    done = subprocess.run(
        [helm_binary(), "template", release, str(CHART), "--namespace", namespace,
         "--set", f"watchNamespaces={{{namespace}}}",
         "--set", f"operator.healthPort={health_port}",
         "--set", f"operator.metricsPort={metrics_port}"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _as_list(manifests: list[Any]) -> str:
    """The manifests as one v1 List, for `kubectl apply/delete -f -`."""
    return json.dumps({"kind": "List", "apiVersion": "v1", "items": manifests})


def _quantity_to_podman(value: str) -> str:
    """A Kubernetes memory quantity (Mi, Gi) as podman's size suffix (m, g)."""
    match = re.fullmatch(r"(\d+)(Mi|Gi)", value)
    assert match, f"unexpected quantity {value!r} in the chart"
    return match[1] + match[2][0].lower()


def podman_args_for(pod: dict[str, Any], name: str, namespace: str) -> list[str]:
    """`podman run` options equivalent to the kubelet's handling of the pod template's
    security context, /tmp emptyDir, environment and resource limits."""
    (container,) = pod["containers"]
    pod_security, security = pod["securityContext"], container["securityContext"]
    assert pod_security["runAsNonRoot"] and pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"  # podman's default
    args = [f"--user={pod_security['runAsUser']}:{pod_security['runAsGroup']}"]
    if security["readOnlyRootFilesystem"]:
        # podman's --read-only adds writable tmpfs mounts by default; the kubelet does not.
        args += ["--read-only", "--read-only-tmpfs=false"]
    if security["allowPrivilegeEscalation"] is False:
        args.append("--security-opt=no-new-privileges")
    args += [f"--cap-drop={cap}" for cap in security["capabilities"]["drop"]]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        empty_dir = volumes[mount["name"]]["emptyDir"]
        assert empty_dir["medium"] == "Memory"
        size = _quantity_to_podman(empty_dir["sizeLimit"])
        args.append(f"--tmpfs={mount['mountPath']}:rw,size={size},mode=1777")
    for env in container["env"]:
        if "valueFrom" in env:  # POD_ID: the pod's name; POD_NAMESPACE: its namespace
            field = env["valueFrom"]["fieldRef"]["fieldPath"]
            assert field in ("metadata.name", "metadata.namespace"), env
            args.append(f"--env={env['name']}={name if field == 'metadata.name' else namespace}")
        else:
            args.append(f"--env={env['name']}={env['value']}")
    limits = container["resources"]["limits"]
    args += [f"--memory={_quantity_to_podman(limits['memory'])}", f"--cpus={limits['cpu']}"]
    return args


@dataclass(frozen=True)
class OperatorContainer:
    name: str
    health_port: int
    metrics_port: int

    def running(self) -> bool:
        done = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return done.stdout.strip() == "true"

    def logs(self) -> str:
        done = podman("logs", "--tail", "60", self.name, check=False)
        return done.stdout + done.stderr

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *argv, check=False)


def _http_get(port: int, path: str) -> str | None:
    return http_get(f"http://127.0.0.1:{port}{path}")


def _api_server(cluster: Any) -> tuple[urllib.parse.SplitResult, Path]:
    """The API server's URL and CA certificate file, from the admin kubeconfig."""
    entry = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]
    return urllib.parse.urlsplit(entry["server"]), Path(entry["certificate-authority"])


def _service_account_files(cluster: Any, namespace: str, account: str, into: Path) -> Path:
    """What the kubelet projects at /var/run/secrets/kubernetes.io/serviceaccount."""
    token = service_account_token(cluster, namespace, account)
    into.mkdir(mode=0o755)
    (into / "token").write_text(token)
    (into / "ca.crt").write_bytes(_api_server(cluster)[1].read_bytes())
    (into / "namespace").write_text(namespace)
    for path in into.iterdir():
        path.chmod(0o644)  # readable by the container's UID 10001
    return into


@pytest.fixture
def operator_container(
    cluster: Any, crds: None, namespace: str, tmp_path: Path
) -> Iterator[OperatorContainer]:
    image = built_image("kubetune/operator")
    release = f"kubetune-{uuid.uuid4().hex[:6]}"
    health_port, metrics_port = free_port(), free_port()
    manifests = render_chart(release, namespace, health_port, metrics_port)
    applied = [m for m in manifests if m["kind"] in APPLIED_KINDS]
    cluster.run_kubectl("apply", "-f", "-", stdin=_as_list(applied))
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    server, _ = _api_server(cluster)
    secrets = _service_account_files(
        cluster, namespace, pod["serviceAccountName"], tmp_path / "serviceaccount"
    )
    container = OperatorContainer(f"{release}-operator", health_port, metrics_port)
    podman(
        "run", "--detach", "--name", container.name, "--network=host",
        "--label=io.kubetune.test=operator-container",
        *podman_args_for(pod, container.name, namespace),
        f"--volume={secrets}:{SERVICE_ACCOUNT_DIR}:ro",
        f"--env=KUBERNETES_SERVICE_HOST={server.hostname}",
        f"--env=KUBERNETES_SERVICE_PORT={server.port}",
        image, *pod["containers"][0]["args"],
    )  # fmt: skip
    try:
        yield container
    finally:
        print(f"operator container log tail:\n{container.logs()}")
        podman("rm", "--force", "--time=10", container.name, check=False)
        drop_tuning_job_finalizers(cluster, namespace)
        cluster.run_kubectl(
            "delete", "-f", "-", "--ignore-not-found", "--wait=false",
            stdin=_as_list(applied),
        )  # fmt: skip


def test_operator_container_runs_a_tuning_job(
    operator_container: OperatorContainer, api: Api
) -> None:
    op = operator_container

    def healthy() -> str | None:
        assert op.running(), f"the operator container exited:\n{op.logs()}"
        return _http_get(op.health_port, "/healthz")

    # The chart's liveness and readiness probes: GET /healthz on the health port.
    wait_for(healthy, timeout=90, what="the operator container's /healthz", interval=0.5)
    metrics = _http_get(op.metrics_port, "/metrics")
    assert metrics is not None and "# TYPE" in metrics

    # The chart's security context, seen from inside the container.
    assert op.exec("id", "-u").stdout.strip() == "10001"
    status = op.exec("cat", "/proc/1/status").stdout
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    refused = op.exec("touch", "/usr/local/kubetune-was-here")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert op.exec("touch", "/tmp/scratch").returncode == 0
    # No kubeconfig: the only credentials are the ServiceAccount's.
    assert "KUBECONFIG" not in op.exec("env").stdout

    # Trials run tests/e2e/fake_trainer.py on the node agent: loss = (x - 0.3)**2.
    api.create(tuning_job("container-e2e", max_trials=3, parallel=2))

    def finished() -> dict[str, Any] | None:
        assert op.running(), f"the operator container exited:\n{op.logs()}"
        status = api.status("container-e2e")
        return status if status.get("phase") in ("Completed", "Failed", "Stopped") else None

    status = wait_for(finished, timeout=240, what="the TuningJob to finish", interval=0.5)
    assert status["phase"] == "Completed", status
    trials = status["trials"]
    assert len(trials) == 3
    assert all(t["phase"] == "Succeeded" for t in trials), trials
    for trial in trials:
        x = float(trial["hyperparameters"]["x"])
        assert trial["objective"] == pytest.approx(objective(x)), trial
    assert status["bestTrial"]["objective"] == pytest.approx(min(t["objective"] for t in trials))
    jobs = api.jobs("container-e2e")
    assert len(jobs) == 3
    assert all(j.metadata.owner_references[0].kind == "TuningJob" for j in jobs)
    # The operator counted what it did, on the metrics endpoint.
    assert "kubetune" in (_http_get(op.metrics_port, "/metrics") or "")
    # The chart's Role let it keep its heartbeat Lease ($POD_NAMESPACE set as the kubelet
    # would): a refused renewal is logged.
    logged = podman("logs", op.name, check=False)
    assert "not renewed" not in logged.stdout + logged.stderr
