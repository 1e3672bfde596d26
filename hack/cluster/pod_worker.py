"""One thread per pod: start its containers as local processes and report their lives.

The worker owns its pod's processes from start to end: it starts (init containers in
order, then all containers), restarts per ``restartPolicy``, posts every change through
the pod status subresource, and on deletion stops the processes (SIGTERM to the process
group, SIGKILL after the grace period) and deletes the pod with grace 0, as the kubelet
does. Events (a process exited, the pod is being deleted) arrive on a queue, so a
finished process is reported as soon as it ends.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from . import pod_config
from .container_logs import ContainerLog, termination_message
from .images import LocalImage
from .launch import LOCAL_IP, Container, Launch, LaunchError, Pod, plan_launch
from .processes import process_start_time
from .rest import body

log = logging.getLogger("pod-worker")

# Restart back-off after a container exits (the kubelet's CrashLoopBackOff: 10 s doubling
# to 5 min); shorter here, tests and trials restart in place.
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
WAITING_LAUNCH_ERRORS = frozenset({"ErrImagePull", "CreateContainerConfigError"})
"""What a kubelet keeps a pod Pending for, trying again with a backoff (an image that may
yet be pushed, a ConfigMap that may yet be created); any other launch error fails it."""
# After SIGKILL, how long to wait for the exit to be reaped before reporting anyway.
KILL_WAIT_S = 5.0
# After the main process exits, how long its output pipe may stay open (held by a child
# that left the process group) before the exit is reported anyway.
PIPE_DRAIN_S = 2.0
# A status update the API server does not answer (down, restarting, overloaded) is tried
# again, 0.2 s doubling to STATUS_RETRY_MAX_S apart, until it answers: as the kubelet's
# status manager, which never drops a pod's terminal phase.
STATUS_RETRY_FIRST_S = 0.2
STATUS_RETRY_MAX_S = 5.0
STATUS_TIMEOUT_S = 10.0  # per try: a hung API server counts as one that does not answer


@dataclass(frozen=True)
class AgentContext:
    """What every pod worker shares with the node agent."""

    core: client.CoreV1Api
    images: Mapping[str, LocalImage]
    pods_dir: Path
    server: str  # the API server's URL
    ca_file: Path
    host_path: str  # PATH of the node agent, the base of every container's PATH
    register_log: Callable[[str, str, str, int, ContainerLog], None]


@dataclass
class Exited:
    """A container process ended (``exit_code`` as the kubelet reports: 128 + signal), or
    could not start (``reason`` StartError and a ``message``)."""

    container: str
    generation: int
    exit_code: int
    reason: str | None = None
    message: str | None = None


@dataclass
class DeleteRequested:
    """The pod has a deletionTimestamp (``gone``: the object is already gone)."""

    grace_seconds: float
    gone: bool = False


@dataclass
class ContainerRun:
    """One container of the pod, across its restarts."""

    spec: Container
    init: bool = False
    restart_count: int = 0
    generation: int = 0
    process: subprocess.Popen[bytes] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    last_state: dict[str, Any] = field(default_factory=dict)
    restart_at: float | None = None  # monotonic time of a pending restart

    @property
    def name(self) -> str:
        name: str = self.spec["name"]
        return name

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return None if terminated is None else int(terminated["exitCode"])


class PodGoneError(Exception):
    """The pod object no longer exists; stop reporting."""


def exit_code_of(returncode: int) -> int:
    """Popen's returncode (negative: killed by that signal) → the kubelet's exit code."""
    return 128 - returncode if returncode < 0 else returncode


class PodWorker(threading.Thread):
    """Runs one pod; see the module docstring. Start it with ``start()``."""

    def __init__(self, agent: AgentContext, pod: Pod) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.agent = agent
        self.pod = pod
        self.namespace: str = meta["namespace"]
        self.pod_name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.key = f"{self.namespace}/{self.pod_name}"
        self.events: queue.Queue[Exited | DeleteRequested] = queue.Queue()
        self.pod_dir: Path = agent.pods_dir / self.namespace / self.pod_name
        spec = pod["spec"]
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.init_runs = [ContainerRun(c, init=True) for c in spec.get("initContainers") or []]
        self.runs = [ContainerRun(c) for c in spec.get("containers") or []]
        self.start_time = timestamp_seconds()
        self.conditions: dict[str, tuple[str, str, str]] = {}  # type → (status, reason, time)
        self.deleting: DeleteRequested | None = None
        self.launches: dict[str, Launch] = {}
        # Closed once the worker stops reading events; see request_delete.
        self._accepting = True
        self._accepting_lock = threading.Lock()
        # Set once the pod is gone or the agent stops: status updates stop being retried.
        self._gone = threading.Event()

    # ----- called from the agent's threads -----

    def request_delete(self, grace_seconds: float, gone: bool = False) -> bool:
        """The pod is being deleted (or is gone): stop its processes and delete it. False
        when the worker has already ended: the caller then finishes the deletion."""
        if gone:
            self._gone.set()
        with self._accepting_lock:
            if self._accepting:
                self.events.put(DeleteRequested(grace_seconds, gone))
            return self._accepting

    # ----- the worker thread -----

    def run(self) -> None:
        try:
            self._lifecycle()
        except PodGoneError:
            log.info("%s: pod gone; stopping its processes", self.key)
            self._stop_all(grace_seconds=0)
        except Exception:
            log.exception("%s: unexpected error; failing the pod", self.key)
            self._stop_all(grace_seconds=0)
            with contextlib.suppress(Exception):
                self._post("Failed", reason="NodeAgentError")
        finally:
            for record in self.pod_dir.glob("*.pgid"):
                record.unlink(missing_ok=True)
            with self._accepting_lock:
                self._accepting = False
            # A deletion that arrived while the terminal status was being posted.
            while not self.events.empty():
                event = self.events.get()
                if isinstance(event, DeleteRequested) and self.deleting is None:
                    self.deleting = event
                    self._delete_pod()

    def _lifecycle(self) -> None:
        if self.pod_dir.exists():  # a previous pod of the same name
            shutil.rmtree(self.pod_dir, ignore_errors=True)
        (self.pod_dir / "scratch").mkdir(parents=True)
        tries = 0
        while (error := self._plan_launches()) is not None:
            log.info("%s: cannot start: %s: %s", self.key, error.reason, error.message)
            if error.reason not in WAITING_LAUNCH_ERRORS:
                self._fail_before_start(error)
                return
            self._wait_before_start(error, backing_off=tries > 0)
            try:
                event = self.events.get(timeout=min(BACKOFF_FIRST_S * 2**tries, BACKOFF_MAX_S))
            except queue.Empty:
                event = None
            if isinstance(event, DeleteRequested):
                self.deleting = event
                return self._finish()
            tries += 1

        for run in self.init_runs:
            if not self._run_until_done([run], restart=self._init_restart):
                return self._finish()
            if run.exit_code != 0:
                return self._finish(init_failed=True)
        self._set_condition("Initialized", "True")
        self._run_until_done(self.runs, restart=self._should_restart)
        self._finish()

    def _plan_launches(self) -> LaunchError | None:
        """Plans how to start every container; why it cannot, if it cannot."""
        try:
            base_env = self._base_env()
            for run in self.init_runs + self.runs:
                self.launches[run.name] = plan_launch(
                    self.pod,
                    run.spec,
                    images=self.agent.images,
                    base_env=base_env,
                    lookup=self._lookup,
                    scratch_dir=str(self.pod_dir / "scratch"),
                )
        except LaunchError as error:
            return error
        return None

    def _should_restart(self, exit_code: int) -> bool:
        return self.restart_policy == "Always" or (
            self.restart_policy == "OnFailure" and exit_code != 0
        )

    def _init_restart(self, exit_code: int) -> bool:
        return self.restart_policy != "Never" and exit_code != 0

    def _run_until_done(self, runs: list[ContainerRun], restart: Callable[[int], bool]) -> bool:
        """Starts ``runs`` and handles events until every one has ended for good; False
        if the pod was deleted meanwhile (its processes are then stopped)."""
        for run in runs:
            self._start(run)
        self._post_progress()
        while True:
            if all("terminated" in r.state and r.restart_at is None for r in runs):
                return True
            pending = [r.restart_at for r in runs if r.restart_at is not None]
            timeout = max(0.0, min(pending) - time.monotonic()) if pending else None
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                event = None
            if isinstance(event, DeleteRequested):
                self.deleting = event
                self._stop_all(event.grace_seconds)
                return False
            if isinstance(event, Exited):
                self._on_exit(runs, event, restart)
            now = time.monotonic()
            for run in runs:
                if run.restart_at is not None and run.restart_at <= now:
                    run.restart_at = None
                    run.last_state = run.state
                    run.restart_count += 1
                    self._start(run)
            self._post_progress()

    def _on_exit(
        self, runs: list[ContainerRun], event: Exited, restart: Callable[[int], bool]
    ) -> None:
        run = next((r for r in runs if r.name == event.container), None)
        if run is None or run.generation != event.generation:
            return
        self._terminated(run, event.exit_code, event.reason, event.message)
        log.info("%s: container %s exited with %d", self.key, run.name, event.exit_code)
        if restart(event.exit_code):
            # The first restart is immediate, later ones back off (2 s doubling to 30 s).
            delay = min(BACKOFF_FIRST_S * 2**run.restart_count, BACKOFF_MAX_S)
            run.restart_at = time.monotonic() + (delay if run.restart_count else 0.0)

    def _terminated(
        self,
        run: ContainerRun,
        exit_code: int,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        running = run.state.get("running", {})
        run.state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
                "startedAt": running.get("startedAt", timestamp_seconds()),
                "finishedAt": timestamp_seconds(),
                "containerID": running.get("containerID", ""),
            }
        }
        if (
            not message
            and exit_code != 0
            and run.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            # What the kubelet does (we have no terminationMessagePath file, so it is
            # always empty): a failed container's log tail says why it failed.
            message = termination_message(self._log_path(run))
        if message:
            run.state["terminated"]["message"] = message
        if run.process is not None:
            (self.pod_dir / f"{run.name}.pgid").unlink(missing_ok=True)
            run.process = None

    def _log_path(self, run: ContainerRun) -> Path:
        """The log of the container's current run (as the kubelet names it: restart count)."""
        return self.pod_dir / run.name / f"{run.restart_count}.log"

    def _start(self, run: ContainerRun) -> None:
        """Starts one container's process with its output relayed to a log file."""
        launch = self.launches[run.name]
        run.generation += 1
        container_log = ContainerLog(self._log_path(run))
        self.agent.register_log(
            self.namespace, self.pod_name, run.name, run.restart_count, container_log
        )
        cwd = launch.cwd or str(self.pod_dir / "scratch")
        read_fd, write_fd = os.pipe()
        try:
            os.makedirs(cwd, exist_ok=True)
            process = subprocess.Popen(
                launch.argv,
                executable=launch.executable,
                env=launch.env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,  # its own process group: signals reach its children
            )
        except OSError as e:
            os.close(read_fd)  # write_fd is closed below, once
            container_log.finished = True
            message = f"starting {launch.argv[0]!r} in {cwd!r}: {e}"
            log.info("%s: container %s: %s", self.key, run.name, message)
            self.events.put(Exited(run.name, run.generation, 128, "StartError", message))
            return
        finally:
            os.close(write_fd)  # the child holds its own copy
        # Recorded for `cluster down`, in case the node agent itself is killed.
        start_time = process_start_time(process.pid) or 0
        (self.pod_dir / f"{run.name}.pgid").write_text(f"{process.pid} {start_time}\n")
        run.process = process
        run.state = {
            "running": {"startedAt": timestamp_seconds(), "containerID": f"local://{process.pid}"}
        }
        log.info(
            "%s: container %s started, pid %d: %s", self.key, run.name, process.pid, launch.argv
        )
        relay = threading.Thread(
            target=container_log.relay,
            args=(read_fd,),
            name=f"log-{self.key}/{run.name}",
            daemon=True,
        )
        relay.start()
        generation = run.generation

        def wait() -> None:
            returncode = wait_and_kill_group(process)
            relay.join(PIPE_DRAIN_S)  # the last lines are in the file before the exit is told
            self.events.put(Exited(run.name, generation, exit_code_of(returncode)))

        threading.Thread(target=wait, name=f"wait-{self.key}/{run.name}", daemon=True).start()

    def _stop_all(self, grace_seconds: float) -> None:
        """SIGTERM every running container's process group, SIGKILL after the grace period;
        returns once each exit is recorded (or KILL_WAIT_S after SIGKILL)."""
        for run in self.init_runs + self.runs:
            run.restart_at = None
        runs = [r for r in self.init_runs + self.runs if r.process is not None]
        if not runs:
            return
        log.info("%s: stopping %d containers (grace %.0f s)", self.key, len(runs), grace_seconds)
        for run in runs:
            if run.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.process.pid, signal.SIGTERM)
        self._collect_exits(runs, time.monotonic() + grace_seconds)
        survivors = [r for r in runs if r.process is not None]
        for run in survivors:
            if run.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.process.pid, signal.SIGKILL)
        self._collect_exits(survivors, time.monotonic() + KILL_WAIT_S)
        for run in runs:
            if run.process is not None:  # never reaped in time: report it killed
                self._terminated(run, 137)

    def _collect_exits(self, runs: list[ContainerRun], deadline: float) -> None:
        while any(r.process is not None for r in runs):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                return
            if isinstance(event, Exited):
                run = next((r for r in runs if r.name == event.container), None)
                if run is not None and run.generation == event.generation:
                    self._terminated(run, event.exit_code)
            elif isinstance(event, DeleteRequested) and event.gone:
                self.deleting = event

    def _finish(self, init_failed: bool = False) -> None:
        """Posts the terminal phase (or, if deleted, the final one) and handles deletion."""
        succeeded = not init_failed and all(r.exit_code == 0 for r in self.runs)
        if not (self.deleting and self.deleting.gone):
            self._post("Succeeded" if succeeded else "Failed")
        self._delete_pod()

    def _delete_pod(self) -> None:
        """The kubelet's last step: delete with grace 0 (the object then goes, or waits
        for its finalizers). Only for pods being deleted."""
        if self.deleting is None or self.deleting.gone:
            return
        try:
            self.agent.core.delete_namespaced_pod(
                self.pod_name,
                self.namespace,
                # In the body: with a body, the API server ignores the query parameter.
                body=body({"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}),
            )
        except ApiException as e:
            if e.status not in (404, 409):
                log.warning("%s: final delete failed: %s %s", self.key, e.status, e.reason)
        log.info("%s: deleted", self.key)

    # ----- status -----

    def _set_condition(self, kind: str, status: str, reason: str = "") -> None:
        old = self.conditions.get(kind)
        if old is None or old[0] != status or old[1] != reason:
            self.conditions[kind] = (status, reason, timestamp_seconds())

    def _container_status(self, run: ContainerRun) -> dict[str, Any]:
        state = run.state or {"waiting": {"reason": "PodInitializing"}}
        status: dict[str, Any] = {
            "name": run.name,
            "image": run.spec.get("image", ""),
            "imageID": "",
            "ready": run.running and not run.init,
            "started": run.running,
            "restartCount": run.restart_count,
            "state": state,
        }
        container_id = next(iter(state.values())).get("containerID")
        if container_id:
            status["containerID"] = container_id
        if run.restart_at is not None:
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {run.name}",
                }
            }
            status["lastState"] = run.state
        elif run.last_state:
            status["lastState"] = run.last_state
        return status

    def _post_progress(self) -> None:
        """Posts Pending (init containers) or Running with the containers' states."""
        initialized = self.conditions.get("Initialized", ("False",))[0] == "True" or not (
            self.init_runs
        )
        if initialized:
            self._set_condition("Initialized", "True")
        self._post("Running" if initialized else "Pending")

    def _post(self, phase: str, reason: str | None = None, message: str | None = None) -> None:
        """Patches the pod's status subresource; raises PodGoneError on 404."""
        terminal = phase in ("Succeeded", "Failed")
        all_ready = bool(self.runs) and all(r.running for r in self.runs)
        if terminal:
            self._set_condition("ContainersReady", "False", "PodCompleted")
            self._set_condition("Ready", "False", "PodCompleted")
        elif all_ready:
            self._set_condition("ContainersReady", "True")
            self._set_condition("Ready", "True")
        else:
            self._set_condition("ContainersReady", "False", "ContainersNotReady")
            self._set_condition("Ready", "False", "ContainersNotReady")
        self._set_condition("PodReadyToStartContainers", "True")
        self.conditions.setdefault(
            "Initialized", ("False", "ContainersNotInitialized", self.start_time)
        )
        conditions = [
            {"type": kind, "status": status, "lastTransitionTime": when, "lastProbeTime": None}
            | ({"reason": why} if why else {})
            for kind, (status, why, when) in self.conditions.items()
        ]
        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": LOCAL_IP,
            "hostIPs": [{"ip": LOCAL_IP}],
            "podIP": LOCAL_IP,
            "podIPs": [{"ip": LOCAL_IP}],
            "startTime": self.start_time,
            "conditions": conditions,
            "containerStatuses": [self._container_status(r) for r in self.runs],
        }
        if self.init_runs:
            status["initContainerStatuses"] = [self._container_status(r) for r in self.init_runs]
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        self._patch_status(status)

    def _patch_status(self, status: dict[str, Any]) -> None:
        """Patches the status subresource, trying again for as long as the API server does
        not answer (a refused connection, a timeout, 5xx, 429); raises PodGoneError on 404,
        or once the pod is gone or the agent stops while it waits."""
        delay = STATUS_RETRY_FIRST_S
        while True:
            try:
                self.agent.core.patch_namespaced_pod_status(
                    self.pod_name,
                    self.namespace,
                    {"status": status},
                    _request_timeout=STATUS_TIMEOUT_S,
                )
                return
            except ApiException as e:
                if e.status == 404:
                    raise PodGoneError from e
                # 0: the client's own connection failure (TLS); anything else is an answer.
                if e.status not in (0, 429) and e.status < 500:
                    raise
                cause = f"{e.status} {e.reason}"
            except (urllib3.exceptions.HTTPError, OSError) as e:
                cause = str(getattr(e, "reason", None) or e)  # MaxRetryError: the last error
            log.warning("%s: status update failed (%s); retrying in %.1f s", self.key, cause, delay)
            if self._gone.wait(delay):  # the back-off, cut short when there is no one to tell
                raise PodGoneError
            delay = min(delay * 2, STATUS_RETRY_MAX_S)

    def _wait_before_start(self, error: LaunchError, backing_off: bool) -> None:
        """Keeps the pod Pending, its containers waiting for the reason, as a kubelet does
        (an image it could not pull reads ImagePullBackOff from the second try on)."""
        reason = error.reason
        if backing_off and reason == "ErrImagePull":
            reason = "ImagePullBackOff"
        for run in self.init_runs + self.runs:
            run.state = {"waiting": {"reason": reason, "message": error.message}}
        self._post("Pending")

    def _fail_before_start(self, error: LaunchError) -> None:
        """Ends the pod as Failed: no container could start (a command that is not there)."""
        for run in self.init_runs + self.runs:
            run.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": error.reason,
                    "message": error.message,
                    "startedAt": None,
                    "finishedAt": timestamp_seconds(),
                }
            }
        self._post("Failed", reason=error.reason, message=error.message)

    # ----- the environment -----

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        return pod_config.read_data(self.agent.core, kind, namespace, name)

    def _base_env(self) -> dict[str, str]:
        """What every container gets before its own env: PATH, HOME, the service host, and
        KUBECONFIG with the pod's ServiceAccount token (we cannot mount /var/run/secrets)."""
        port = self.agent.server.rsplit(":", 1)[1]
        env = {
            "PATH": self.agent.host_path,
            "HOME": os.environ.get("HOME", str(self.pod_dir)),
            "HOSTNAME": self.pod_name,
            "LANG": "C.UTF-8",
            # The repository's operator/ folder would shadow the stdlib module `operator`
            # for Python started from the repository root.
            "PYTHONSAFEPATH": "1",
            "KUBERNETES_SERVICE_HOST": LOCAL_IP,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
        }
        kubeconfig = pod_config.service_account_kubeconfig(
            self.agent.core,
            self.pod,
            self.pod_dir / "kubeconfig",
            server=self.agent.server,
            ca_file=self.agent.ca_file,
        )
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        return env


def wait_and_kill_group(process: subprocess.Popen[bytes]) -> int:
    """Waits for a container's main process to exit, SIGKILLs what is left of its process
    group (as a container runtime kills a container's processes when its main process
    ends), then reaps it and returns its returncode. The exit is awaited without reaping
    (WNOWAIT): until it is reaped, the pid, and so the group id, cannot be reused. A child
    that called setsid() has left the group and survives: only a cgroup would catch it."""
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def timestamp_seconds() -> str:
    """An RFC 3339 time with seconds, as metav1.Time serialises."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
