"""The local control plane does what the rest of the project relies on.

Real kube-apiserver, controller manager, scheduler and our node agent (hack/cluster):
Jobs on fake GPU nodes run real local processes, report real exit codes, serve their logs
through the API (``follow`` included, and a followed stream ends at once when the
operator lets go of it), deletion ends processes, RBAC applies to pods, and
CRDs with a status subresource work.
"""

from __future__ import annotations

import textwrap
import uuid
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import TuningJobSpec
from kubetune.operator.kube.api_client import Kube
from kubetune.operator.kube.client import JobRejectedError
from kubetune.operator.kube.log_follower import follow_log, followed_logs
from kubetune.operator.kube.metric_logs import compile_metric_regex
from kubetune.operator.kube.trial_job import build_trial_job
from support.local_cluster import Cluster
from support.processes import process_alive
from support.specs import spec_dict
from support.waiting import wait_for

JOB_TIMEOUT_S = 60


def python_job(
    name: str, script: str, *, gpus: int = 1, backoff_limit: int = 0, **container: Any
) -> dict[str, Any]:
    """A batch/v1 Job running ``python3 -c script`` (the host's python3: the image is not
    mapped, the command names a program present here)."""
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "main",
                            "image": "python:3.11-slim",
                            "command": ["python3", "-c", textwrap.dedent(script)],
                            "resources": resources,
                            **container,
                        }
                    ],
                }
            },
        },
    }


def job_pod(
    core: client.CoreV1Api, namespace: str, job: str, phase: str | None = None
) -> client.V1Pod:
    """The (first) pod of a Job, once it exists (and is in ``phase``, if given)."""

    def find() -> client.V1Pod | None:
        pods = core.list_namespaced_pod(
            namespace, label_selector=f"batch.kubernetes.io/job-name={job}"
        ).items
        matching = [p for p in pods if phase is None or p.status.phase == phase]
        return matching[0] if matching else None

    return wait_for(
        find, timeout=JOB_TIMEOUT_S, what=f"a pod of Job {namespace}/{job} in phase {phase}"
    )


def job_condition(batch: client.BatchV1Api, namespace: str, job: str, kind: str) -> client.V1Job:
    """The Job once its condition ``kind`` (Complete, Failed) is True."""

    def done() -> client.V1Job | None:
        found = batch.read_namespaced_job(job, namespace)
        conditions = found.status.conditions or []
        return found if any(c.type == kind and c.status == "True" for c in conditions) else None

    return wait_for(done, timeout=JOB_TIMEOUT_S, what=f"Job {namespace}/{job} condition {kind}")


def pod_phase(core: client.CoreV1Api, namespace: str, name: str, phases: set[str]) -> client.V1Pod:
    """The pod once its phase is one of ``phases``."""

    def reached() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in phases else None

    return wait_for(reached, timeout=JOB_TIMEOUT_S, what=f"pod {namespace}/{name} in {phases}")


@pytest.fixture
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture
def batch(kube_api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(kube_api)


def test_gpu_job_runs_a_local_command_and_its_logs_stream(
    core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    script = f"""
        import os, time
        for i in range(3):
            print(f"line {{i}} on {{os.environ['NODE']}}", flush=True)
        # Block until the test has read the lines above while we run (bounded wait).
        deadline = time.monotonic() + 60
        while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:
            time.sleep(0.05)
        print("done", flush=True)
    """
    env = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    batch.create_namespaced_job(namespace, python_job("gpu", script, env=env))
    pod = job_pod(core, namespace, "gpu", phase="Running")
    name = pod.metadata.name
    node = core.read_node(pod.spec.node_name)
    assert int(node.status.allocatable["nvidia.com/gpu"]) >= 1

    stream = core.read_namespaced_pod_log(
        name, namespace, follow=True, _preload_content=False, _request_timeout=(5, JOB_TIMEOUT_S)
    )
    lines: Iterator[bytes] = iter(stream)
    first = [next(lines).decode().rstrip("\n") for _ in range(3)]
    assert first == [f"line {i} on {pod.spec.node_name}" for i in range(3)]
    # The lines came while the container was still running (it waits for `release`).
    assert core.read_namespaced_pod(name, namespace).status.phase == "Running"

    release.touch()
    rest = [line.decode().rstrip("\n") for line in lines]  # ends when the container does
    assert rest == ["done"]
    job_condition(batch, namespace, "gpu", "Complete")

    finished = pod_phase(core, namespace, name, {"Succeeded"})
    (status,) = finished.status.container_statuses
    assert status.state.terminated.exit_code == 0
    assert status.state.terminated.reason == "Completed"
    assert status.state.terminated.started_at <= status.state.terminated.finished_at
    assert finished.status.pod_ip == "127.0.0.1"
    ready = {c.type: c.status for c in finished.status.conditions}
    assert ready["PodScheduled"] == "True" and ready["Ready"] == "False"
    after = core.read_namespaced_pod_log(name, namespace)
    assert after.splitlines() == [*first, "done"]


def test_a_followed_log_of_a_silent_container_is_let_go_of_at_once(
    core: client.CoreV1Api, batch: client.BatchV1Api, kube_api: client.ApiClient, namespace: str
) -> None:
    """The operator's follower of a trainer that prints nothing for minutes: stopped, it
    gives its thread and connection back at once, not at the stream's read timeout."""
    script = """
        import time
        print("loss=0.5", flush=True)
        time.sleep(300)
    """
    batch.create_namespaced_job(namespace, python_job("silent", script, gpus=0))
    pod = job_pod(core, namespace, "silent", phase="Running")
    kube = Kube(kube_api)
    follower = follow_log(
        lambda: kube.stream_log(namespace, pod.metadata.name, "main", follow=True),
        compile_metric_regex(r"loss=([0-9.]+)"),
        known=array("d"),
        max_scan_bytes=1 << 20,
        name="silent",
    )
    assert follower is not None
    wait_for(lambda: list(follower.curve()) == [0.5], JOB_TIMEOUT_S, "the first value")
    following = followed_logs()
    follower.stop()
    wait_for(lambda: follower.ended, 10, "the stopped follower to end")  # not after 120 s
    assert followed_logs() == following - 1
    assert not follower.complete  # a running trial's log is followed again when asked


def standalone_trial_job(raw: dict[str, Any], trial: str) -> dict[str, Any]:
    """The operator's trial Job for the spec `raw`, without the owner reference to a
    TuningJob that does not exist here."""
    job = build_trial_job(
        tuning_job_name="tj",
        tuning_job_uid=str(uuid.uuid4()),
        spec=TuningJobSpec.model_validate(raw),
        trial=trial,
        hyperparameters={"lr": "0.1", "layers": "2", "opt": "adam"},
    )
    job["metadata"].pop("ownerReferences")
    return job


@pytest.mark.parametrize(
    "context",
    [{}, {"privileged": True}, {"capabilities": {"add": ["CAP_SYS_ADMIN"]}}],
    ids=["default", "privileged", "sys-admin"],
)
def test_the_api_server_accepts_the_hardened_trial_job(
    batch: client.BatchV1Api, namespace: str, context: dict[str, Any]
) -> None:
    """The defaults the operator adds to a trial container never contradict what the
    template asks for (allowPrivilegeEscalation: false beside privileged is refused)."""
    raw = spec_dict()
    raw["trialTemplate"]["job"]["template"]["spec"]["containers"][0]["securityContext"] = context
    job = standalone_trial_job(raw, "tj-001")
    created = batch.create_namespaced_job(namespace, job, dry_run="All")
    assert created.metadata.name == "tj-001"


def test_the_operator_creates_a_trial_job_as_the_api_server_takes_it(
    batch: client.BatchV1Api, kube_api: client.ApiClient, namespace: str
) -> None:
    """Quantities written as numbers (`nvidia.com/gpu: 0`, `cpu: 1`), which kubectl and the
    API server take, reach the API server as written (the client's own models refuse them
    before any request); a Job it refuses is a JobRejectedError naming the field."""
    raw = spec_dict()
    container = raw["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": {"nvidia.com/gpu": 0, "cpu": 1}}
    job = standalone_trial_job(raw, "tj-009")
    kube = Kube(kube_api)
    assert kube.create_job(namespace, job) is True
    created = batch.read_namespaced_job("tj-009", namespace)
    limits = created.spec.template.spec.containers[0].resources.limits
    assert limits == {"nvidia.com/gpu": "0", "cpu": "1"}
    job["metadata"]["name"] = "Not_A_Name"
    with pytest.raises(JobRejectedError, match=r"metadata\.name"):
        kube.create_job(namespace, job)


def test_exit_code_3_fails_the_pod_and_the_job(
    core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, python_job("exit3", "raise SystemExit(3)", gpus=0))
    job_condition(batch, namespace, "exit3", "Failed")
    pod = job_pod(core, namespace, "exit3", phase="Failed")
    (status,) = pod.status.container_statuses
    assert status.state.terminated.exit_code == 3
    assert status.state.terminated.reason == "Error"


FAILING = """
    import sys
    print("epoch 1 loss=0.5", flush=True)
    sys.exit("dataset /data/cifar10 is not mounted")
"""


@pytest.mark.parametrize(
    ("name", "policy", "script", "message"),
    [
        # The kubelet's FallbackToLogsOnError: a failed container's log tail.
        ("fallback", "FallbackToLogsOnError", FAILING,
         "epoch 1 loss=0.5\ndataset /data/cifar10 is not mounted\n"),
        ("file", "File", FAILING, None),  # the default: the agent writes no message file
        ("success", "FallbackToLogsOnError", "print('done')", None),  # only on error
    ],
)  # fmt: skip
def test_termination_message_falls_back_to_the_log_on_error(
    core: client.CoreV1Api, namespace: str, name: str, policy: str, script: str, message: str | None
) -> None:
    container = {
        "name": "main",
        "image": "x",
        "command": ["python3", "-c", textwrap.dedent(script)],
        "terminationMessagePolicy": policy,
    }
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [container]}},
    )
    pod = pod_phase(core, namespace, name, {"Succeeded", "Failed"})
    (status,) = pod.status.container_statuses
    assert status.state.terminated.message == message, status.state.terminated


def test_more_gpus_than_any_node_has_stays_pending_unschedulable(
    core: client.CoreV1Api, namespace: str
) -> None:
    most = max(int(n.status.allocatable.get("nvidia.com/gpu", "0")) for n in core.list_node().items)
    pod = {
        "metadata": {"name": "greedy"},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11-slim",
                    "command": ["python3", "-c", "pass"],
                    "resources": {"limits": {"nvidia.com/gpu": str(most + 1)}},
                }
            ]
        },
    }
    core.create_namespaced_pod(namespace, pod)

    def unschedulable() -> client.V1PodCondition | None:
        conditions = core.read_namespaced_pod("greedy", namespace).status.conditions or []
        return next(
            (c for c in conditions if c.type == "PodScheduled" and c.status == "False"), None
        )

    condition = wait_for(unschedulable, timeout=JOB_TIMEOUT_S, what="PodScheduled=False")
    assert condition.reason == "Unschedulable"
    assert "nvidia.com/gpu" in condition.message
    found = core.read_namespaced_pod("greedy", namespace)
    assert found.status.phase == "Pending" and found.spec.node_name is None


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["sigterm", "sigkill-after-grace"])
def test_deleting_a_running_jobs_pod_ends_its_process(
    core: client.CoreV1Api,
    batch: client.BatchV1Api,
    namespace: str,
    tmp_path: Path,
    ignores_sigterm: bool,
) -> None:
    pid_file = tmp_path / "pid"
    script = f"""
        import os, signal, time
        if {ignores_sigterm}:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open({str(pid_file)!r} + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
        time.sleep(600)  # the workload: run until killed
    """
    job = python_job("sleeper", script, gpus=1)
    job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    batch.create_namespaced_job(namespace, job)
    pod = job_pod(core, namespace, "sleeper", phase="Running")
    wait_for(pid_file.exists, timeout=JOB_TIMEOUT_S, what="the pod's process to write its pid")
    pid = int(pid_file.read_text())
    assert process_alive(pid)

    core.delete_namespaced_pod(pod.metadata.name, namespace)
    wait_for(lambda: not process_alive(pid), timeout=15, what=f"process {pid} to end")

    def pod_gone() -> bool:
        try:
            found = core.read_namespaced_pod(pod.metadata.name, namespace)
        except ApiException as e:
            return e.status == 404
        return found.metadata.uid != pod.metadata.uid

    wait_for(pod_gone, timeout=JOB_TIMEOUT_S, what="the deleted pod to disappear")


def test_custom_resource_with_status_subresource(
    kube_api: client.ApiClient, namespace: str
) -> None:
    extensions = client.ApiextensionsV1Api(kube_api)
    custom = client.CustomObjectsApi(kube_api)
    group = f"t{uuid.uuid4().hex[:8]}.kubetune.io"  # its own group: no clash between runs
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"phase": {"type": "string"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    extensions.create_custom_resource_definition(crd)
    try:

        def established() -> bool:
            found = extensions.read_custom_resource_definition(f"widgets.{group}")
            return any(
                c.type == "Established" and c.status == "True"
                for c in found.status.conditions or []
            )

        wait_for(established, timeout=30, what="the CRD to be Established")
        args = (group, "v1", namespace, "widgets")
        body = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 3},
        }
        # Discovery of a new CRD takes a moment: retry creating until the API serves it.
        created = wait_for(
            lambda: custom.create_namespaced_custom_object(*args, body),
            timeout=30,
            what="the Widget to be created",
            ignore=(ApiException,),
        )
        assert "status" not in created  # status is not set through the main resource
        patched = custom.patch_namespaced_custom_object_status(
            *args, "w", {"status": {"phase": "Ready"}, "spec": {"size": 99}}
        )
        assert patched["status"] == {"phase": "Ready"}
        assert patched["spec"] == {"size": 3}  # the status subresource ignores spec
        assert patched["metadata"]["generation"] == created["metadata"]["generation"]
    finally:
        extensions.delete_custom_resource_definition(f"widgets.{group}")


@pytest.mark.parametrize(
    "command", [None, ["no-such-program-on-this-machine"]], ids=["no-command", "unknown-command"]
)
def test_an_unmapped_image_keeps_the_pod_pending_in_image_pull_back_off(
    core: client.CoreV1Api, namespace: str, command: list[str] | None
) -> None:
    """As a kubelet does (and unlike a failed pod, which a Deployment would replace at
    once, for ever): Pending, ErrImagePull then ImagePullBackOff, until deleted."""
    container: dict[str, Any] = {"name": "main", "image": "registry.example.com/nobody/unknown:1.0"}
    if command:
        container["command"] = command
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "unmapped"},
            "spec": {"restartPolicy": "Never", "containers": [container]},
        },
    )

    def backing_off() -> client.V1Pod | None:
        pod = core.read_namespaced_pod("unmapped", namespace)
        statuses = pod.status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return pod if waiting is not None and waiting.reason == "ImagePullBackOff" else None

    pod = wait_for(backing_off, timeout=JOB_TIMEOUT_S, what="the pod to back off pulling")
    assert pod.status.phase == "Pending"
    message = pod.status.container_statuses[0].state.waiting.message
    assert "nobody/unknown" in message and "hack/images.yaml" in message
    core.delete_namespaced_pod("unmapped", namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_pod("unmapped", namespace)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(gone, timeout=JOB_TIMEOUT_S, what="the pod to be deleted")


def test_kubectl_logs_tail_lines_and_limit_bytes(
    cluster: Cluster, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "counter"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "command": ["python3", "-c", "for i in range(10): print(f'n={i}')"],
                    }
                ],
            },
        },
    )
    pod_phase(core, namespace, "counter", {"Succeeded"})
    tail = cluster.run_kubectl("-n", namespace, "logs", "counter", "--tail=3")
    assert tail.stdout.splitlines() == ["n=7", "n=8", "n=9"]
    limited = core.read_namespaced_pod_log("counter", namespace, limit_bytes=8)
    assert limited == "n=0\nn=1\n"
    stamped = core.read_namespaced_pod_log("counter", namespace, timestamps=True, tail_lines=1)
    stamp, text = stamped.rstrip("\n").split(" ", 1)
    assert text == "n=9" and stamp.endswith("Z") and "T" in stamp


def test_env_expansion_downward_api_and_working_dir(
    core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    script = (
        "import os, sys; "
        "print(*sys.argv[1:], os.environ['UID'], os.getcwd(), os.environ['PYTHONSAFEPATH'])"
    )
    container = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": ["python3", "-c", script],
        "args": ["$(GREETING)", "$$(GREETING)", "$(UNDEFINED)"],
        "workingDir": str(tmp_path),
        "env": [
            {"name": "WHO", "value": "world"},
            {"name": "GREETING", "value": "hello-$(WHO)"},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        ],
    }
    created = core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "env"},
            "spec": {"restartPolicy": "Never", "containers": [container]},
        },
    )
    pod_phase(core, namespace, "env", {"Succeeded"})
    words = core.read_namespaced_pod_log("env", namespace).split()
    assert words == [
        "hello-world",
        "$(GREETING)",
        "$(UNDEFINED)",
        created.metadata.uid,
        str(tmp_path),
        "1",
    ]


def test_python3_in_a_container_is_an_interpreter_not_a_shim(
    core: client.CoreV1Api, namespace: str
) -> None:
    """A version manager's shim (pyenv's is a bash script) would cost every trial start
    a quarter second of CPU; the node agent puts a real interpreter first on the PATH."""
    container = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": ["sh", "-c", "command -v python3"],
    }
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "which"},
            "spec": {"restartPolicy": "Never", "containers": [container]},
        },
    )
    pod_phase(core, namespace, "which", {"Succeeded"})
    found = Path(core.read_namespaced_pod_log("which", namespace).strip())
    assert found.resolve().read_bytes()[:4] == b"\x7fELF", f"{found} is not an executable binary"


def test_on_failure_restarts_in_place(
    core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "tried"
    script = f"""
        import os, sys
        if not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            sys.exit("first try fails")
    """
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "flaky"},
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [
                    {
                        "name": "main",
                        "image": "x",
                        "command": ["python3", "-c", textwrap.dedent(script)],
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    }
                ],
            },
        },
    )
    pod = pod_phase(core, namespace, "flaky", {"Succeeded", "Failed"})
    assert pod.status.phase == "Succeeded"
    (status,) = pod.status.container_statuses
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 1
    # The failed run's log tail stays its message; the successful run has none.
    assert status.last_state.terminated.message == "first try fails\n"
    assert status.state.terminated.message is None


def test_pod_authenticates_as_its_service_account(
    cluster: Cluster, core: client.CoreV1Api, namespace: str
) -> None:
    kubectl = str(cluster.kubectl)
    script = f"""
        import subprocess
        user = "jsonpath={{.status.userInfo.username}}"
        who = subprocess.run([{kubectl!r}, "auth", "whoami", "-o", user],
                             capture_output=True, text=True)
        print("whoami", who.stdout)
        nodes = subprocess.run([{kubectl!r}, "get", "nodes"], capture_output=True, text=True)
        print("nodes", nodes.returncode, "forbidden" in nodes.stderr.lower())
    """
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "whoami"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "x",
                        "command": ["python3", "-c", textwrap.dedent(script)],
                    }
                ],
            },
        },
    )
    pod_phase(core, namespace, "whoami", {"Succeeded"})
    lines = core.read_namespaced_pod_log("whoami", namespace).splitlines()
    # Authenticated as the ServiceAccount, and RBAC applies: it may not list nodes.
    assert lines == [f"whoami system:serviceaccount:{namespace}:default", "nodes 1 True"]
