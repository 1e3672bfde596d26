"""A pod worker against a stand-in API server: its status posts outlast an API server that
does not answer, and a container's leftover processes end with its main process.

The worker, its containers (real local processes) and the kubernetes client are real; only
the API server is a stand-in: an HTTP server on a fixed port that records the pod statuses
posted to it, and can refuse connections (down) or answer 503 for a while.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cluster import pod_worker
from cluster.pod_worker import AgentContext, PodWorker
from kubernetes import client
from support.processes import process_alive
from support.waiting import wait_for

TIMEOUT_S = 30


class StandInApiServer:
    """The pod status endpoint on a fixed port; ``down()`` closes it (connections are then
    refused) and ``up()`` opens it again. ``unavailable`` status posts are answered 503
    before the next ones are accepted."""

    def __init__(self) -> None:
        with socket.socket() as probe:  # a free port, kept across restarts
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.statuses: list[dict[str, Any]] = []  # accepted, in order
        self.unavailable = 0
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_PATCH(self) -> None:
                patch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if stand_in.unavailable > 0:
                    stand_in.unavailable -= 1
                    self.answer(503, {"kind": "Status", "code": 503})
                    return
                stand_in.statuses.append(patch["status"])
                self.answer(200, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})

            def answer(self, code: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output stays the worker's log

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def phase(self, phase: str) -> dict[str, Any] | None:
        """The first accepted status of ``phase``, if any."""
        return next((s for s in self.statuses if s["phase"] == phase), None)


@pytest.fixture
def api() -> Iterator[StandInApiServer]:
    server = StandInApiServer()
    server.up()
    yield server
    server.down()


@pytest.fixture
def start_worker(tmp_path: Path, api: StandInApiServer) -> Iterator[Any]:
    """Starts a worker for a pod whose one container runs ``sh -c script``; stops it (as
    the agent does when it shuts down) after the test."""
    workers: list[PodWorker] = []

    def start(script: str) -> PodWorker:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{api.port}"
        agent = AgentContext(
            core=client.CoreV1Api(client.ApiClient(configuration)),
            images={},
            pods_dir=tmp_path / "pods",
            server=configuration.host,
            ca_file=tmp_path / "ca.crt",
            host_path=os.environ["PATH"],
            register_log=lambda *args: None,
        )
        pod = {
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,  # no token to ask the API for
                "containers": [
                    {"name": "main", "image": "busybox", "command": ["sh", "-c", script]}
                ],
            },
        }
        worker = PodWorker(agent, pod)
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in workers:
        worker.request_delete(0, gone=True)
        worker.join(TIMEOUT_S)


def terminated(status: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = status["containerStatuses"][0]["state"]["terminated"]
    return state


def worker_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the worker logged at WARNING or above: it found the API server not answering
    (and, with the old code, gave the pod up)."""
    return [r for r in caplog.records if r.name == "pod-worker" and r.levelno >= logging.WARNING]


def test_the_terminal_status_is_posted_once_a_refusing_api_server_is_back(
    tmp_path: Path,
    api: StandInApiServer,
    start_worker: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = tmp_path / "release"
    os.mkfifo(release)
    worker = start_worker(f"read line < {release}")  # runs until the test writes a line
    wait_for(lambda: api.phase("Running"), timeout=TIMEOUT_S, what="the Running status")

    api.down()  # as the API server restarting: connections refused
    writer = wait_for(
        lambda: os.open(release, os.O_WRONLY | os.O_NONBLOCK),
        timeout=TIMEOUT_S,
        what="the container to open its fifo",
        ignore=(OSError,),
    )
    os.write(writer, b"done\n")
    os.close(writer)
    wait_for(
        lambda: worker_warnings(caplog),
        timeout=TIMEOUT_S,
        what="the worker to find the API server down",
    )
    api.up()

    succeeded = wait_for(
        lambda: api.phase("Succeeded"), timeout=TIMEOUT_S, what="the Succeeded status"
    )
    assert terminated(succeeded)["exitCode"] == 0
    assert api.phase("Failed") is None
    worker.join(TIMEOUT_S)
    assert not worker.is_alive()


def test_503_answers_are_retried_past_any_fixed_count(
    api: StandInApiServer, start_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        pod_worker, "STATUS_RETRY_MAX_S", 0.4, raising=False
    )  # the test's time, not its logic
    api.unavailable = 8
    start_worker("exit 0")
    succeeded = wait_for(
        lambda: api.phase("Succeeded"), timeout=TIMEOUT_S, what="the Succeeded status"
    )
    assert api.unavailable == 0
    assert terminated(succeeded)["exitCode"] == 0
    assert api.phase("Failed") is None


def test_retrying_stops_when_the_agent_stops(
    tmp_path: Path, api: StandInApiServer, start_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = tmp_path / "pid"
    api.down()
    worker = start_worker(
        f"echo $$$$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 600"
    )
    pid = wait_for(
        lambda: pid_file.exists() and int(pid_file.read_text()),
        timeout=TIMEOUT_S,
        what="the container to write its pid",
    )
    wait_for(
        lambda: worker_warnings(caplog),
        timeout=TIMEOUT_S,
        what="the worker to find the API server down",
    )
    worker.request_delete(2, gone=True)  # what the agent's shutdown does
    worker.join(TIMEOUT_S)
    assert not worker.is_alive()
    assert not process_alive(pid)


def test_a_child_in_the_containers_process_group_ends_with_its_main_process(
    tmp_path: Path, api: StandInApiServer, start_worker: Any
) -> None:
    child_pid = tmp_path / "child.pid"
    start_worker(f"sleep 600 & echo $! > {child_pid}")  # a forked child; the shell exits 0
    try:
        succeeded = wait_for(
            lambda: api.phase("Succeeded"), timeout=TIMEOUT_S, what="the Succeeded status"
        )
        assert terminated(succeeded)["exitCode"] == 0
        pid = int(child_pid.read_text())
        wait_for(lambda: not process_alive(pid), timeout=5, what=f"the child {pid} to end")
    finally:
        if child_pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(child_pid.read_text()), signal.SIGKILL)
