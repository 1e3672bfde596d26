"""`LocalKube`: a `KubeClient` whose trial Jobs are local processes (`kubetune run --local`).

The operator's own `reconcile()` runs against it, so a local run validates, plans, records
and reads metrics exactly as on a cluster. What it keeps in the run directory:

- `tuningjob.yaml`: the TuningJob (its spec, and a UID given once);
- `status.yaml`: the status, replaced atomically at every status write (the reconcile
  writes it before it launches anything: record before you act);
- `logs/<job>.job.yaml`: each Job's manifest; `logs/<job>.log` the primary container's
  stdout and stderr (begun anew, by a rename, only once a new process has started);
  `logs/<job>.exit` its exit code, written when the process ends. A
  Job without an exit code was interrupted: `resume()` starts its process again (as a
  Job controller would start a new pod), so the run keeps exactly its trials, unless its
  trial has ended meanwhile (its Job was being deleted): that Job is deleted instead;
- `logs/<job>.pid`: the process group of a Job's process while it runs (and its start
  time, against pid reuse): a run that died without stopping its trainers (SIGKILL, a
  power cut of the terminal) leaves it, and the next run stops that group before it
  starts the Job again, so a trial never runs twice at once.

Each trainer dies with the run: on Linux it gets PR_SET_PDEATHSIG (SIGKILL) before its
command starts, so even a SIGKILLed `kubetune run --local` leaves no trainer behind (the
trainer's own children, in its process group, are stopped by the next run's `resume()`).

A Job runs only its primary container (the one that receives the hyperparameters): its
`command` + `args`, env and `workingDir` as `build_trial_job` rendered them, never through
a shell, in its own process group. A container without a `command` runs the command its
image is mapped to (`--image NAME=CMD`).

Warm start: `spec.warmStart.parents` names TuningJobs; locally each name maps to the run
directory of an earlier local run (`parents`), read as the operator reads a parent from
the API server (its spec from `tuningjob.yaml`, its trials from `status.yaml`).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client.models
import yaml
from kubetune.operator.api import HYPERPARAMETERS_ENV
from kubetune.operator.api.naming import trial_job_name
from kubetune.operator.kube.client import ConflictError, JobNotStartedError, JobRejectedError
from kubetune.operator.kube.observe import last_words

MANIFEST = "tuningjob.yaml"
STATUS = "status.yaml"
LOGS = "logs"
CHUNK_BYTES = 64 * 1024
STOP_GRACE_SECONDS = 10.0
"""How long a stopped trial's process group gets between SIGTERM and SIGKILL."""
PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when its parent ends (Linux)."""
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that end a run: blocked while a trainer starts and is recorded, so none
can land between the two and leave a trainer that nobody knows of."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter where PyYAML has it: the status is written at every status write,
and grows with the trials (the pure-Python emitter took most of a long run's time)."""


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser where PyYAML has it, for the run's own files: every reader
(`kubetune trials`, `describe`, `watch` at each change, a resume) parses the status,
which the pure-Python parser took 1.4 s of for 1000 trials (257 KB), libyaml 0.3 s."""


def read_yaml(text: str) -> Any:
    """A run file's YAML (as `yaml.safe_load`; raises `yaml.YAMLError` alike)."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader: libyaml's SafeLoader


def write_atomically(path: Path, data: Any) -> None:
    """YAML to `path` through a temporary file and a rename: a reader never sees half."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(yaml.dump(data, Dumper=_DUMPER, sort_keys=False))
        os.replace(temporary, path)
    except BaseException:  # a full disk: no half-written temporary left behind
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


_MODEL_TYPE = re.compile(r"^(?:List\[(\w+)\]|Dict\[str, (\w+)\]|(\w+))$")
"""A field's type in the kubernetes client's models: a list of, a map of, or one value."""


def unknown_fields(value: Any, model: str, path: str) -> list[str]:
    """The fields of `value` (an object of the Kubernetes API type the kubernetes
    client's model `model` describes, e.g. V1JobSpec, at `path`) the type does not have,
    as the API server's strict field validation names them. Without an API server, the
    client's models are the schema: a field newer than the client would be reported."""
    cls = getattr(kubernetes.client.models, model, None)
    if cls is None or not isinstance(value, dict):
        return []  # a scalar, or an open `object` (an IntOrString, a raw extension)
    types = {cls.attribute_map[attribute]: kind for attribute, kind in cls.openapi_types.items()}
    unknown = []
    for key, child in value.items():
        if key not in types:
            unknown.append(f"{path}.{key}")
            continue
        match = _MODEL_TYPE.match(types[key])
        listed, mapped, single = match.groups() if match else (None, None, None)
        if listed and isinstance(child, list):
            for index, item in enumerate(child):
                unknown += unknown_fields(item, listed, f"{path}.{key}[{index}]")
        elif mapped and isinstance(child, dict):
            for name, item in child.items():
                unknown += unknown_fields(item, mapped, f"{path}.{key}.{name}")
        elif single:
            unknown += unknown_fields(child, single, f"{path}.{key}")
    return unknown


def primary_container(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The container that receives the hyperparameters (`build_trial_job` gives it the
    KUBETUNE_HYPERPARAMETERS variable)."""
    containers = manifest["spec"]["template"]["spec"].get("containers") or []
    for container in containers:
        if any(e.get("name") == HYPERPARAMETERS_ENV for e in container.get("env", [])):
            return dict(container)
    raise JobRejectedError("the trial template has no container")


def local_argv(container: Mapping[str, Any], images: Mapping[str, str]) -> list[str]:
    """The argv of a container run locally: its `command` (or its image's mapped command)
    followed by its `args`. Raises JobRejectedError naming the container and image."""
    name, image = container.get("name", "?"), container.get("image", "?")
    command = list(container.get("command") or [])
    if not command:
        if image not in images:
            raise JobRejectedError(
                f"container {name!r} has no command and its image {image!r} cannot run "
                f"locally; give the command it runs with --image {image}=CMD "
                f"(e.g. --image {image}='python train.py')"
            )
        command = shlex.split(images[image])
    return [*command, *(str(a) for a in container.get("args") or [])]


def local_env(container: Mapping[str, Any]) -> dict[str, str]:
    """This process's environment plus the container's literal `env` values."""
    env = dict(os.environ)
    for item in container.get("env") or []:
        if "value" not in item:
            raise JobRejectedError(
                f"container {container.get('name', '?')!r}: env {item.get('name')!r} uses "
                "valueFrom, which a local run cannot resolve; give it a literal value"
            )
        env[item["name"]] = str(item["value"])
    return env


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back (delivered on leaving) where POSIX allows."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def read_tail(path: Path, tail_lines: int, limit_bytes: int | None = None) -> bytes:
    """The last `tail_lines` lines of the file at `path`, read from its last `limit_bytes`
    bytes (all of it when None): a chatty trainer's log may be gigabytes. OSError where
    there is no such file."""
    with path.open("rb") as log_file:
        size = os.fstat(log_file.fileno()).st_size
        log_file.seek(max(0, size - (limit_bytes or size)))
        return b"".join(log_file.read().splitlines(keepends=True)[-tail_lines:])


def proc_stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command's name (state, ppid, pgrp, ...), or None
    where /proc has no such process (or there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), or
    None where /proc does not say: with the pid, it names one process, even after the pid
    is reused."""
    fields = proc_stat(pid)
    return None if fields is None else fields[19]


@functools.cache
def _prctl() -> Any:
    """libc's prctl on Linux, else None."""
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A `preexec_fn` for a trainer: on Linux it gets SIGKILL when the run's process ends,
    however that ends (SIGKILL included); the signals blocked while it starts are
    unblocked (a blocked signal mask survives exec)."""
    prctl = _prctl()

    def preexec() -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the run ended before prctl: end now
                os._exit(1)

    return preexec


def _stop_groups(
    groups: list[int], running: Callable[[int], bool], hurry: Callable[[], bool]
) -> None:
    """SIGTERM each process group that is `running`, then wait for them all against one
    deadline (STOP_GRACE_SECONDS, or until `hurry()`: a second Ctrl-C), then SIGKILL
    what still runs."""
    groups = [g for g in groups if running(g)]
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(running(g) for g in groups):
        if time.monotonic() >= deadline or hurry():
            break
        time.sleep(0.05)
    for group in groups:
        if running(group):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Whether process group `pgid` has a process that still runs (where /proc tells,
    zombies, which nobody may reap in a container, do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or another user's: not ours
        return False
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return True
    for entry in entries:
        fields = proc_stat(entry)
        with contextlib.suppress(IndexError, ValueError):
            if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
                return True  # state, ppid, pgrp: a process of the group, not a zombie
    return False


@dataclass
class _Job:
    manifest: dict[str, Any]
    created: str
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    finished: str | None = None


def read_run(directory: Path) -> dict[str, Any]:
    """The TuningJob of a local run directory: its manifest with the status last written."""
    body: dict[str, Any] = read_yaml((directory / MANIFEST).read_text())
    status_file = directory / STATUS
    if status_file.is_file():
        body["status"] = read_yaml(status_file.read_text()) or {}
    return body


class LocalKube:
    """A `KubeClient` for one TuningJob kept in `directory` (see the module docstring);
    `parents` maps warm-start parent names to their run directories."""

    def __init__(
        self,
        directory: Path,
        images: Mapping[str, str] | None = None,
        parents: Mapping[str, Path] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.directory = directory
        self.workdir = workdir or Path.cwd()
        """Where trials run (a container's relative `workingDir` is taken from it): the
        directory the run was first started from, whatever a resume's."""
        self.start_anew = f"run again with another --out (or delete {directory} first)"
        """How to start over once what ended the run is fixed: the directory keeps the
        ended run (`controller.Snapshot.start_anew`; on a cluster, a new TuningJob)."""
        self.log_timestamps = False
        """The log files have no times (`stream_log` ignores `timestamps`)."""
        self.logs = directory / LOGS
        self.images = dict(images or {})
        self.parents = dict(parents or {})
        self.body = read_run(directory)
        self.body["metadata"]["resourceVersion"] = "1"
        self.jobs: dict[str, _Job] = {}
        self.hurry = False
        """Set (by a second Ctrl-C) to SIGKILL the trials being stopped at once."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self._recover_finished_jobs()

    @property
    def uid(self) -> str:
        return str(self.body["metadata"]["uid"])

    def resume(self) -> list[str]:
        """Start again the Jobs that were interrupted (a manifest, no exit code); their
        names. Their trials start anew: the time the run was interrupted is not theirs,
        and their log (whose values the trial is judged by) begins again. A trainer of
        an earlier run still alive (that run was killed) is stopped first; a Job whose
        trial has ended (it was being deleted when the run was interrupted) is deleted,
        its log kept, not started again."""
        status = self.body.get("status") or {}
        phases = {
            trial_job_name(t["name"], t.get("attempt", 1)): t.get("phase")
            for t in status.get("trials") or []
        }
        for pid_file in sorted(self.logs.glob("*.pid")):
            if pid_file.stem not in self.jobs:
                self._stop_leftover(pid_file.stem)
        interrupted = []
        for manifest_file in sorted(self.logs.glob("*.job.yaml")):
            name = manifest_file.name.removesuffix(".job.yaml")
            if name in self.jobs:
                continue
            if phases.get(name, "Running") not in ("Pending", "Running"):
                manifest_file.unlink()  # the delete the interruption cut short
                continue
            self._start(
                name,
                read_yaml(manifest_file.read_text()),
                advice=f"fix it (or --image) and run the same command again on {self.directory}",
            )
            interrupted.append(name)
        started = {name: self.jobs[name].created for name in interrupted}
        for trial in status.get("trials") or []:
            job = trial_job_name(trial["name"], trial.get("attempt", 1))
            if job in started:
                trial["startTime"] = started[job]
        if started and status:
            write_atomically(self.directory / STATUS, status)
        return interrupted

    def _stop_leftover(self, name: str) -> None:
        """Stop the process group that an earlier run recorded for Job `name`, if it still
        runs (that run ended without stopping it): SIGTERM, then SIGKILL after the grace."""
        pid_file = self.logs / f"{name}.pid"
        try:
            record = read_yaml(pid_file.read_text()) or {}
        except FileNotFoundError:
            return
        pgid = int(record.get("pgid", 0))
        started = process_start(pgid) if pgid > 0 else None
        if pgid <= 0 or (started is not None and started != record.get("started")):
            pid_file.unlink()  # the pid now names another process: not ours
            return
        _stop_groups([pgid], _group_alive, lambda: self.hurry)
        pid_file.unlink()

    def _recover_finished_jobs(self) -> None:
        """Jobs whose process ended before a restart (an exit code on disk)."""
        for exit_file in sorted(self.logs.glob("*.exit")):
            record = read_yaml(exit_file.read_text())
            self.jobs[exit_file.stem] = _Job(
                manifest=record["manifest"],
                created=record["created"],
                exit_code=int(record["exitCode"]),
                finished=record["finished"],
            )

    # ------------------------------------------------------------------ processes

    def poll(self) -> bool:
        """Notice processes that ended (their exit codes go to disk); True if any did."""
        changed = False
        for name, job in self.jobs.items():
            if job.process is None or job.exit_code is not None:
                continue
            code = job.process.poll()
            if code is None:
                continue
            # A kubelet reports a container killed by signal N as 128 + N (137: SIGKILL,
            # the OOM killer's), where Popen says -N.
            job.exit_code, job.finished = 128 - code if code < 0 else code, _now()
            record = {
                "exitCode": job.exit_code,
                "created": job.created,
                "finished": job.finished,
                "manifest": job.manifest,
            }
            write_atomically(self.logs / f"{name}.exit", record)
            (self.logs / f"{name}.pid").unlink(missing_ok=True)
            changed = True
        return changed

    def wait(self, timeout: float, *, on_output: bool = False) -> None:
        """Until a trial process ends or `timeout` seconds pass, or with `on_output` until
        a running trial writes to its log (a new value to judge at a rung, or by the median
        rule, as soon as it is printed)."""
        deadline = time.monotonic() + timeout
        sizes = self._log_sizes() if on_output else {}
        while not self.poll() and time.monotonic() < deadline:
            if on_output and self._log_sizes() != sizes:
                return
            time.sleep(0.05)  # polling child processes: there is no portable wait-any

    def _log_sizes(self) -> dict[str, int]:
        sizes = {}
        for name in self.running():
            with contextlib.suppress(FileNotFoundError):
                sizes[name] = (self.logs / f"{name}.log").stat().st_size
        return sizes

    def running(self) -> list[str]:
        return [n for n, j in self.jobs.items() if j.process is not None and j.exit_code is None]

    def stop_all(self) -> None:
        """Stop every running trial without recording an end: they count as interrupted.
        All are sent SIGTERM at once and get one grace period together (cut short by
        setting `hurry`); each leaves `self.jobs` only once its process group is gone."""
        names = self.running()
        self._stop([p for p in (self.jobs[n].process for n in names) if p is not None])
        for name in names:
            del self.jobs[name]
            with contextlib.suppress(OSError):  # stopped all the same; a resume checks it
                (self.logs / f"{name}.pid").unlink(missing_ok=True)

    def _stop(self, processes: list[subprocess.Popen[bytes]]) -> None:
        """Stop trainers, each with its process group (`_stop_groups`), and reap them. A
        group runs until its last process ends, not its trainer: a child that ignores
        SIGTERM is killed after the grace, as the kubelet kills a container's processes."""
        by_group = {process.pid: process for process in processes}

        def running(group: int) -> bool:
            return by_group[group].poll() is None or _group_alive(group)

        _stop_groups(list(by_group), running, lambda: self.hurry)
        for process in processes:
            process.wait()

    # ------------------------------------------------------------------ KubeClient

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        if name != self.body["metadata"]["name"]:
            parent = self.parents.get(name)
            return None if parent is None else read_run(parent)
        # A copy, as the API server gives one: the reconcile's changes to it are not the
        # stored object's. Not through YAML: read at every look, it grows with the trials.
        return copy.deepcopy(self.body)

    def list_trial_jobs(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        self.poll()
        jobs = []
        for name, job in self.jobs.items():
            meta = {
                **job.manifest["metadata"],
                "uid": f"job-{name}",
                "creationTimestamp": job.created,
            }
            status: dict[str, Any] = {"startTime": job.created}
            if job.exit_code is not None:
                # The Job controller's verdict, at once: local mode runs a trainer once
                # (backoffLimit has no say), so its exit ends the trial either way.
                condition = "Complete" if job.exit_code == 0 else "Failed"
                status["conditions"] = [{"type": condition, "status": "True"}]
            jobs.append({**job.manifest, "metadata": meta, "status": status})
        return jobs

    def list_trial_pods(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        pods = []
        for name, job in self.jobs.items():
            container = primary_container(job.manifest)["name"]
            state: dict[str, Any]
            if job.exit_code is None:
                phase, state = "Running", {"running": {"startedAt": job.created}}
            else:
                phase = "Succeeded" if job.exit_code == 0 else "Failed"
                state = {"terminated": {"exitCode": job.exit_code, "finishedAt": job.finished}}
                said = self._last_words(name) if job.exit_code else ""
                if said:
                    state["terminated"]["message"] = said
            pods.append(
                {
                    "metadata": {
                        "name": name,
                        "uid": f"pod-{name}",
                        "labels": dict(job.manifest["metadata"]["labels"]),
                        "ownerReferences": [{"kind": "Job", "uid": f"job-{name}"}],
                        "creationTimestamp": job.created,
                    },
                    "status": {
                        "phase": phase,
                        "containerStatuses": [{"name": container, "state": state}],
                    },
                }
            )
        return pods

    def _last_words(self, name: str) -> str:
        """The last non-empty line a failed trainer printed, as its container's termination
        message: what the kubelet gives a trial's pod (FallbackToLogsOnError, which
        `trial_job` sets) and the trial's message quotes (`observe.last_words`)."""
        try:
            tail = read_tail(self.logs / f"{name}.log", 5, 4096)
        except OSError:
            return ""
        return last_words(tail.decode(errors="replace"))

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        name = manifest["metadata"]["name"]
        if name in self.jobs:
            return False
        self._start(name, manifest)
        write_atomically(self.logs / f"{name}.job.yaml", manifest)
        return True

    def _start(
        self,
        name: str,
        manifest: dict[str, Any],
        advice: str = "fix the command and rerun with another --out",
    ) -> None:
        container = primary_container(manifest)
        argv, env = local_argv(container, self.images), local_env(container)
        # The new log is written beside the old one and replaces it only once the process
        # has started: a restart that cannot start leaves the interrupted attempt's log.
        log, fresh = self.logs / f"{name}.log", self.logs / f".{name}.log.new"
        with fresh.open("wb") as log_file, _signals_blocked():
            try:
                process = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=self.workdir / (container.get("workingDir") or ""),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, stopped as one
                    preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509 (prctl, getppid, sigmask only)
                )
            except OSError as error:
                fresh.unlink(missing_ok=True)
                raise JobNotStartedError(
                    f"spec.trialTemplate: cannot start the command {argv[0]!r} of container "
                    f"{container.get('name')!r}: {error}; {advice}"
                ) from None
            os.replace(fresh, log)
            self.jobs[name] = _Job(manifest=manifest, created=_now(), process=process)
            record = {"pgid": process.pid, "started": process_start(process.pid)}
            write_atomically(self.logs / f"{name}.pid", record)

    def delete_job(self, namespace: str, name: str, owner_uid: str) -> None:
        # Every Job here is this run's: the run directory holds no one else's.
        # Recorded before acted on: an interruption while its trainer is being stopped
        # leaves no manifest that a resume would start again; the Job stays in
        # `self.jobs` until its process is gone, for `stop_all` to finish the stop.
        for suffix in (".exit", ".job.yaml"):
            (self.logs / f"{name}{suffix}").unlink(missing_ok=True)
        job = self.jobs.get(name)
        if job is not None and job.process is not None:
            self._stop([job.process])
        self.jobs.pop(name, None)
        (self.logs / f"{name}.pid").unlink(missing_ok=True)

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        meta = self.body["metadata"]
        if meta["resourceVersion"] != resource_version:
            raise ConflictError(f"TuningJob {name} changed; re-reading it")
        merged = dict(self.body.get("status") or {})
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        write_atomically(self.directory / STATUS, merged)
        self.body["status"] = merged
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return self.get_tuning_job(namespace, name) or {}

    def stream_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        if follow:  # the run loop reads the files at every reconcile instead
            raise ValueError("a local run does not follow logs")
        path = self.logs / f"{pod}.log"
        if tail_lines is not None:
            yield read_tail(path, tail_lines, limit_bytes)
            return
        with path.open("rb") as log_file:
            left = limit_bytes
            while left is None or left > 0:
                chunk = log_file.read(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def post_event(self, tuning_job: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Events of a local run are not kept (the status says what matters)."""

    def pod_creation_refusal(self, namespace: str, job_uid: str) -> str | None:
        """A local trial's process starts with its Job, or the Job is not created."""
        return None
