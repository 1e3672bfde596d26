"""Trials and the operator as real containers: the kubelet and containerd of
hack/real-node.sh run the trial pods of TuningJobs (the operator runs as a local process,
as in the other e2e tests) and, last, the chart's operator as a real pod.

The node is started for this module if it is not running, and stopped after (also when a
test fails). It runs wherever `hack/real-node.sh check` says the machine can (root,
cgroups, containerd from apt, no other real node on the machine); elsewhere the tests
skip with its reason. KUBETUNE_REAL_NODE=1 turns that skip into a failure (a machine
that must run them), KUBETUNE_REAL_NODE=0 skips them. The node is tainted, so trials
tolerate and select it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubetune.operator.controller import WAITING_FOR_ITS_IMAGE
from support import waiting
from support.chart_release import CHART, drop_tuning_job_finalizers, helm_binary, http_get
from support.operator_harness import Api, OperatorProcess, tuning_job, wait_for

ROOT = Path(__file__).resolve().parents[2]
REAL_NODE = ROOT / "hack" / "real-node.sh"
NODE = "kubetune-real-0"
POD_SUBNET = "10.244.77."  # hack/real-node.sh's pod CIDR
TRAINER_IMAGE = "localhost/kubetune/mxnet-trainer:0.1.0-cpu"
OBJECTIVE_REGEX = r"validation: accuracy=([0-9\.]+)"

# The first test also waits for the node to start (minutes under load; `up` has its own
# time limit), which pytest-timeout would count against that test.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]


def _node_ready(cluster: Any) -> bool:
    done = cluster.run_kubectl(
        "get", "node", NODE, "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False,
    )  # fmt: skip
    return done.stdout.strip() == "True"


def _real_node(cluster: Any, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBETUNE_CLUSTER_DIR": str(cluster.state_dir)}
    return subprocess.run(
        [str(REAL_NODE), command], env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def _skip_unless_machine_can(cluster: Any) -> None:
    switch = os.environ.get("KUBETUNE_REAL_NODE", "")
    if switch == "0":
        pytest.skip("the real node is switched off: KUBETUNE_REAL_NODE=0")
    done = _real_node(cluster, "check", timeout=600)  # may apt-get install containerd
    if done.returncode != 0:
        reason = f"this machine cannot run the real node: {done.stdout.strip()}"
        if switch == "1":
            pytest.fail(f"{reason} (KUBETUNE_REAL_NODE=1 requires it)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def real_node(cluster: Any) -> Iterator[str]:
    started = not _node_ready(cluster)
    if started:
        _skip_unless_machine_can(cluster)
    try:
        if started:
            # Builds the kubelet and kube-proxy first if they are not cached (~10 min).
            done = _real_node(cluster, "up", timeout=1500)
            assert done.returncode == 0, f"hack/real-node.sh up failed:\n{done.stderr}"
        yield NODE
    finally:
        # Also after a failed `up`: it may have changed iptables rules and sysctls.
        if started:
            _real_node(cluster, "down", timeout=300)


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
        # The sleep first, as Kubernetes' own OOM e2e test does: containerd 1.6 (Debian
        # 12's) reports a container killed right after it started as Error, not
        # OOMKilled (containerd#8180); the trial then says so (its message asks).
        "command": [
            "python3",
            "-c",
            "import time; time.sleep(5); x = bytearray(400 << 20); print('loss=0')",
        ],
        "resources": {"limits": {"cpu": "1", "memory": "64Mi"}},
    }
    api.create(on_real_node("hog", hog, max_trials=1))
    status = wait_for(
        "the memory-hog TuningJob to finish", lambda: finished(api, "hog"),
        timeout=180, operator=operator,
    )  # fmt: skip
    (trial,) = status["trials"]
    assert (trial["phase"], trial["reason"]) == ("Failed", "OOMKilled"), trial
    assert trial["message"] == "container trainer exited with code 137 (SIGKILL)", trial


def test_failed_trainer_says_why_in_its_trial_message(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    # The kubelet makes the trainer's last log lines its termination message
    # (FallbackToLogsOnError, set by the operator); the trial quotes the last one.
    # Both lines on stderr: containerd copies stdout and stderr separately, so lines on the
    # two written within a moment may reach the log in either order.
    script = (
        "import sys; print('epoch 1 loss=0.5', file=sys.stderr, flush=True); "
        "raise SystemExit('dataset /data/cifar10 is not mounted')"
    )
    failing = {"image": TRAINER_IMAGE, "command": ["python3", "-c", script]}
    api.create(on_real_node("saywhy", failing, max_trials=1))
    status = wait_for(
        "the failing-trainer TuningJob to finish", lambda: finished(api, "saywhy"),
        timeout=180, operator=operator,
    )  # fmt: skip
    (trial,) = status["trials"]
    assert (trial["phase"], trial["reason"]) == ("Failed", "Error"), trial
    said = "container trainer exited with code 1: dataset /data/cifar10 is not mounted"
    assert said in trial["message"], trial


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


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (containerd dials it from the host)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: a connection to it is refused


def test_image_on_an_unreachable_registry_waits_for_the_pull_to_be_retried(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    # A real pull: containerd dials the registry, is refused (ErrImagePull), and the
    # kubelet backs off (ImagePullBackOff). A registry that refuses connections may come
    # back (a restart, a rate limit): the trial waits, saying so, for the kubelet's
    # retries (up to IMAGE_PULL_RETRY, then it fails: unit-tested in test_reconcile),
    # where an image the registry says does not exist fails at once. Deleting the
    # TuningJob leaves no pod waiting for the image.
    image = f"127.0.0.1:{_closed_port()}/kubetune/missing:1"
    unreachable = {"image": image, "imagePullPolicy": "IfNotPresent", "args": ["--epochs=1"]}
    api.create(on_real_node("unpullable", unreachable, max_trials=1, retry={"maxAttempts": 2}))

    def waiting_for_the_image() -> dict[str, Any] | None:
        trials = api.status("unpullable").get("trials") or []
        trial: dict[str, Any] = trials[0] if trials else {}
        pulling = trial.get("reason") in ("ErrImagePull", "ImagePullBackOff")
        return trial if trial.get("phase") == "Pending" and pulling else None

    trial = wait_for(
        "the unpullable trial to wait for its image", waiting_for_the_image,
        timeout=120, operator=operator,
    )  # fmt: skip
    assert trial["message"].startswith(WAITING_FOR_ITS_IMAGE), trial
    assert "retried" in trial["message"] and "connection refused" in trial["message"], trial
    # The real kubelet backed off, and the operator left the pod to it.
    backoffs = waiting.wait_for(
        lambda: [
            e for e in api.core.list_namespaced_event(api.ns).items
            if e.involved_object.kind == "Pod" and e.reason == "BackOff"
            and image in (e.message or "")
        ],
        timeout=60, what="the kubelet's image pull back-off events", interval=0.5,
    )  # fmt: skip
    assert {e.source.host or e.reporting_instance for e in backoffs} == {real_node}, backoffs
    assert len(api.jobs("unpullable")) == 1
    assert api.status("unpullable")["trials"][0].get("attempt", 1) == 1
    api.delete("unpullable")
    waiting.wait_for(
        lambda: api.get("unpullable") is None and not api.pods("unpullable")
        and not api.jobs("unpullable"),
        timeout=60, what="no Job or pod left of the deleted unpullable TuningJob", interval=0.5,
    )  # fmt: skip


@pytest.fixture
def operator_release(real_node: str, crds: None, cluster: Any, namespace: str) -> Iterator[str]:
    """`helm install` of the chart, its operator pod on the real node (namespaced mode),
    with the chart's defaults otherwise: the pod's own network namespace (no
    hostNetwork), the API server reached through the `kubernetes` Service's ClusterIP
    (kube-proxy's rules) with the ServiceAccount's token mounted by the real kubelet."""
    release = f"kubetune-{uuid.uuid4().hex[:6]}"
    helm = helm_binary()
    subprocess.run(
        [helm, f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "install", release,
         str(CHART), "--set", "image.repository=localhost/kubetune/operator",
         "--set", "image.pullPolicy=Never", "--set", f"watchNamespaces={{{namespace}}}",
         "--set-json", 'nodeSelector={"kubetune.io/node-kind": "real"}',
         "--set-json", 'tolerations=[{"key": "kubetune.io/real-node", "operator": "Exists"}]'],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield release
    finally:
        subprocess.run(
            [helm, f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "uninstall", release,
             "--wait", "--timeout=120s"],
            capture_output=True, timeout=180, check=False,
        )  # fmt: skip
        drop_tuning_job_finalizers(cluster, namespace)


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
    # Its own network namespace: it reached the API server (Ready needs its first watch)
    # through the `kubernetes` Service, whose endpoint is the advertised address.
    assert not pod.spec.host_network and pod.status.pod_ip.startswith(POD_SUBNET), pod.status
    env = {e.name: e.value for e in pod.spec.containers[0].env or []}
    assert "KUBERNETES_SERVICE_HOST" not in env, env
    assert pod.spec.containers[0].security_context.read_only_root_filesystem is True
    # /metrics through the metrics Service (kube-proxy sends the ClusterIP to the pod).
    service = api.core.read_namespaced_service(f"{operator_release}-metrics", api.ns)
    metrics = waiting.wait_for(
        lambda: http_get(f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}/metrics"),
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
