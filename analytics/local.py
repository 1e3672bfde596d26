"""A TuningJob kept in a directory instead of a cluster (for local runs, issue 15):
`tuningjob.yaml` holds the object (apiVersion, kind, metadata, spec, optionally status)
and `status.yaml`, when present, its status (camelCase, as the operator writes it);
`logs/` each trial Job's output (`logs/<job>.log`); `.lock` the record of the
`kubetune run --local` that uses the directory (its pid, start time and host), by which
a reader tells whether that run still runs (`recorded_run`); `parents.yaml` where a
warm-started run found its parents' run directories (`parent_directories`).

A run that died without recording its end (SIGKILL, a machine that went down) leaves its
trials Running in status.yaml (those it was launching, Pending). Every reader (the CLI's
`kubetune trials`, `describe`, ... and `TuningJobAnalytics(directory=...)`) shows them as
what they are, interrupted, through `as_it_is`, once the run recorded in `.lock` no longer
runs, and writes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubetune.analytics.errors import KubetuneError, NotFoundError
from kubetune.operator.api import TERMINAL_PHASES
from kubetune.operator.api.naming import trial_job_name
from kubetune.operator.kube.local import proc_stat, read_yaml

MANIFEST = "tuningjob.yaml"
STATUS = "status.yaml"
LOGS = "logs"
LOCK = ".lock"
"""DIR/.lock: flocked while a run uses DIR; holds that run's pid, start time and host."""
PARENTS = "parents.yaml"
"""DIR/parents.yaml: each warm-start parent's name and the run directory the run read it
from (absolute), as `kubetune run --local` last found them."""
INTERRUPTED = "Interrupted"
"""The reason of a local run stopped by Ctrl-C, and of each trial it stopped (written by
`kubetune run --local`; the same command resumes the run)."""


def _mapping(path: Path) -> dict[str, Any]:
    try:
        data = read_yaml(path.read_text())
    except yaml.YAMLError as error:
        raise KubetuneError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise KubetuneError(f"{path} must hold a mapping, not {type(data).__name__}")
    return data


def read_directory(directory: Path | str) -> dict[str, Any]:
    """The TuningJob object stored in `directory`, as the API server would return it (as
    written: `as_it_is` corrects a run that died without recording its end)."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    if not manifest.is_file():
        if directory.is_file():  # a manifest, most likely: the run it describes is elsewhere
            raise NotFoundError(
                f"{directory} is a file, not a run directory: `kubetune run --local "
                f"{directory} --out DIR` runs it and writes its run directory DIR"
            )
        if not directory.exists():
            raise NotFoundError(
                f"no run directory {directory}: `kubetune run --local MANIFEST --out "
                f"{directory}` writes one"
            )
        raise NotFoundError(f"no TuningJob in {directory}: {MANIFEST} is missing")
    body = _mapping(manifest)
    status = directory / STATUS
    if status.is_file():
        body["status"] = _mapping(status)
    body.setdefault("metadata", {}).setdefault("name", directory.name)
    return body


def parent_directories(directory: Path, names: Sequence[str]) -> dict[str, Path]:
    """The run directory of each warm-start parent in `names` of the run in `directory`:
    the one DIR/parents.yaml records, else the directory of its name beside `directory`,
    where `kubetune run --local` looks for it by default (a run written before
    parents.yaml was)."""
    recorded: dict[str, Any] = {}
    with contextlib.suppress(OSError, KubetuneError):
        recorded = _mapping(directory / PARENTS)
    found = {}
    for name in names:
        where = recorded.get(name)
        found[name] = Path(where) if isinstance(where, str) else directory.absolute().parent / name
    return found


def run_record(text: str) -> dict[str, Any]:
    """DIR/.lock's record of the run ({} where it holds none); a bare pid as written before
    the start time was."""
    with contextlib.suppress(yaml.YAMLError):
        record = read_yaml(text)
        if isinstance(record, int):
            return {"pid": record}
        if isinstance(record, dict) and isinstance(record.get("pid"), int):
            return record
    return {}


def _record(directory: Path) -> dict[str, Any]:
    try:
        return run_record((directory / LOCK).read_text())
    except OSError:
        return {}


def recorded_run(directory: Path) -> tuple[str, bool | None]:
    """The run recorded in DIR/.lock, as `gone_run` words it ("pid N", or "pid N on host
    H" for a run of another host; "" where none is recorded), and whether it still runs:
    False once that process is gone (no such pid, a zombie, or the pid now another
    process's: its start time differs) or where no run is recorded. A run of another host,
    whose pids are not this machine's, runs while DIR/.lock is locked (`_lock_held`);
    None where that cannot be told."""
    record = _record(directory)
    pid: int = record.get("pid", 0)
    host = record.get("host")
    if pid <= 0:
        return "", False
    if host is not None and host != socket.gethostname():
        return f"pid {pid} on host {host}", _lock_held(directory / LOCK)
    run = f"pid {pid}"
    fields = proc_stat(pid)
    if fields is None:  # gone, unless /proc does not show it (no /proc, hidepid): ask kill
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return run, False
        except PermissionError:  # another user's process: it runs
            pass
        return run, True
    started = record.get("started")
    return run, not (fields[0] == "Z" or (started is not None and fields[19] != started))


def _lock_held(lock: Path) -> bool | None:
    """Whether a process holds the run's flock on `lock`: a run of another host on a shared
    file system (Linux NFS clients pass flock on to the server as a whole-file lock) holds
    it while it runs, and a run directory copied from another machine holds none. None
    where the file system refuses locks (an NFS mount without a lock service). The shared
    lock taken to ask is released at once, when the file closes (a run that starts at that
    moment tries its own again: `kubetune.cli.local_run.lock_directory`)."""
    try:
        with lock.open("rb") as file:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    return False


def gone_run(directory: Path) -> str | None:
    """The run recorded in DIR/.lock if that process no longer runs, as `recorded_run`
    words it. None while it runs, and where that cannot be told (no record; another host's
    run on a file system without locks)."""
    run, alive = recorded_run(directory)
    return run if run and alive is False else None


def interrupt(
    status: dict[str, Any], cause: str, at: datetime, finished: frozenset[str] = frozenset()
) -> bool:
    """`status` (changed in place) as it is once its run was interrupted at `at`: the
    trials that were running (their processes stopped, their Jobs kept) Pending, reason
    Interrupted, their attempt ended then (a duration that stops growing); those that were
    Pending (being launched: `_cut_short`) Pending, reason Interrupted, with no end (their
    attempt had no start); those already so (a resume that did not start them again) say
    the new cause, their end kept; the job says so (reason Interrupted, its Running
    condition False). `finished`: trials whose trainer had ended, its exit code written,
    but not recorded when the run was killed (`as_it_is`): a resume records them from
    their logs, it does not start them again. False for a job that has ended, which no
    interruption changes."""
    if not status or status.get("phase") in TERMINAL_PHASES:
        return False
    now = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    trials = [t for t in status.get("trials") or [] if t.get("phase") in ("Pending", "Running")]
    running = sum(t.get("phase") == "Running" for t in trials)
    message = f"interrupted ({cause}); the same `kubetune run --local` command starts it again"
    recorded = (
        f"its trainer ended before its run recorded it (interrupted: {cause}); the same "
        "`kubetune run --local` command records it from its log"
    )
    for trial in trials:
        if trial.get("phase") == "Running":
            trial["endTime"] = now
        ended = trial["name"] in finished
        trial.update(phase="Pending", reason=INTERRUPTED, message=recorded if ended else message)
    move_counted(status, running, "running", "pending")
    again = [t["name"] for t in trials if t["name"] not in finished]
    records = [t["name"] for t in trials if t["name"] in finished]
    then = f", starting {', '.join(again)} again" if again else ""
    if records:
        then += f"{',' if again else ''} recording {', '.join(records)} from the logs"
    message = f"interrupted ({cause}); the same `kubetune run --local` command resumes it{then}"
    status.update(reason=INTERRUPTED, message=message)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Running":
            condition.update(
                status="False", reason=INTERRUPTED, message=message, lastTransitionTime=now
            )
    return True


def _cut_short(trial: dict[str, Any]) -> bool:
    """Whether an interruption of its run cuts `trial` short and has not said so yet:
    Running, or Pending and not Interrupted. A local run launches a trial it records at
    once (no scheduler, no quota keeps one waiting), so a Pending one had its trainer
    started, or about to be, when the run was interrupted."""
    phase = trial.get("phase")
    return phase == "Running" or (phase == "Pending" and trial.get("reason") != INTERRUPTED)


def move_counted(status: dict[str, Any], count: int, source: str, target: str) -> None:
    """`count` trials moved from `status.counters[source]` to `[target]` (where it has
    counters)."""
    counters = status.get("counters")
    if count and isinstance(counters, dict):
        counters[source] = max(int(counters.get(source) or 0) - count, 0)
        counters[target] = int(counters.get(target) or 0) + count


def as_it_is(body: dict[str, Any], directory: Path) -> str | None:
    """For the readers of a local run (`kubetune trials`, `describe`, ...,
    `TuningJobAnalytics`): its TuningJob `body`, read from `directory`, as it is when the
    run that wrote it died without recording its end (SIGKILL, a machine that went down):
    interrupted, as `interrupt` says, when last seen alive (the latest write to the status,
    to its .lock or to a running trial's log). Changed in `body` only, nothing written (a
    resume starts the trials that the file still has Running). The line that says so, or
    None: the run still runs, ended as it recorded, or cannot be told about (see
    `gone_run`)."""
    status = body.get("status") or {}
    phases = [t.get("phase") for t in status.get("trials") or []]
    cut_short = [t for t in status.get("trials") or [] if _cut_short(t)]
    if (
        not status  # nothing recorded: nothing to correct
        or status.get("phase") in TERMINAL_PHASES
        or (status.get("reason") == INTERRUPTED and not cut_short)  # recorded so
        or ((body.get("spec") or {}).get("suspend") and not {"Pending", "Running"} & set(phases))
    ):
        return None  # not running when the run ended (a suspended run exits with nothing)
    run = gone_run(directory)
    if run is None:
        return None
    # A run touches DIR/.lock every second or so (`local_run.ALIVE_SECONDS`); one written
    # before it did is bounded by its last writes.
    seen = [directory / STATUS, directory / LOCK] + [
        directory / LOGS / f"{trial_job_name(t['name'], t.get('attempt', 1))}.log"
        for t in cut_short
    ]
    last = max((p.stat().st_mtime for p in seen if p.is_file()), default=None)
    at = datetime.now(UTC) if last is None else datetime.fromtimestamp(last, UTC)
    # Killed within a second of launching, a run has its trials still Pending: they are
    # shown interrupted, but the line does not call them running.
    if "Running" in phases:
        shown = "its running trials are shown interrupted"
    elif cut_short:
        shown = "its trials being launched are shown interrupted"
    else:
        shown = "it is shown interrupted; none of its trials was recorded running"
    # A trainer that ended has its exit code in logs/, recorded or not (a run busy with a
    # GP fit, then killed, had 7 of 8 so).
    finished = frozenset(
        t["name"]
        for t in cut_short
        if (directory / LOGS / f"{trial_job_name(t['name'], t.get('attempt', 1))}.exit").is_file()
    )
    interrupt(status, f"the run that wrote it, {run}, is no longer alive", at, finished)
    return (
        f"the run that wrote {directory} ({run}) is no longer alive: {shown}; "
        f"`kubetune run --local MANIFEST --out {directory}` resumes it"
    )
