"""`kubetune logs` on a trial whose pod ended before its trainer started (a pure test:
the client's pods are faked, no cluster)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import (
    V1Container,
    V1ContainerState,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1ObjectMeta,
    V1PodSpec,
    V1PodStatus,
)
from kubetune.cli import commands
from kubetune.cli import main as cli_main
from synthetic_tuning_job import synthetic_tuning_job


class Pod:
    def __init__(self, name: str, status: V1PodStatus, spec: V1PodSpec | None = None) -> None:
        self.metadata, self.status, self.spec = V1ObjectMeta(name=name), status, spec


class FakeKube:
    namespace = "team-a"

    def __init__(self, body: dict[str, Any], pods: list[Pod]) -> None:
        self.body, self.pods = body, pods

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any]:
        return self.body

    def trial_pods(self, namespace: str, trial: str) -> list[Pod]:
        return self.pods

    def heartbeat_leases(self) -> None:
        return None  # as for a user who may not list Leases: nothing said of the operator


def status(name: str, state: V1ContainerState) -> V1ContainerStatus:
    return V1ContainerStatus(
        name=name, state=state, image="i", image_id="", ready=False, restart_count=0
    )


INITIALIZING = V1ContainerState(waiting=V1ContainerStateWaiting(reason="PodInitializing"))


def ended_pod(init: str, exit_code: int, spec: V1PodSpec | None = None) -> Pod:
    exited = V1ContainerState(terminated=V1ContainerStateTerminated(exit_code=exit_code))
    return Pod(
        "w-003-6gwp5",
        V1PodStatus(
            phase="Failed",
            init_container_statuses=[status(init, exited)],
            container_statuses=[status("trainer", INITIALIZING)],
        ),
        spec,
    )


def logs(monkeypatch: pytest.MonkeyPatch, kube: FakeKube, *argv: str) -> tuple[int, str]:
    monkeypatch.setattr(commands, "connect", lambda *_: kube)
    out, err = io.StringIO(), io.StringIO()
    return cli_main.run(["logs", *argv], out, err), err.getvalue()


@pytest.mark.parametrize("follow", [(), ("-f",)])
def test_logs_of_a_trial_whose_init_container_failed_name_it_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, follow: tuple[str, ...]
) -> None:
    """QA67 M1: not "no log yet" (it ended: it never will have one)."""
    monkeypatch.chdir(tmp_path)  # no local run directory named w
    body = synthetic_tuning_job("w", 3, running=1)
    body["metadata"]["namespace"] = "team-a"
    code, err = logs(monkeypatch, FakeKube(body, [ended_pod("init", 4)]), "w", "3", *follow)
    assert code == cli_main.EXIT_ERROR
    assert err == (
        "error: trial w-003 is Failed (PodInitializing): it has no log, as its init container "
        "init failed (exit code 4); `kubectl logs -n team-a w-003-6gwp5 -c init` shows why.\n"
    )


def test_the_init_container_logs_command_carries_the_cluster_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the other commands a message suggests do (`cluster_flags`): without them, copied,
    it asks the current context's cluster, where the pod is not."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "my config"
    config.write_text("")
    body = synthetic_tuning_job("w", 3, running=1)
    body["metadata"]["namespace"] = "team-a"
    kube = FakeKube(body, [ended_pod("init", 4)])
    given = ("--context", "lab", "--kubeconfig", str(config), "-n", "team-a")
    code, err = logs(monkeypatch, kube, *given, "w", "3")
    assert code == cli_main.EXIT_ERROR
    assert err.endswith(
        f"; `kubectl --context lab --kubeconfig '{config}' logs -n team-a w-003-6gwp5 -c init` "
        "shows why.\n"
    ), err


def test_a_native_sidecar_stopped_with_the_pod_is_not_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    body = synthetic_tuning_job("w", 3, running=1)
    sidecar = V1PodSpec(
        containers=[V1Container(name="trainer")],
        init_containers=[V1Container(name="shipper", restart_policy="Always")],
    )
    code, err = logs(monkeypatch, FakeKube(body, [ended_pod("shipper", 143, sidecar)]), "w", "3")
    assert code == cli_main.EXIT_ERROR
    assert err == "error: trial w-003 is Failed (PodInitializing): it has no log yet.\n"
