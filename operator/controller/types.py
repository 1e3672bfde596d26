"""The planner's value types: what it reads (`Snapshot`, `JobObservation`), what it decides
(`Plan`, `TrialLaunch`, `Event`), and the optimizer it asks (`Optimizer`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from kubetune.operator.api import (
    TERMINAL_PHASES,
    TERMINAL_TRIAL_PHASES,
    ConditionStatus,
    ConditionType,
    TrialPhase,
    TrialStatus,
    TuningJobSpec,
    TuningJobStatus,
    set_condition,
)
from kubetune.operator.api.naming import trial_job_name
from kubetune.optimizer import has_converged, suggest, suggest_hyperband

JobState = Literal["Waiting", "Running", "Succeeded", "Failed"]
WAITING_FOR_A_NODE = "waiting for a node: "
"""How the message of a Waiting Job the scheduler could not place starts (then the
scheduler's message); a trial carries it while Pending and drops it once it runs."""
WAITING_FOR_ITS_POD = "waiting for its pod: "
"""How the message of a Waiting Job whose pod cannot be created starts (then the API
server's refusal, a quota or a LimitRange; or the kubelet's reason a container cannot be,
a ConfigMap it names missing), carried the same way."""
WAITING_FOR_ITS_VOLUME = "waiting for its volume: "
"""How it starts instead where what the scheduler waits for is a PersistentVolumeClaim
(missing, or not bound yet): no node would do until the claim does."""
WAITING_FOR_ITS_IMAGE = "waiting for its image: "
"""How it starts where the kubelet failed to pull the pod's image for a reason that may
pass (a registry's rate limit, a timeout) and pulls it again (then the kubelet's message):
until a deadline (`kube.observe.IMAGE_PULL_RETRY`), when the trial fails."""
RETRYING_AFTER = "retrying after: "
"""How the message of a trial waiting for its next attempt starts (then why the last one
failed, its reason being that attempt's)."""
WAITING_MESSAGES = (
    WAITING_FOR_A_NODE,
    WAITING_FOR_ITS_POD,
    WAITING_FOR_ITS_VOLUME,
    WAITING_FOR_ITS_IMAGE,
)
POD_REFUSED = "FailedCreate"
"""The reason of a trial whose pod the namespace refuses (the Job controller's Event
reason): while one waits so, no trial is launched (`criteria.free_slots`)."""
LOG_UNAVAILABLE = "LogUnavailable"
"""The reason of a trial that ended well but whose log could not be read: the cluster's
failure, not its trainer's."""
LOG_FORBIDDEN = "LogForbidden"
"""The reason of a trial whose Job succeeded but whose log the operator may not read (RBAC
refuses `get pods/log`): it stays Running, saying so, until it can read it."""
POD_NOT_CREATED = "PodNotCreated"
"""The reason of a Waiting Job that has no pod yet: where the Job controller may have
said why it cannot create one (`kube.observe.refused_pod`)."""


def count(n: int, noun: str) -> str:
    """`1 trial`, `2 trials`: a number and a noun agreeing with it (the status's messages
    and the CLI's)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


NOT_A_NUMBER = math.inf
"""How a curve read from a log ends where the objective's regex captured text that is no
number (`loss=n/a`): the curve stops there, as at a nan, but its trial did not diverge
(the scanner reads a printed inf as a nan, so this value means nothing else)."""


def diverged(curve: Sequence[float]) -> bool:
    """Whether a curve ends where its trial printed an objective that is not a finite
    number (nan, inf): read from a log, such a curve ends with one nan."""
    return bool(curve) and math.isnan(curve[-1])


def not_a_number_at(curve: Sequence[float]) -> int | None:
    """The step at which a curve ends on a captured text that is no number
    (`NOT_A_NUMBER`), or None."""
    return len(curve) if curve and curve[-1] == NOT_A_NUMBER else None


OBJECTIVE_NOT_A_NUMBER = "ObjectiveNotANumber"
"""The reason of the Warning Event on a trial whose log gave a value of the objective
that is no number, where its judging ends (`note_not_a_number`)."""


def note_not_a_number(d: Decision, where: Callable[[TrialStatus, int], str | None]) -> None:
    """A judged trial (running, or succeeded since the last reconcile) whose curve ends on
    a text the objective's regex captured that is no number (`loss=n/a`) is judged no
    more from there (at `where(trial, step)`, None: nothing left to judge): the values
    read from its log end there (`kube.metric_logs.LogScanner`). It runs on to its end
    (its last value may be a number), but says so in its message (while it runs, and
    once it succeeded) with a Warning Event, once: it no longer escapes the median rule
    or its rungs without a word."""
    curves = d.snapshot.curves or {}
    before = {t.name: t for t in d.snapshot.status.trials}
    for trial in d.status.trials:
        earlier = before.get(trial.name)
        ended_now = earlier is not None and earlier.phase not in TERMINAL_TRIAL_PHASES
        if not (
            trial.phase is TrialPhase.RUNNING or (trial.phase is TrialPhase.SUCCEEDED and ended_now)
        ):
            continue
        step = not_a_number_at(curves.get(trial.name) or ())
        place = None if step is None else where(trial, step)
        if step is None or place is None:
            continue
        # No metric name (up to 255 characters): it must fit the trial's message.
        note = f"value {step} of the objective is not a number: not judged at {place} or later"
        if note not in (trial.message or ""):
            trial.message = f"{note}; {trial.message}" if trial.message else note
        if earlier is None or note not in (earlier.message or ""):
            d.event(
                "Warning",
                OBJECTIVE_NOT_A_NUMBER,
                f"trial {trial.name}: value {step} of {d.spec.objective.metric} in its log is "
                f"not a number, so it is not judged at {place} or later: does the regex "
                f"{d.spec.objective_metric().regex!r} capture more than the number?",
            )


def finite_values(curve: Sequence[float]) -> Sequence[float]:
    """The curve's values before its trial diverged or printed no number (all of them
    if neither)."""
    return curve[:-1] if curve and not math.isfinite(curve[-1]) else curve


Observation = tuple[dict[str, Any], float]
"""An optimizer observation: a trial's hyperparameters (as recorded) and its value."""


class WarmTrial(NamedTuple):
    """A warm-start parent's trial as this job's optimizer takes it
    (`optimizer_input.warm_start_trials`): its hyperparameters (as recorded) and its
    values at this job's levels, in order, up to the last it reached. For a Hyperband job
    the levels are its rungs, then maxResource (a trial stopped at a rung has fewer
    values); for the other strategies there is one, the value the optimizer takes."""

    params: dict[str, Any]
    values: tuple[float, ...]


Suggest = Callable[..., list[dict[str, Any]]]
Converged = Callable[..., bool]


@dataclass(frozen=True)
class ObjectiveOutcome:
    """A succeeded trial's objective, read from its log: the value, or why there is none;
    and the final values of the other metrics (`metrics`, by name)."""

    value: float | None
    intermediate_count: int
    reason: str | None = None
    message: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class JobObservation:
    """What the cluster shows about one trial Job.

    `state` is Waiting while the Job's pod has not started (not created yet, not
    scheduled, its image being pulled), with the scheduler's reason in `reason`/`message`
    when it said why, and in `wait_until` when time alone ends the wait (an image pull
    retried until then, the Job then Failed); then Running until the Job (or, faster, its
    only pod) has finished, `started` being when the pod started. For a Succeeded Job,
    `outcome` carries the objective read from the primary container's log. For a Failed
    one, `reason`/`message` say why (the container's reason and exit code, the pod's
    eviction, the Job's condition) and `infrastructure` whether the failure came from
    outside the trainer (evicted, node lost, image pull, pod deleted), which
    `spec.retry` may re-run. `pod_left` marks a Failed Job whose pod is still there,
    stuck waiting (an image that never pulls): nothing else would ever delete it.
    """

    job_name: str
    state: JobState
    started: datetime | None = None
    finished: datetime | None = None
    outcome: ObjectiveOutcome | None = None
    reason: str | None = None
    message: str | None = None
    infrastructure: bool = False
    pod_left: bool = False
    wait_until: datetime | None = None


START_ANEW = "create a new TuningJob"
"""How a user starts over once what ended the job is fixed (an ended TuningJob stays
ended): the advice that ends the message of a job no trial of which succeeded."""


@dataclass(frozen=True)
class Snapshot:
    """Everything one reconcile read about a TuningJob, as the planner takes it.

    `spec` is None when it does not parse; `invalid` holds the validation messages that
    make it invalid. `jobs` maps Job names to observations, for the Jobs of this TuningJob
    that exist. `warm_start` are the parents' trials it carries. `curves` maps trial names to
    their intermediate objective values (step 1 first), for the running trials, the
    succeeded ones the adapter has them for, and the attempts that just failed (the
    values last read while they ran); early stopping and Hyperband read them. A curve
    ends with nan where its trial diverged (`diverged`), with `NOT_A_NUMBER` where the
    regex captured text that is no number (`not_a_number_at`). `curve_times` maps trial
    names to when the first values of their curves were printed (nanoseconds since the
    epoch, where the logs say: a cluster's, not a local run's), for the running trials and
    those that just succeeded: Hyperband records values read in one look in that order
    (`hyperband._record`). `running_metrics` maps running trial names to the last values
    of the other metrics in the lines their curves were read from (those that matched):
    a trial stopped on its curve keeps them as its `metrics` (`keep_last_metrics`), as a
    succeeded one keeps its final values; no decision reads them. `start_anew` words how
    to start over: a new TuningJob on a cluster, a local run says its own
    (`LocalKube.start_anew`).
    """

    name: str
    uid: str
    generation: int | None
    spec: TuningJobSpec | None
    status: TuningJobStatus
    jobs: Mapping[str, JobObservation] = field(default_factory=dict)
    invalid: Sequence[str] = ()
    warm_start: Sequence[WarmTrial] = ()
    curves: Mapping[str, Sequence[float]] | None = None
    curve_times: Mapping[str, Sequence[int]] | None = None
    running_metrics: Mapping[str, Mapping[str, float]] | None = None
    start_anew: str = START_ANEW


@dataclass(frozen=True)
class Optimizer:
    """The optimizer's questions, replaceable in tests."""

    suggest: Suggest = suggest
    converged: Converged = has_converged
    suggest_hyperband: Suggest = suggest_hyperband


@dataclass(frozen=True)
class TrialLaunch:
    """A recorded trial whose Job (for `attempt`) must exist."""

    trial: str
    attempt: int
    hyperparameters: dict[str, str]

    @property
    def job_name(self) -> str:
        return trial_job_name(self.trial, self.attempt)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the TuningJob."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Plan:
    """What one reconcile decided: the next status, the trial Jobs to create (recorded in
    that status first), the Jobs to delete, and the Events to post."""

    status: TuningJobStatus
    launch: list[TrialLaunch] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    """Seconds after which time alone may change the decision (maxRuntimeSeconds, or
    running trials' new intermediate values under early stopping)."""

    @property
    def terminal(self) -> bool:
        return self.status.phase in TERMINAL_PHASES


@dataclass
class Decision:
    """One plan in the making, shared by the steps of `plan()`: the spec, the time, the
    status being edited (a copy of the recorded one) and the plan being built."""

    spec: TuningJobSpec
    snapshot: Snapshot
    now: datetime
    plan: Plan
    retried: int
    terminal_before: bool
    """The job was already terminal when read: trials are brought up to date, nothing
    is launched."""

    @property
    def status(self) -> TuningJobStatus:
        return self.plan.status

    def event(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.plan.events.append(Event(type_, reason, message))

    def condition(
        self, type_: ConditionType, value: ConditionStatus, reason: str, message: str
    ) -> None:
        set_condition(self.status, type_, value, reason, message, now=self.now)

    def finish_trial(
        self,
        trial: TrialStatus,
        phase: TrialPhase,
        reason: str | None,
        message: str | None,
        end: datetime | None = None,
    ) -> None:
        trial.phase = phase
        trial.reason = reason
        trial.message = message
        trial.end_time = end or self.now

    def stop_all(self, reason: str) -> None:
        """End every unfinished trial as Stopped, delete its Job, launch nothing. A trial
        whose values were read (`Snapshot.curves`) records how many, as one stopped at a
        rung does: they were printed, and its `epochs` are counted from them; and it keeps
        the other metrics' last values read with them (`keep_last_metrics`)."""
        curves = self.snapshot.curves or {}
        for trial in self.status.trials:
            if trial.phase not in TERMINAL_TRIAL_PHASES:
                self.finish_trial(trial, TrialPhase.STOPPED, reason, "the tuning job ended")
                printed = len(curves.get(trial.name) or ())
                trial.intermediate_count = max(trial.intermediate_count, printed)
                keep_last_metrics(self, trial)
                # Whether or not the snapshot shows its Job: one created a moment ago may
                # not be in the watch's cache yet, and this is the job's last reconcile.
                if trial.job_name not in self.plan.delete:
                    self.plan.delete.append(trial.job_name)
        self.plan.launch = []


def keep_last_metrics(d: Decision, trial: TrialStatus) -> None:
    """A running trial stopped on its curve (early stopping, a Hyperband rung, a diverged
    objective) or by the job's end keeps the last values of the other metrics read with
    that curve (`Snapshot.running_metrics`) as its `metrics`: its log goes with its Job,
    and they are what a user compares it on, as a succeeded trial's final values.
    Record-keeping only: no decision depends on them, so a restart that reads other
    values (later lines) takes the same decisions."""
    metrics = (d.snapshot.running_metrics or {}).get(trial.name)
    if metrics:
        trial.metrics = dict(metrics)


class OptimizerError(Exception):
    """The optimizer failed. It is deterministic, so it would fail the same way on every
    reconcile: the job fails (SuggestionFailed) with this message."""
