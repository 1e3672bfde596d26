"""Trials as real containers: the kubelet and containerd of hack/real-node.sh run the
trial pods of a TuningJob (the operator runs as a local process, as in the other e2e
tests). Opt-in: KUBETUNE_REAL_NODE=1 (the node is started for this module if it is not
running, and stopped after). The node is tainted, so trials tolerate and select it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import waiting
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for

ROOT = Path(__file__).resolve().parents[2]
REAL_NODE = ROOT / "hack" / "real-node.sh"
CHART = ROOT / "charts" / "kubetune"
DEFAULT_HELM = Path.home() / ".cache" / "kubetune" / "helm-v4.3.1" / "helm"
NODE = "kubetune-real-0"
TRAINER_IMAGE = "localhost/kubetune/mxnet-trainer:0.1.0-cpu"
OBJECTIVE_REGEX = r"validation: accuracy=([0-9\.]+)"

pytestmark = pytest.mark.containers


def _node_ready(cluster: Any) -> bool:
    done = cluster.run_kubectl(
        "get", "node", NODE, "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False,
    )  # fmt: skip
    return done.stdout.strip() == "True"


@pytest.fixture(scope="module")
def real_node(cluster: Any) -> Iterator[str]:
    if os.environ.get("KUBETUNE_REAL_NODE") != "1":
        pytest.skip("the real node is opt-in: KUBETUNE_REAL_NODE=1 (hack/real-node.sh)")
    started = not _node_ready(cluster)
    if started:
        done = subprocess.run(
            [str(REAL_NODE), "up"], capture_output=True, text=True, timeout=900, check=False
        )
        assert done.returncode == 0, f"hack/real-node.sh up failed:\n{done.stderr}"
    try:
        yield NODE
    finally:
        if started:
            subprocess.run([str(REAL_NODE), "down"], capture_output=True, timeout=300, check=False)


def on_real_node(
    name: str, container: dict[str, Any], *, max_trials: int, **spec: Any
) -> dict[str, Any]:
    """A TuningJob whose trial pods run `container` on the real node."""
    body = tuning_job(name, max_trials=max_trials, parallel=1, **spec)
    pod = body["spec"]["trialTemplate"]["job"]["template"]["spec"]
    pod["containers"] = [{"name": "trainer", "imagePullPolicy": "Never", **container}]
    pod["nodeSelector"] = {"kubetune.io/node-kind": "real"}
    pod["tolerations"] = [{"key": "kubetune.io/real-node", "operator": "Exists"}]
    return body


def finished(api: Api, name: str) -> dict[str, Any] | None:
    status = api.status(name)
    return status if status.get("phase") in ("Completed", "Failed", "Stopped") else None


def test_digits_tuning_job_on_real_containers(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    trainer = {
        "image": TRAINER_IMAGE,
        "args": ["--dataset=digits", "--epochs=3"],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    job = on_real_node(
        "digits",
        trainer,
        max_trials=2,
        objective={"metric": "accuracy", "type": "Maximize"},
        metrics=[{"name": "accuracy", "regex": OBJECTIVE_REGEX}],
        parameters=[
            {"name": "learning_rate", "type": "Continuous", "min": 0.01, "max": 0.3,
             "scaling": "Logarithmic"},
        ],
    )  # fmt: skip
    api.create(job)
    status = wait_for(
        "the digits TuningJob to finish", lambda: finished(api, "digits"),
        timeout=300, operator=operator,
    )  # fmt: skip
    assert status["phase"] == "Completed", status
    trials = status["trials"]
    assert [t["phase"] for t in trials] == ["Succeeded", "Succeeded"], trials
    pods = api.pods("digits")
    assert {p.spec.node_name for p in pods} == {real_node}
    # Each objective is the last accuracy line the container printed (read back through
    # the API server from the real kubelet).
    by_job = {p.metadata.labels["job-name"]: p.metadata.name for p in pods}
    for trial in trials:
        (pod,) = [pod for job, pod in by_job.items() if job.startswith(trial["name"])]
        log = api.core.read_namespaced_pod_log(pod, api.ns, container="trainer")
        last = float(re.findall(OBJECTIVE_REGEX, log)[-1])
        assert trial["objective"] == pytest.approx(last), (trial, log)
        assert 0.0 < last <= 1.0


def test_trial_over_its_memory_limit_is_oomkilled(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    hog = {
        "image": TRAINER_IMAGE,
        "command": ["python3", "-c", "x = bytearray(400 << 20); print('loss=0')"],
        "resources": {"limits": {"cpu": "1", "memory": "64Mi"}},
    }
    api.create(on_real_node("hog", hog, max_trials=1))
    status = wait_for(
        "the memory-hog TuningJob to finish", lambda: finished(api, "hog"),
        timeout=180, operator=operator,
    )  # fmt: skip
    (trial,) = status["trials"]
    assert (trial["phase"], trial["reason"]) == ("Failed", "OOMKilled"), trial


def test_missing_image_fails_the_trial_as_infrastructure(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    missing = {"image": "localhost/kubetune/does-not-exist:0", "args": ["--epochs=1"]}
    api.create(on_real_node("noimage", missing, max_trials=1, retry={"maxAttempts": 2}))
    status = wait_for(
        "the missing-image TuningJob to finish", lambda: finished(api, "noimage"),
        timeout=180, operator=operator,
    )  # fmt: skip
    trials = status["trials"]
    # An image the node cannot have is an infrastructure failure: retried (a new Job),
    # then failed with the kubelet's reason.
    assert len(trials) == 1 and trials[0]["phase"] == "Failed", trials
    assert trials[0]["reason"] == "ErrImageNeverPull", trials[0]
    assert trials[0].get("attempt", 1) == 2, trials[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _http_get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: str = response.read().decode()
            return body if response.status == 200 else None
    except OSError:
        return None


@pytest.fixture
def operator_release(real_node: str, crds: None, cluster: Any, namespace: str) -> Iterator[str]:
    """`helm install` of the chart, its operator pod on the real node (namespaced mode).

    The local API server listens and advertises on 127.0.0.1 only, so the `kubernetes`
    Service has no endpoints and a pod's own network namespace cannot reach it: the pod
    gets the host's network (one patch to the chart's Deployment) and, through the
    chart's `operator.extraEnv`, KUBERNETES_SERVICE_HOST/PORT pointing at 127.0.0.1.
    Credentials are still the ServiceAccount's token, mounted by the real kubelet."""
    release = f"kubetune-{uuid.uuid4().hex[:6]}"
    server = urllib.parse.urlsplit(
        yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    )
    env = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": server.hostname},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(server.port)},
    ]
    helm = os.environ.get("KUBETUNE_HELM", str(DEFAULT_HELM))
    subprocess.run(
        [helm, f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "install", release,
         str(CHART), "--set", "image.repository=localhost/kubetune/operator",
         "--set", "image.pullPolicy=Never", "--set", f"watchNamespaces={{{namespace}}}",
         "--set", f"operator.healthPort={_free_port()}",
         "--set", f"operator.metricsPort={_free_port()}",
         "--set-json", 'nodeSelector={"kubetune.io/node-kind": "real"}',
         "--set-json", 'tolerations=[{"key": "kubetune.io/real-node", "operator": "Exists"}]',
         "--set-json", f"operator.extraEnv={json.dumps(env)}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    cluster.run_kubectl(
        "-n", namespace, "patch", "deployment", release, "--type=merge", "-p",
        '{"spec": {"template": {"spec": {"hostNetwork": true,'
        ' "dnsPolicy": "ClusterFirstWithHostNet"}}}}',
    )  # fmt: skip
    try:
        yield release
    finally:
        subprocess.run(
            [helm, f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "uninstall", release,
             "--wait", "--timeout=120s"],
            capture_output=True, timeout=180, check=False,
        )  # fmt: skip
        tuning_jobs = cluster.run_kubectl("get", "tuningjobs", "-n", namespace, "-o", "name")
        for tj in tuning_jobs.stdout.split():
            cluster.run_kubectl(
                "patch", tj, "-n", namespace, "--type=merge",
                "-p", '{"metadata": {"finalizers": null}}',
            )  # fmt: skip


def _ready_operator_pod(api: Api, release: str) -> Any:
    pods = api.core.list_namespaced_pod(
        api.ns, label_selector=f"app.kubernetes.io/instance={release}"
    ).items
    ready = [
        p for p in pods
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]  # fmt: skip
    return ready[0] if len(ready) == 1 else None


def test_operator_pod_survives_deletion_mid_job(
    operator_release: str, api: Api, real_node: str
) -> None:
    # Readiness: the real kubelet's probe of /healthz passed.
    pod = waiting.wait_for(
        lambda: _ready_operator_pod(api, operator_release), timeout=240,
        what="the operator pod to be Ready", interval=1.0,
    )  # fmt: skip
    assert pod.spec.node_name == real_node
    assert pod.spec.service_account_name == operator_release
    assert pod.spec.containers[0].security_context.read_only_root_filesystem is True
    # /metrics through the metrics Service (kube-proxy sends the ClusterIP to the pod).
    service = api.core.read_namespaced_service(f"{operator_release}-metrics", api.ns)
    metrics = waiting.wait_for(
        lambda: _http_get(f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}/metrics"),
        timeout=60, what="/metrics through the metrics Service",
    )  # fmt: skip
    assert "# TYPE" in metrics

    trainer = {
        "image": TRAINER_IMAGE,
        "args": ["--dataset=digits", "--epochs=3"],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    job = on_real_node(
        "restart", trainer, max_trials=4,
        objective={"metric": "accuracy", "type": "Maximize"},
        metrics=[{"name": "accuracy", "regex": OBJECTIVE_REGEX}],
        parameters=[{"name": "learning_rate", "type": "Continuous", "min": 0.01, "max": 0.3}],
    )  # fmt: skip
    job["spec"]["limits"]["maxParallelTrials"] = 2
    api.create(job)
    # The first trial is recorded (the operator pod works through its in-cluster
    # credentials); then the pod is deleted, and the Deployment replaces it.
    waiting.wait_for(
        lambda: api.status("restart").get("trials"), timeout=300,
        what="the first trial", interval=1.0,
    )  # fmt: skip
    api.core.delete_namespaced_pod(pod.metadata.name, api.ns)
    replacement = waiting.wait_for(
        lambda: (p := _ready_operator_pod(api, operator_release))
        and p.metadata.name != pod.metadata.name and p,
        timeout=240, what="the replacement operator pod to be Ready", interval=1.0,
    )  # fmt: skip
    assert replacement.spec.node_name == real_node
    status = waiting.wait_for(
        lambda: finished(api, "restart"), timeout=600,
        what="the TuningJob to finish after the operator restart", interval=1.0,
    )  # fmt: skip
    assert status["phase"] == "Completed", status
    trials = status["trials"]
    assert len(trials) == 4 and all(t["phase"] == "Succeeded" for t in trials), trials
    assert len(api.jobs("restart")) == 4
