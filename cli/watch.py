"""`kubetune watch NAME`: follow a TuningJob until it ends; NAME may be a local run
directory, followed from another terminal (`kubetune.cli.local_follow`).

On a terminal the screen shows, redrawn at every read: a progress bar of trials, the best
so far, the running trials with their latest intermediate objective value (the last
match of the objective's regex in the last lines of their log: the pod's, or the file in
a local run's logs/) and its step, when the lines read are the whole log, and the latest
retries seen. Elsewhere (a pipe, a CI log) it is quiet: a first line (the job's phase and
counts, to show it is alive), one line per trial that is retried or ends, and a last line
when the job ends.
While no operator serves the cluster's job (`kubetune.cli.serving`: its heartbeat Leases,
re-read every OPERATOR_CHECK_SECONDS) the screen says so under its first line; the quiet
mode says so in a Note line when that starts, and in another when an operator serves it
again.
Exit code 0 when the job ends Completed or Stopped, 1 when it ends Failed, is deleted, or
--timeout passes first (its error says that the job keeps running, or, unserved, that
nothing is running it), or when a local run stops running before it ends.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import re2
from kubetune.analytics.cluster import KubeClient
from kubetune.analytics.errors import KubetuneError, NotFoundError, UnreachableError
from kubetune.analytics.resource import Trial, TuningJobView, parse_tuning_job
from kubetune.cli import output, serving
from kubetune.cli.main import EXIT_ERROR, EXIT_OK, Context
from kubetune.cli.views import best_objective, not_picked_up, shown_hyperparameters
from kubetune.operator.api.naming import trial_job_name
from kubetune.operator.controller import RETRYING_AFTER
from kubetune.operator.kube.local import read_tail
from kubetune.operator.kube.metric_logs import TAIL_BYTES

BAR_WIDTH = 30
LOG_TAIL_LINES = 200
"""Lines read from the end of a running trial's log for its latest intermediate value."""
RETRIES_SHOWN = 5
"""The latest retries the terminal screen lists (a flaky cluster may retry many)."""
OPERATOR_CHECK_SECONDS = 15.0
"""How often watch re-reads the operators' heartbeat Leases (one LIST in every namespace):
as often as an operator renews its Lease, not at each read of a job (--interval 2)."""


@dataclass(frozen=True)
class Reading:
    """A running trial's latest intermediate objective value, read from its log."""

    value: float
    step: int | None
    """Its step (1 for the first value the log holds); None when only the log's last
    lines were read, which do not say how many values came before them. (The status's
    intermediateCount is written when a trial ends, not while it runs.)"""


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """`[#########.....................]  9/30`."""
    total = max(total, 1)
    filled = min(width, round(width * done / total))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total}"


def _best(view: TuningJobView) -> str:
    best = view.status.best_trial
    if best is None:
        return "best: none yet"
    shown_as = shown_hyperparameters(view)
    values = " ".join(
        f"{k}={shown_as.get(k, output.hyperparameter)(v)}" for k, v in best.hyperparameters.items()
    )
    return f"best: {view.objective_metric}={best_objective(view)} ({best.name}: {values})"


def _phase(view: TuningJobView) -> str:
    return view.phase + (f" ({view.status.reason})" if view.status.reason else "")


def render(
    view: TuningJobView,
    latest: dict[str, Reading],
    now: datetime,
    retried: Sequence[str] = (),
    unserved: str | None = None,
) -> list[str]:
    """The terminal screen: progress, best, running trials (latest value when known), and
    the latest of the `retried` lines (`retry_lines`) seen so far; under the first line,
    the `unserved` note (`serving.unserved_text`) while no operator serves the job."""
    extra = f", {view.status.epochs_consumed or 0} epochs" if view.hyperband else ""
    if view.status.counters.retried:  # attempts re-run after an infrastructure failure
        extra += f", {view.status.counters.retried} retried"
    lines = [
        f"TuningJob {view.namespace}/{view.name}: {_phase(view)}",
        *([f"Note: {unserved}"] if unserved else []),
        f"trials {progress_bar(view.trials_done(), view.max_trials)} ended,"
        f" {len(view.trials)} launched{extra}",
        _best(view),
    ]
    running = [t for t in view.trials if t.phase in ("Pending", "Running")]
    if running:
        lines.append("running:")
    for trial in running:
        reading = latest.get(trial.name)
        if reading is not None:
            shown = f"{view.objective_metric}={output.number(reading.value)}"
            shown += "" if reading.step is None else f" (step {reading.step})"
        else:  # a Pending trial's message says what it waits for (a node, its pod)
            shown = (trial.phase == "Pending" and trial.message) or "no value yet"
        lines.append(
            f"  {trial.name}  {trial.phase:<8} {output.duration(trial.duration_seconds(now)):>7}"
            f"  {shown}"
        )
    if retried:
        earlier = len(retried) - RETRIES_SHOWN
        lines.append("retried:" + (f" ({earlier} earlier not shown)" if earlier > 0 else ""))
        lines.extend(f"  {line}" for line in retried[-RETRIES_SHOWN:])
    return lines


def start_line(view: TuningJobView) -> str:
    """The quiet mode's first line: the job's phase and counts (the screen's header)."""
    running = sum(1 for t in view.trials if t.phase == "Running")
    pending = sum(1 for t in view.trials if t.phase == "Pending")
    return (
        f"TuningJob {view.namespace}/{view.name}: {_phase(view)}; {view.trials_done()}/"
        f"{view.max_trials} ended, {running} running" + (f", {pending} pending" if pending else "")
    )


def retry_lines(view: TuningJobView, attempts: dict[str, int], first: bool = False) -> list[str]:
    """A line for each trial whose attempt went up since `attempts` (each trial's attempt
    when last read; updated): `ev3-001  retried (PodDeleted), attempt 2 of 2`. On the
    `first` read, an unfinished trial at attempt 2 or later gets one (it is being
    retried); an ended one does not (its ended line says how many attempts it took)."""
    lines = []
    for trial in view.trials:
        if first and trial.phase not in ("Pending", "Running"):
            attempts[trial.name] = trial.attempt
        if trial.attempt <= attempts.get(trial.name, 1):
            continue
        attempts[trial.name] = trial.attempt
        message = trial.message or ""
        # The failed attempt's reason, while the message still says it (the trial waits
        # for its next attempt or runs it); a waiting or ended trial's says otherwise.
        why = ""
        if message.startswith(RETRYING_AFTER):
            why = trial.reason or message.removeprefix(RETRYING_AFTER)
        most = view.spec.retry.max_attempts  # may be lowered while the job runs
        lines.append(
            f"{trial.name}  retried{f' ({why})' if why else ''}, attempt {trial.attempt}"
            + (f" of {most}" if trial.attempt <= most else "")
        )
    return lines


def ended_lines(view: TuningJobView, reported: set[str]) -> list[str]:
    """The quiet mode's lines for the trials that ended since those in `reported` (which
    it updates), in the order they ended, each with the count ended and the best as they
    were at its end: two trials seen ending in one read, or a whole run replayed, read as
    they would have live (each line said the count and best of the latest read)."""
    ended = [t for t in view.trials if t.name not in reported and t.phase not in _UNENDED]
    ended.sort(key=lambda t: t.end_time or _NEVER)  # stable: the status's order among equals
    lines = []
    for trial in ended:
        reported.add(trial.name)
        lines.append(ended_line(view, trial, len(reported), _best_among(view, reported)))
    return lines


def ended_before(view: TuningJobView) -> tuple[set[str], str | None]:
    """For a run that goes on (a resumed local run): the trials that had ended before it,
    which the quiet mode does not list again one line each (a 1000-trial run's resume
    printed its 589 ended trials first), and the one line that counts them, None when
    none had."""
    ended = {t.name for t in view.trials if t.phase not in _UNENDED}
    if not ended:
        return ended, None
    return ended, (
        f"{len(ended)}/{view.max_trials} ended before this run, best={_best_among(view, ended)}"
        " (`kubetune trials` lists them)"
    )


_UNENDED = ("Pending", "Running")
_NEVER = datetime.max.replace(tzinfo=UTC)


def _best_among(view: TuningJobView, names: set[str]) -> str:
    """The best objective among the succeeded trials `names` (the operator's best is the
    best succeeded trial); before any has succeeded, the job's provisional best (a
    Hyperband rung value) while the job has no final one, else none yet."""
    values = [
        t.objective
        for t in view.trials
        if t.name in names and t.phase == "Succeeded" and t.objective is not None
    ]
    if values:
        return output.number(max(values) if view.maximize else min(values))
    return best_objective(view) if view.status.best_objective is None else output.MISSING


def ended_line(view: TuningJobView, trial: Trial, done: int, best: str) -> str:
    """The quiet mode's line for a trial that ended, the `done`-th to end, when the best
    was `best`."""
    if trial.objective is not None:
        outcome = f"{view.objective_metric}={output.number(trial.objective)}"
        rung = len(trial.rung_values) - 1
        if trial.phase != "Succeeded" and 0 <= rung < len(view.rungs):
            # Judged at a rung: its value there, which is not its value after the epochs
            # it ran on until the operator stopped it.
            outcome += f" at rung {rung} ({output.count(view.rungs[rung], 'epoch')})"
            if trial.epochs is not None and trial.epochs != view.rungs[rung]:
                outcome += f", stopped after {output.count(trial.epochs, 'epoch')}"
        elif trial.epochs is not None:  # Hyperband: that it ran to the end, or how far
            outcome += f" after {output.count(trial.epochs, 'epoch')}"
    else:
        outcome = f"{trial.reason or ''} {trial.message or ''}".strip() or output.MISSING
    return (
        f"{trial.name}  {trial.phase}  {outcome}  best={best}  {done}/{view.max_trials} ended"
        + (f"  ({trial.attempt} attempts)" if trial.attempt > 1 else "")
    )


def final_line(view: TuningJobView) -> str:
    """The last line: `TuningJob q: Completed (MaxTrialsReached); best trial q-004:
    loss=0.12; 9 trials launched (limits.maxTrials 9)`. The job's message goes after a
    semicolon, as it is written: it may start with a field's name (`spec.stop is true`),
    which a full stop would have to capitalise."""
    status = view.status
    best = status.best_trial
    text = f"TuningJob {view.name}: {_phase(view)}"
    if best is not None:
        text += f"; best trial {best.name}: {view.objective_metric}={best_objective(view)}"
    return text + (f"; {status.message}" if status.message else "")


def last_reading(pattern: Any, text: str, whole: bool) -> Reading | None:
    """The objective's last value in `text`, with its step (the how-manieth match it is)
    when `text` is the `whole` log; None when there is none or it is no number."""
    matches: Sequence[Any] = pattern.findall(text)
    for index in range(len(matches) - 1, -1, -1):
        try:
            value = float(matches[index])
        except (TypeError, ValueError):
            continue
        return Reading(value, index + 1 if whole else None)
    return None


def whole_log(text: str, tail_lines: int) -> bool:
    """Whether a read of the last `tail_lines` lines returned the whole log: fewer lines
    than asked for (as many could be a longer log's tail)."""
    return text.count("\n") + (not text.endswith("\n")) < tail_lines


def latest_values(kube: KubeClient, view: TuningJobView) -> dict[str, Reading]:
    """The latest intermediate objective value of each running trial whose pod's log has
    one (its last LOG_TAIL_LINES lines)."""
    container = view.spec.trial_template.primary_container_name() or ""

    def tail(trial: Trial) -> tuple[str, bool] | None:
        pods = kube.trial_pods(view.namespace, trial.name)
        if not pods:
            return None
        try:
            text = kube.read_log(view.namespace, pods[-1].metadata.name, container, LOG_TAIL_LINES)
        except KubetuneError:  # the pod may be gone or not started: no value yet
            return None
        return text, whole_log(text, LOG_TAIL_LINES)

    return _readings(view, tail)


def logged_values(logs: Path, view: TuningJobView) -> dict[str, Reading]:
    """The same for a local run whose trials' logs are the files in `logs` (its last
    LOG_TAIL_LINES lines within its last TAIL_BYTES: a chatty trainer's log may be
    gigabytes)."""

    def tail(trial: Trial) -> tuple[str, bool] | None:
        path = logs / f"{trial_job_name(trial.name, trial.attempt)}.log"
        try:
            data = read_tail(path, LOG_TAIL_LINES, TAIL_BYTES)
        except OSError:  # not started yet: no value yet
            return None
        text = data.decode(errors="replace")
        return text, whole_log(text, LOG_TAIL_LINES) and len(data) < TAIL_BYTES

    return _readings(view, tail)


def _readings(
    view: TuningJobView, tail: Callable[[Trial], tuple[str, bool] | None]
) -> dict[str, Reading]:
    """The latest objective value of each running trial in its log's end, as `tail` reads
    it (None: no log yet), with whether that is the whole log."""
    regex = next(m.regex for m in view.spec.metrics if m.name == view.objective_metric)
    try:
        pattern = re2.compile("(?m)" + regex)
    except re2.error:
        return {}
    values = {}
    for trial in view.trials:
        read = tail(trial) if trial.phase == "Running" else None
        reading = None if read is None else last_reading(pattern, *read)
        if reading is not None:
            values[trial.name] = reading
    return values


class Watched(Protocol):
    """What `follow` watches: a TuningJob on a cluster (`watch`), or a local run
    (`kubetune.cli.local_follow.LocalRun`)."""

    def read(self) -> TuningJobView:
        """The TuningJob as it is now."""
        ...

    def latest(self, view: TuningJobView) -> dict[str, Reading]:
        """Its running trials' latest values (`latest_values`), for the terminal screen."""
        ...

    def wait(self, view: TuningJobView, until: float) -> None:
        """Until `until` (time.monotonic()), or less where there is something new to read;
        a KubetuneError once nothing more will come while `view` has not ended."""
        ...

    def after_timeout(self, view: TuningJobView) -> str:
        """What the --timeout line says after the phase: that it keeps running, or why
        it does not move."""
        ...


Missing = Callable[[KubetuneError], KubetuneError] | None
"""What the error of a TuningJob never found says (None: the API server's words)."""


class _ClusterJob:
    """The TuningJob NAME in `namespace`, read every `--interval` seconds."""

    def __init__(
        self, kube: KubeClient, namespace: str, name: str, missing: Missing = None
    ) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.missing = missing
        self.seen = False

    def read(self) -> TuningJobView:
        try:
            body = self.kube.get_tuning_job(self.namespace, self.name)
        except (NotFoundError, UnreachableError) as error:
            if not self.seen:  # never there: the name or namespace is wrong
                raise error if self.missing is None else self.missing(error) from None
            if isinstance(error, UnreachableError):
                raise
            raise NotFoundError(
                f'TuningJob "{self.name}" was deleted while being watched (namespace '
                f'"{self.namespace}").'
            ) from None
        self.seen = True
        return parse_tuning_job(body)

    def latest(self, view: TuningJobView) -> dict[str, Reading]:
        return latest_values(self.kube, view)

    def wait(self, view: TuningJobView, until: float) -> None:
        time.sleep(max(0.0, until - time.monotonic()))  # the poll interval; jobs run minutes

    def after_timeout(self, view: TuningJobView) -> str:
        waiting = not_picked_up(view)
        return "; it keeps running." if waiting is None else f". {waiting}"


class Operator:
    """Whether a live operator serves the watched TuningJob's namespace, from the heartbeat
    Leases that `leases` lists (`KubeClient.heartbeat_leases`), read again only once
    `every` seconds have passed (`clock`: time.monotonic()); `command`: how the kubectl
    command that the note suggests starts (`serving.kubectl`)."""

    def __init__(
        self,
        leases: Callable[[], list[dict[str, Any]] | None],
        command: str = "kubectl",
        every: float = OPERATOR_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leases, self.command, self.every, self.clock = leases, command, every, clock
        self.read_at: float | None = None
        self.absence: serving.Unserved | None = None

    def unserved(self, view: TuningJobView, now: datetime) -> serving.Unserved | None:
        """That no operator served `view`'s namespace at the latest read of the Leases;
        None when one did, when the job needs none, or when there is no heartbeat Lease
        or they cannot be read (nothing is said then: `serving.unserved`)."""
        if not serving.needs_operator(view):
            return None
        if self.read_at is None or self.clock() - self.read_at >= self.every:
            self.read_at = self.clock()
            leases = self.leases()
            self.absence = None if leases is None else serving.unserved(leases, view.namespace, now)
        return self.absence


def watch(
    ctx: Context, kube: KubeClient, namespace: str, terminal: bool, missing: Missing = None
) -> int:
    """Reads the TuningJob every `--interval` seconds until it ends (see the module doc).
    `missing` words the error of a job not found (or no cluster answering) at the first
    read."""
    command = serving.kubectl(ctx.args.context, ctx.args.kubeconfig)
    operator = Operator(kube.heartbeat_leases, command)
    return follow(ctx, _ClusterJob(kube, namespace, ctx.args.name, missing), terminal, operator)


def screen_rows(lines: Sequence[str], columns: int) -> int:
    """The rows of a terminal `columns` wide that `lines` take: a longer line wraps (the
    note that no operator serves the job does), and a redraw goes up over every row."""
    return sum(max(1, -(-len(line) // max(columns, 1))) for line in lines)


def follow(ctx: Context, watched: Watched, terminal: bool, operator: Operator | None = None) -> int:
    """Shows `watched` until it ends, as the module doc says: the exit code. `operator`:
    whether an operator serves the cluster's job (None: a local run, which needs none)."""
    args = ctx.args
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    reported: set[str] = set()
    attempts: dict[str, int] = {}  # each trial's attempt when last read
    retried: list[str] = []
    drawn = 0
    first = True
    unserved_said = False  # the quiet mode's latest note: that no operator serves the job
    command = operator.command if operator else "kubectl"
    while True:
        view = watched.read()
        moment = datetime.now(UTC)
        absence = operator.unserved(view, moment) if operator else None
        retries = retry_lines(view, attempts, first)
        if terminal:
            retried += retries
            # Unserved, running trials are counted to the last sign of an operator, as
            # `trials` counts them: one that ended meanwhile does not seem to run on.
            counted, note = moment, None
            if absence is not None:
                counted = serving.as_of(view, absence) or moment
                note = serving.unserved_text(absence, moment, counted, command)
            lines = render(view, watched.latest(view), counted, retried, note)
            clear = f"\x1b[{drawn}F\x1b[J" if drawn else ""
            ctx.out.write(clear + "\n".join(lines) + "\n")
            drawn = screen_rows(lines, shutil.get_terminal_size().columns)
        else:
            if first:  # a CI log shows at once that it is alive
                ctx.out.write(start_line(view) + "\n")
            # Said once, when it changes; of an ended job the last line says enough.
            if (absence is not None) != unserved_said and not view.terminal:
                unserved_said = absence is not None
                text = (
                    serving.unserved_text(absence, moment, command=command)
                    if absence is not None
                    else serving.served_again_text(view.namespace)
                )
                ctx.out.write(f"Note: {text}\n")
            ctx.out.write("".join(line + "\n" for line in retries))
            ctx.out.write("".join(line + "\n" for line in ended_lines(view, reported)))
        ctx.out.flush()
        first = False
        if view.terminal:
            ctx.out.write(final_line(view) + "\n")
            return EXIT_ERROR if view.phase == "Failed" else EXIT_OK
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            why = watched.after_timeout(view)
            if absence is not None:  # then it does not keep running: no operator moves it on
                why = "; nothing is running it: " + serving.unserved_text(
                    absence, moment, command=command
                )
            raise KubetuneError(
                f'TuningJob "{view.name}" did not end within --timeout {args.timeout:g} s '
                f"(phase {view.phase}){why}"
            )
        until = now + args.interval
        watched.wait(view, until if deadline is None else min(until, deadline))
