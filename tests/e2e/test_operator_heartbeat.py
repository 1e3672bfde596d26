"""The operator's heartbeat Lease and what `kubetune` says with it, against the real local
cluster, the real operator process and the installed `kubetune` command: while the
operator runs it says nothing; killed, once its Lease has gone stale, `describe`, `trials`,
`list` and `logs` say that no operator serves the namespace (the kubectl command they
suggest carries the --kubeconfig given), the running trials' durations stop growing, and
a `watch` running meanwhile says so once, and once more when the operator is back; a user
who may not read Leases is told nothing; a TuningJob deleted while the operator is away
is shown being deleted, and goes once the operator is back; `watch --timeout` of a job
that no operator serves says that nothing is running it (not that it keeps running).

The operator renews every second here (`--heartbeat-seconds 1`: stale after 4 s), its
Lease in the test's namespace ($POD_NAMESPACE), which goes with it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster.operator_process import OperatorProcess
from kubernetes import client
from kubetune.operator.api.heartbeat import lease_body, micro_time
from support.operator_harness import GROUP, PLURAL, VERSION, Api, tuning_job, wait_for

KUBETUNE = Path(sys.executable).with_name("kubetune")
LEASE = "heartbeat-test"
SEEN = "has been seen for"
"""What `kubetune` says once the operator's Lease is stale."""
AGAIN = "a kubetune operator serves namespace"
"""What `kubetune watch` says once an operator serves the namespace again."""


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


class Watching:
    """`kubetune watch NAME` in a pipe (its quiet mode), its stdout lines kept as they come
    (a thread reads them) for a test to wait on."""

    def __init__(self, kubeconfig: Path, namespace: str, name: str) -> None:
        command = [str(KUBETUNE), "--kubeconfig", str(kubeconfig), "-n", namespace]
        self.process = subprocess.Popen(
            [*command, "watch", name, "--interval", "0.5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def notes(self) -> list[str]:
        return [line for line in self.lines if line.startswith("Note: ")]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


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
    watching = Watching(kubeconfig_path, namespace, "beat")
    try:
        _watched_while_the_operator_is_away(
            operator, api, kube_api, kubeconfig_path, namespace, tmp_path, watching
        )
    finally:
        watching.stop()
        print("watch's output:", *watching.lines, sep="\n")
    api.delete("beat")
    wait_for("beat to go", lambda: api.get("beat") is None, timeout=60, operator=operator)


def _watched_while_the_operator_is_away(
    operator: OperatorProcess,
    api: Api,
    kube_api: client.ApiClient,
    kubeconfig_path: Path,
    namespace: str,
    tmp_path: Path,
    watching: Watching,
) -> None:
    wait_for(
        "watch's first line",
        lambda: any(line.startswith(f"TuningJob {namespace}/beat:") for line in watching.lines),
        timeout=30,
    )
    advice = (
        f"kubectl --kubeconfig {shlex.quote(str(kubeconfig_path))} get deploy -A -l "
        "app.kubernetes.io/part-of=kubetune"
    )
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
    assert f"(`{advice}`)" in line, line
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
    assert f"(`{advice}`)" in listed.stderr, listed.stderr

    # A trial's log still comes from its pod; the note says its phase may be stale.
    logs = kubetune(kubeconfig_path, "-n", namespace, "logs", "beat", "1")
    notes = [x for x in logs.stderr.splitlines() if x.startswith("Note: ")]
    assert len(notes) == 1 and f"serving namespace {namespace} {SEEN}" in notes[0], logs.stderr
    assert f"(`{advice}`)" in notes[0] and "durations counted" not in notes[0], notes

    # The watch running all along: one line, not one per read (every 0.5 s).
    gone = wait_for(
        "watch to say that no operator serves the namespace",
        watching.notes,
        timeout=60,
    )
    assert f"serving namespace {namespace} {SEEN}" in gone[0] and f"(`{advice}`)" in gone[0]
    assert watching.process.poll() is None, watching.lines

    # A user who may read TuningJobs but not Leases is told nothing, and not refused.
    reader = _tuning_job_reader(kube_api, kubeconfig_path, namespace, tmp_path)
    as_reader = wait_for(
        "the reader's Role to take effect",
        lambda: (r := kubetune(reader, "-n", namespace, "describe", "beat")).returncode == 0 and r,
        timeout=30,
    )
    assert "Operator:" not in as_reader.stdout and "Phase:      InProgress" in as_reader.stdout
    watched = kubetune(
        reader, "-n", namespace, "watch", "beat", "--interval", "0.2", "--timeout", "1"
    )
    assert watched.returncode == 1 and "--timeout 1 s (phase InProgress)" in watched.stderr
    assert watched.stdout.startswith(f"TuningJob {namespace}/beat: InProgress")
    assert "Note" not in watched.stdout + watched.stderr, watched.stdout
    logs = kubetune(reader, "-n", namespace, "logs", "beat", "1")
    assert "Note" not in logs.stderr, logs.stderr

    # Back: put right.
    operator.start()
    wait_for(
        "describe to say nothing of the operator again",
        lambda: "Operator:" not in _describe(kubeconfig_path, namespace, "beat"),
        timeout=60,
        operator=operator,
    )
    # watch re-reads the Leases every 15 s (OPERATOR_CHECK_SECONDS).
    notes = wait_for(
        "watch to say that an operator serves the namespace again",
        lambda: len(notes := watching.notes()) > 1 and notes,
        timeout=60,
        operator=operator,
    )
    assert notes[1].startswith(f"Note: {AGAIN} {namespace} again"), watching.lines
    assert len(notes) == 2 and watching.process.poll() is None, watching.lines


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


def test_watch_timing_out_on_an_unserved_job_says_nothing_is_running_it(
    crds: None, api: Api, kube_api: client.ApiClient, kubeconfig_path: Path, namespace: str
) -> None:
    """`watch --timeout` said of a job that no operator serves that it keeps running, under
    the Note that none serves it. No operator runs here: the job is as one recorded it
    InProgress, and the Lease of the operator that served its namespace is stale."""
    api.create(tuning_job("orphan", max_trials=2, parallel=1))
    api.custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "orphan",
        {"status": {"phase": "InProgress", "startTime": micro_time(datetime.now(UTC))}},
        _content_type="application/merge-patch+json",
    )
    stale = datetime.now(UTC) - timedelta(minutes=7)
    lease = lease_body(LEASE, namespace, "kubetune-7d9f-x2", [namespace], 1, stale)
    client.CoordinationV1Api(kube_api).create_namespaced_lease(namespace, lease)

    watched = kubetune(
        kubeconfig_path, "-n", namespace, "watch", "orphan", "--interval", "0.2", "--timeout", "1"
    )
    assert watched.returncode == 1, watched.stderr
    assert f"Note: no kubetune operator serving namespace {namespace} {SEEN}" in watched.stdout
    error = watched.stderr
    assert "--timeout 1 s (phase InProgress); nothing is running it: no kubetune operator " in error
    assert f"serving namespace {namespace} {SEEN} 7m" in error, error
    assert f"(heartbeat Lease {namespace}/{LEASE}, last renewed by kubetune-7d9f-x2)" in error
    assert f"(`kubectl --kubeconfig {kubeconfig_path} get deploy" in error, error
    assert "keeps running" not in error, error
