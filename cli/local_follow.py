"""`kubetune watch DIR` and `kubetune logs [-f] DIR TRIAL` on a local run directory, from
another terminal than the `kubetune run --local` that writes it.

watch shows what it shows of a TuningJob on a cluster (`kubetune.cli.watch.follow`),
reading DIR/status.yaml each time it changes (its inode, mtime and size, looked at every
POLL_SECONDS) and, on a terminal, at every --interval, the running trials' latest values
then coming from their files in DIR/logs. Whether the run still runs is told by DIR/.lock
(`recorded_run`: the run's pid and start time); once it no longer does and DIR has not
ended (a Ctrl-C, a SIGKILL, a suspended run with nothing left to run), one line says so
with the command that resumes it, and watch exits 1. A `kubetune run --local` checks its
manifest for seconds before it takes its directory (or creates it), and the same command
resumes a run: watch and logs -f call a run gone only once no run has used DIR for
STARTING_SECONDS on end (`RunGone`), and follow a resume started meanwhile.

logs prints the log of a trial's latest attempt (DIR/logs/<job>.log, `trial_job_name`);
with -f it follows the file until that attempt ends: its exit code is written
(<job>.exit), its process is stopped by the run (no <job>.pid, the trial recorded as
ended), or the run is gone (its trainers die with it). An interrupted attempt that a
resume starts again keeps its name, and its new log replaces the old file (a rename):
like `tail -F`, logs -f then reads the new file from its start, after a line on stderr.
A trial without a log yet: an error that says what it waits for, or with -f a line on
stderr while it waits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from kubetune.analytics.errors import KubetuneError, NotFoundError
from kubetune.analytics.local import (
    INTERRUPTED,
    LOGS,
    MANIFEST,
    STATUS,
    as_it_is,
    read_directory,
    recorded_run,
)
from kubetune.analytics.resource import Trial, TuningJobView, parse_tuning_job
from kubetune.cli.main import EXIT_OK, Context
from kubetune.cli.watch import Reading, logged_values
from kubetune.operator.api.naming import trial_job_name

POLL_SECONDS = 0.1
"""How often a file being written is looked at again (a local run writes no events)."""
STARTING_SECONDS = 10.0
"""How long a run directory must be seen unused before watch and logs -f call its run gone:
longer than a `kubetune run --local` takes to check its manifest and take the directory
(4.4 to 6.5 s measured on a loaded two-core machine)."""
CHUNK_BYTES = 64 * 1024


def _resume(directory: Path) -> str:
    return f"`kubetune run --local MANIFEST --out {directory}` resumes it"


def _status_stamp(directory: Path) -> tuple[int, int, int] | None:
    """What changes at each write of DIR/status.yaml (replaced by a rename: a new inode)."""
    try:
        stat = (directory / STATUS).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def wait_for_directory(directory: Path) -> None:
    """Until `directory` holds a run (its tuningjob.yaml), STARTING_SECONDS at most."""
    deadline = time.monotonic() + STARTING_SECONDS
    while not (directory / MANIFEST).is_file() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


class RunGone:
    """Whether the run that uses a directory is gone for good, as a follower tells it: not
    alive (`recorded_run`) at every look for STARTING_SECONDS on end. Seen alive, it is
    given that time again once it is gone: a run interrupted and resumed is followed on."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.run = ""
        """The run recorded last seen, as `recorded_run` words it ("": none)."""
        self.unused_since: float | None = None

    def __call__(self) -> bool:
        self.run, alive = recorded_run(self.directory)
        if alive is not False:
            self.unused_since = None
            return False
        now = time.monotonic()
        if self.unused_since is None:
            self.unused_since = now
        return now - self.unused_since >= STARTING_SECONDS


def not_running(directory: Path, view: TuningJobView, run: str) -> str:
    """The line of a run directory that has not ended and that no run uses; `run` the
    last run recorded, as `recorded_run` words it ("": none)."""
    ran = f"its last run ({run}) has ended" if run else "no run has used it"
    reason = f", {view.status.reason}" if view.status.reason else ""
    resume = _resume(directory)
    if view.spec.suspend:  # the same manifest would launch nothing again
        resume = f"set spec.suspend to false in its manifest; then {resume}"
    return f"{directory} is not running: {ran} (phase {view.phase}{reason}); {resume}"


class LocalRun:
    """A local run directory as `follow` watches it (`kubetune.cli.watch.Watched`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.stamp = _status_stamp(directory)
        self.gone = RunGone(directory)
        self.gone_seen = False

    def read(self) -> TuningJobView:
        self.stamp = _status_stamp(self.directory)  # first: a write after it is a change
        return _view_now(self.directory)

    def latest(self, view: TuningJobView) -> dict[str, Reading]:
        return logged_values(self.directory / LOGS, view)

    def wait(self, view: TuningJobView, until: float) -> None:
        while True:
            # The run first: it writes its last status before it exits, so once it is seen
            # gone, an unchanged status is its last.
            gone = self.gone()
            if _status_stamp(self.directory) != self.stamp:
                return
            if gone:
                if self.gone_seen:
                    raise KubetuneError(not_running(self.directory, view, self.gone.run))
                self.gone_seen = True
                return  # read once more: a killed run's trials are then shown interrupted
            self.gone_seen = False  # not gone for good: a run took DIR since
            if time.monotonic() >= until:
                return
            time.sleep(POLL_SECONDS)  # the condition poll of a file another process writes

    def after_timeout(self, view: TuningJobView) -> str:
        run, alive = recorded_run(self.directory)
        if alive is False:  # gone before watch's patience for a starting run was over
            return f". {not_running(self.directory, view, run)}."
        return "; it keeps running."


def _view_now(directory: Path) -> TuningJobView:
    """The run as DIR records it now, a killed run's trials shown interrupted, not Running."""
    body = read_directory(directory)
    as_it_is(body, directory)
    return parse_tuning_job(body, directory)


def _trial_now(directory: Path, name: str) -> Trial | None:
    """Trial `name` as DIR records it now (`_view_now`)."""
    return next((t for t in _view_now(directory).trials if t.name == name), None)


def _started_log(ctx: Context, directory: Path, trial: Trial) -> tuple[Path, Trial]:
    """The log of the trial's latest attempt, once its process has started, and the trial
    as then recorded. Before then:
    an error that says what the trial waits for, or with -f a line on stderr saying so
    (again when that changes) while it waits."""
    said = ""
    stamp = _status_stamp(directory)
    gone = RunGone(directory)
    while True:
        log = directory / LOGS / f"{trial_job_name(trial.name, trial.attempt)}.log"
        if log.is_file():
            return log, trial
        # An interrupted trial's message says how to resume, as the line does anyway.
        shown = (trial.reason,) if trial.reason == INTERRUPTED else (trial.reason, trial.message)
        detail = ": ".join(p for p in shown if p)
        text = f"trial {trial.name} is {trial.phase}" + (f" ({detail})" if detail else "")
        if trial.phase != "Pending":  # it ran: its log was removed since
            raise NotFoundError(f"{text}: it has no log ({log} is missing).")
        # Without -f, at once; with it, once a run that may be starting has had its time.
        if gone() if ctx.args.follow else recorded_run(directory)[1] is False:
            raise KubetuneError(
                f"{text}: it has no log yet, and {directory} is not running; {_resume(directory)}."
            )
        if not ctx.args.follow:
            command = f"kubetune logs {ctx.args.name} {ctx.args.trial} -f"
            raise KubetuneError(f"{text}: it has no log yet; `{command}` waits for it to start.")
        if text != said:
            ctx.err.write(f"{text}: waiting for it to start (Ctrl-C to stop)\n")
            ctx.err.flush()
            said = text
        time.sleep(POLL_SECONDS)  # the condition poll of a file another process writes
        if _status_stamp(directory) != stamp:
            stamp = _status_stamp(directory)
            trial = _trial_now(directory, trial.name) or trial


def _attempt_over(directory: Path, trial: Trial, job: str, gone: RunGone) -> bool:
    """Whether the trial's attempt whose Job is `job` has ended (its log is complete)."""
    logs = directory / LOGS
    if (logs / f"{job}.exit").exists() or gone():
        return True  # its process ended, or the run and its trainers with it, for good
    if (logs / f"{job}.pid").exists():
        return False
    # No process recorded: not yet (the run records it just after starting it), or the
    # run has stopped it (early stopping, the job's end), recording the trial's end first.
    now = _trial_now(directory, trial.name)
    return now is None or now.phase not in ("Pending", "Running") or now.attempt != trial.attempt


def _copy(source: IO[bytes], write: Callable[[bytes], Any]) -> bool:
    """What `source` holds past its position, written; whether there was anything."""
    copied = False
    while chunk := source.read(CHUNK_BYTES):
        write(chunk)
        copied = True
    return copied


def print_log(
    ctx: Context, directory: Path, view: TuningJobView, trial: str, write: Callable[[bytes], Any]
) -> int:
    """The log of `trial` (a name in `view`, the run in `directory`), through `write`;
    with -f followed until its attempt ends."""
    log, found = _started_log(ctx, directory, next(t for t in view.trials if t.name == trial))
    log_file = log.open("rb")
    try:
        _copy(log_file, write)
        if not ctx.args.follow:
            return EXIT_OK
        job, gone = log.name.removesuffix(".log"), RunGone(directory)
        while True:
            over = _attempt_over(directory, found, job, gone)  # first: then all it wrote
            if _copy(log_file, write):
                continue
            if _replaced(log, log_file):  # all the old file held is written: the new one
                ctx.err.write(f"trial {trial} was started again: its log begins anew\n")
                ctx.err.flush()
                log_file.close()
                log_file = log.open("rb")
            elif over:
                return EXIT_OK
            else:
                time.sleep(POLL_SECONDS)  # the condition poll of a file another process writes
    finally:
        log_file.close()


def _replaced(path: Path, file: IO[bytes]) -> bool:
    """Whether `path` now names another file than the open `file` (renamed over it)."""
    try:
        now = path.stat()
    except OSError:  # removed: nothing else to read
        return False
    opened = os.fstat(file.fileno())
    return (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino)
