"""The TuningJob's status, written by the operator through the status subresource, and
its typed helpers: `set_condition` (owns the transition time and the find-or-append) and
`COUNTER_OF_PHASE` (which counter each trial phase counts in).

Write status with `TuningJobStatus.to_api()`, which produces the camelCase JSON the status
subresource expects, without `null`s.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from kubetune.operator.api.base import StatusModel
from kubetune.operator.api.constants import MAX_TRIAL_MESSAGE_LENGTH, MAX_TRIALS
from kubetune.operator.api.enums import ConditionStatus, ConditionType, Phase, TrialPhase
from kubetune.operator.api.naming import trial_job_name
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; the wire format has second precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(lambda v: v.strftime("%Y-%m-%dT%H:%M:%SZ"), return_type=str, when_used="json"),
]
"""An RFC 3339 time in UTC with second precision, like metav1.Time."""


def _cut(limit: int, *, keep_end: bool = False) -> BeforeValidator:
    """Cut a longer text, with an ellipsis, rather than refuse it: a message built from
    the user's input (every bad regex of 40 metrics) must not fail the status write, and
    so every reconcile, for ever. With `keep_end`, the ellipsis goes in the middle: a
    short message keeps both its start, where the scheduler says why (`0/2 nodes are
    available: 2 Insufficient nvidia.com/gpu. preemption: ...`), and its end, where an
    error chain does (`failed to pull image "...": ...: connect: connection refused`)."""

    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            if not keep_end:
                return value[: limit - 1] + "…"
            head = (limit - 1) * 3 // 5  # where the scheduler says why ("Insufficient ...")
            return value[:head] + "…" + value[len(value) - (limit - 1 - head) :]
        return value

    return BeforeValidator(cut)


MAX_MESSAGE_LENGTH = 32768


REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
Reason = Annotated[str, StringConstraints(max_length=1024, pattern=REASON_PATTERN)]
TrialReason = Annotated[str, StringConstraints(max_length=64, pattern=REASON_PATTERN)]


class Condition(StatusModel):
    """One observation of the TuningJob's state, as metav1.Condition."""

    type: str = Field(min_length=1, max_length=316)
    """Running, Succeeded, Failed, Suspended, Invalid, JobsLeft, Reconciling or Stalled
    (see ConditionType in the reference)."""

    status: ConditionStatus
    """True, False or Unknown."""

    reason: Reason
    """CamelCase reason for the last transition, e.g. MaxTrialsReached."""

    message: Annotated[str, Field(max_length=MAX_MESSAGE_LENGTH), _cut(MAX_MESSAGE_LENGTH)] = ""
    """Human-readable details; for Invalid, names the field and the fix."""

    last_transition_time: Timestamp
    """When `status` last changed."""

    observed_generation: int | None = Field(default=None, ge=0)
    """`metadata.generation` of the spec this condition was computed from."""


class TrialCounters(StatusModel):
    """How many trials are in each state."""

    pending: int = Field(default=0, ge=0)
    """Trials recorded whose Job has not started running yet."""

    running: int = Field(default=0, ge=0)
    """Trials whose Job is running."""

    completed: int = Field(default=0, ge=0)
    """Trials that succeeded with an objective value."""

    failed: int = Field(default=0, ge=0)
    """Trials that failed (including those without a parsable objective)."""

    early_stopped: int = Field(default=0, ge=0)
    """Trials stopped early by `spec.earlyStopping`, or by Hyperband at a rung."""

    retried: int = Field(default=0, ge=0)
    """Attempts re-run after an infrastructure failure (see `spec.retry`)."""

    stopped: int = Field(default=0, ge=0)
    """Trials stopped because the job ended (runtime exceeded, job stopped)."""


class BestTrial(StatusModel):
    """The best trial so far (`TuningJobStatus.best_trial`)."""

    name: str
    """Trial name."""

    hyperparameters: dict[str, str] = Field(default_factory=dict)
    """The trial's tuned hyperparameters, as strings."""

    objective: float
    """The trial's final objective value; for Hyperband, before any trial has run its full
    `maxResource`, its value at the highest rung reached."""


class TrialStatus(StatusModel):
    """One trial: its hyperparameters, outcome and timing. Kept compact: 1,000 of them
    must fit in the status."""

    name: str = Field(min_length=1, max_length=63)
    """Trial name (also the name of its Job), e.g. `cifar10-resnet34-007`."""

    hyperparameters: dict[str, str] = Field(default_factory=dict)
    """Tuned hyperparameters (not the static ones) as strings: numbers in their shortest
    exact decimal form, Integer values without a fraction."""

    objective: float | None = None
    """Final objective value (the last regex match); for an EarlyStopped trial, its last
    intermediate value. Unset until the trial succeeds or is stopped early."""

    metrics: dict[str, float] | None = None
    """Final values (last regex match) of the other `spec.metrics`, by name; the objective
    is in `objective`. A trial stopped while it ran (early stopping, a Hyperband rung, a
    diverged objective, the job's end) has the last values read before the stop, which
    can be from a later epoch than its objective at a rung. A metric that never matched,
    or whose last match is not a finite number, is left out; a succeeded trial's
    `message` names those that never matched. Their size counts in the status-size rule
    on `spec`."""

    intermediate_count: int = Field(default=0, ge=0)
    """Number of objective values seen in the trial's log (matches of the regex)."""

    phase: TrialPhase = TrialPhase.PENDING
    """Pending, Running, Succeeded, Failed, EarlyStopped or Stopped."""

    reason: TrialReason | None = None
    """CamelCase reason for a non-successful end, e.g. MetricUnavailable, Evicted,
    Error, ErrImagePull, EarlyStopped; while Pending, why it waits, e.g. Unschedulable,
    FailedCreate, ImagePullBackOff (its image pull retried)."""

    message: Annotated[
        str | None,
        Field(max_length=MAX_TRIAL_MESSAGE_LENGTH),
        _cut(MAX_TRIAL_MESSAGE_LENGTH, keep_end=True),
    ] = None
    """Short human detail (at most 128 characters; longer ones lose their middle): why the trial
    waits or failed; for a succeeded one, the metrics that never matched its log."""

    rung_values: list[float] | None = None
    """Hyperband: the objective at each rung the trial reached (rung 0 first), as read
    from its log and recorded before any decision taken on it. Never rewritten: a retried
    trial keeps the values of the rungs an earlier attempt passed (other trials were
    judged against them) and is not judged there again; its new attempt's values are
    recorded from the next rung on."""

    rung_seqs: list[int] | None = None
    """Hyperband: the job-wide order in which each of `rungValues` was recorded: the
    order the values were printed in (the log lines' times; in a local run, where logs
    have none, values read at once are recorded rung by rung); the rung decisions are
    replayed from these two lists, so a restarted operator takes the same ones."""

    epochs: int | None = Field(default=None, ge=0)
    """Hyperband: epochs (units of resource) the trial consumed, over all its attempts:
    set when it ends. While a retried trial runs again, the epochs of its earlier attempts
    (each counted from the values the operator last read from its log, at least the
    highest rung a first attempt reached); the running attempt's are added when it ends."""

    attempt: int = Field(default=1, ge=1)
    """Attempt number, starting at 1; above 1 after retries."""

    infrastructure: bool | None = None
    """True when the trial failed for a cause outside its trainer, on its last attempt:
    evicted or preempted, its pod or Job deleted, refused by its node, its image not
    pulled, its log gone. Its hyperparameters are not to blame: the optimizer does not
    learn from it (a trainer's own failure counts as a point to avoid)."""

    start_time: Timestamp | None = None
    """When the trial's Job started running."""

    end_time: Timestamp | None = None
    """When the trial ended."""

    @property
    def job_name(self) -> str:
        """The name of the Job that runs this trial's current attempt."""
        return trial_job_name(self.name, self.attempt)


class TuningJobStatus(StatusModel):
    """Observed state of the tuning job, written by the operator through the status
    subresource. Until the operator first writes it, the API server shows the default,
    `observedGeneration` 0 (and phase Pending): not observed yet, which kstatus (Helm's
    `--wait`, Flux) reads as InProgress."""

    # Without any status kstatus read "Current", and `helm install --wait` returned before
    # the operator had looked (QA99 M1). Defaults apply on every read, so no write is
    # needed.
    model_config = ConfigDict(json_schema_extra={"default": {"observedGeneration": 0}})

    observed_generation: int | None = Field(default=None, ge=0)
    """`metadata.generation` of the spec the operator last acted on."""

    phase: Phase = Phase.PENDING
    """Pending (not started), InProgress, Completed (a completion criterion or maxTrials
    was reached), Failed (invalid spec, too many failed trials, or none succeeded) or
    Stopped (runtime exceeded or stopped by the user)."""

    reason: str | None = Field(default=None, max_length=1024)
    """CamelCase reason for the phase, e.g. MaxTrialsReached, TargetObjectiveReached,
    Converged."""

    message: Annotated[
        str | None, Field(max_length=MAX_MESSAGE_LENGTH), _cut(MAX_MESSAGE_LENGTH)
    ] = None
    """Human-readable summary of the job's state."""

    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    """Running, Succeeded, Failed, Suspended, Invalid and JobsLeft conditions, and
    kstatus' Reconciling and Stalled, by which Flux's health checks and Helm 4's `--wait`
    judge the job (README, "GitOps health"); each with `observedGeneration`, that of the
    spec the last look judged it by."""

    start_time: Timestamp | None = None
    """When the operator started the job: first saw it with `suspend` false."""

    completion_time: Timestamp | None = None
    """When the job reached a terminal phase."""

    consumed_seconds: int | None = Field(default=None, ge=0)
    """Sum of the trials' running times, in seconds."""

    epochs_consumed: int | None = Field(default=None, ge=0)
    """Hyperband: epochs consumed by all trials, the sum of `trials[].epochs` (every
    attempt of a retried trial included; running attempts once they end), for the
    printer column."""

    counters: TrialCounters = Field(default_factory=TrialCounters)
    """Trials per state."""

    best_trial: BestTrial | None = None
    """The best trial so far: the succeeded trial with the best objective. Hyperband,
    before any trial has run its full `maxResource`: the best trial at the highest rung
    reached, with its value there (a value after a few epochs is no final objective:
    `bestObjective` stays unset and `bestObjectiveText` says after how many epochs)."""

    best_objective: float | None = None
    """The best objective value so far (same as `bestTrial.objective`), exact."""

    best_objective_text: str | None = Field(default=None, max_length=32)
    """The best objective as the Best printer column shows it: 6 significant digits
    (`0.988889`). Before any Hyperband trial has run its full `maxResource`, the best
    value at the highest rung reached (`bestTrial`, not yet `bestObjective`), marked with
    that rung's epochs, as `kubetune trials` names its column (`objective@3`): `0.912 (at
    3 epochs)`."""

    trials_done: str | None = Field(default=None, max_length=32)
    """Finished trials over `spec.limits.maxTrials`, e.g. `12/30` (for the printer
    column)."""

    trials: list[TrialStatus] = Field(default_factory=list, max_length=MAX_TRIALS)
    """Every trial, in launch order."""

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if set."""
        for condition in self.conditions:
            if condition.type == type_:
                return condition
        return None


def objective_text(value: float, epochs: int | None = None) -> str:
    """An objective as the Best printer column shows it (`bestObjectiveText`): 6
    significant digits, and the epochs of the Hyperband rung it was read at, if it was
    (the rung's epochs, not its index: `kubetune trials` names its columns by them, and
    at most 32 characters hold `-1.23457e-100 (at 19683 epochs)`)."""
    text = f"{value:.6g}"
    return text if epochs is None else f"{text} (at {epochs} epoch{'' if epochs == 1 else 's'})"


COUNTER_OF_PHASE: dict[TrialPhase, str] = {
    TrialPhase.PENDING: "pending",
    TrialPhase.RUNNING: "running",
    TrialPhase.SUCCEEDED: "completed",
    TrialPhase.FAILED: "failed",
    TrialPhase.EARLY_STOPPED: "early_stopped",
    TrialPhase.STOPPED: "stopped",
}
"""The `TrialCounters` field that counts the trials of each phase (the status and the
metrics both read it from here)."""


def count_trials(trials: list[TrialStatus], retried: int) -> TrialCounters:
    """The counters of `trials`, with `retried` attempts re-run so far."""
    counts = dict.fromkeys(COUNTER_OF_PHASE.values(), 0)
    for trial in trials:
        counts[COUNTER_OF_PHASE[trial.phase]] += 1
    return TrialCounters(retried=retried, **counts)


def set_condition(
    status: TuningJobStatus,
    type_: ConditionType,
    value: ConditionStatus,
    reason: str,
    message: str,
    *,
    now: datetime,
) -> None:
    """Set a condition, as Kubernetes' meta.SetStatusCondition: find it or append it;
    `lastTransitionTime` moves (to `now`) only when its status changes; its
    `observedGeneration` is the status's own."""
    existing = status.condition(type_.value)
    if existing is None:
        status.conditions.append(
            Condition(
                type=type_.value,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=status.observed_generation,
            )
        )
        return
    if existing.status != value:
        existing.last_transition_time = now
    existing.status = value
    existing.reason = reason
    existing.message = message
    existing.observed_generation = status.observed_generation
