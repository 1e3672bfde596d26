"""The tuning engine: pure decisions from the spec, the recorded status and observed Jobs.

`plan()` is the whole reconcile decision. In: the TuningJob's spec (or the validation
messages that make it invalid), its recorded status, what the cluster shows about each
trial Job (`JobObservation`, with the metric outcome already read from the logs for
finished ones) and the time. Out: a `Plan` — the next status, the trial Jobs to create
(recorded in that status first), the Jobs to delete, and the Events to post.

Early stopping (`spec.earlyStopping: Auto`) is Vizier's median stopping rule, decided
here from the intermediate objective values ("curves") the adapter read from the trials'
logs and passes in; see `median_stopping`. Convergence (`completionCriteria.convergence:
Auto`) asks the optimizer's `has_converged` before launching more trials.

Nothing here talks to Kubernetes, so every rule is a unit test away. The adapter
(`kubetune.operator.reconciler`) writes `plan.status` first and acts only once that
write succeeded ("record before you act"): a crash in between leaves a recorded Pending
trial whose deterministic Job name makes the next reconcile create it exactly once.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kubetune.operator.metric_logs import ObjectiveOutcome
from kubetune.operator.models import (
    TERMINAL_TRIAL_PHASES,
    BestTrial,
    Condition,
    ConditionStatus,
    ConditionType,
    Convergence,
    EarlyStopping,
    ObjectiveType,
    Parameter,
    ParameterType,
    Phase,
    Strategy,
    TrialCounters,
    TrialPhase,
    TrialStatus,
    TuningJobSpec,
    TuningJobStatus,
)
from kubetune.operator.trial_job import trial_job_name, trial_name
from kubetune.optimizer import (
    Categorical,
    Continuous,
    Integer,
    SearchSpace,
    has_converged,
    suggest,
)
from kubetune.optimizer.convergence import MIN_OBSERVATIONS as MIN_CONVERGENCE_OBSERVATIONS

JobState = Literal["Running", "Succeeded", "Failed"]

# Reasons of the TuningJob's terminal phase (also the condition reasons).
MAX_TRIALS_REACHED = "MaxTrialsReached"
TARGET_OBJECTIVE_REACHED = "TargetObjectiveReached"
MAX_TRIALS_NOT_IMPROVING = "MaxTrialsNotImproving"
SEARCH_SPACE_EXHAUSTED = "SearchSpaceExhausted"
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
MAX_FAILED_TRIALS_EXCEEDED = "MaxFailedTrialsExceeded"
INVALID_SPEC = "InvalidSpec"
SUGGESTION_FAILED = "SuggestionFailed"
CONVERGED = "Converged"
EARLY_STOPPED = "EarlyStopped"
"""The reason of an early-stopped trial (and, as TrialEarlyStopped, of its Event)."""

EARLY_STOPPING_MIN_PEERS = 3
"""The median stopping rule judges a trial at step s only once this many succeeded trials
reached step s: the median of one or two curves is too noisy a bar to stop anyone on."""
EARLY_STOPPING_MIN_STEP = 2
"""No trial is stopped before its second objective value: a first value alone (one epoch,
often during warm-up) says little about where a curve is going."""
EARLY_STOPPING_CHECK_SECONDS = 5.0
"""How often a job with early stopping and running trials is looked at again, so running
trials are judged on fresh values even when no Job or pod changes."""
CONVERGENCE_MIN_TRIALS = MIN_CONVERGENCE_OBSERVATIONS
"""Convergence is not tested before max(this, 2 × the number of parameters) trials
succeeded: the optimizer's own minimum (a Gaussian process on fewer points judges its own
regret badly), checked here too so that no reconcile calls it for a foregone answer."""


@dataclass(frozen=True)
class JobObservation:
    """What the cluster shows about one trial Job.

    `state` is Running until the Job (or, faster, its only pod) has finished. For a
    Succeeded Job, `outcome` carries the objective read from the primary container's log.
    For a Failed one, `reason`/`message` say why (the container's reason and exit code,
    the pod's eviction, the Job's condition) and `infrastructure` whether the failure
    came from outside the trainer (evicted, node lost, image pull, pod deleted), which
    `spec.retry` may re-run.
    """

    job_name: str
    state: JobState
    started: datetime | None = None
    finished: datetime | None = None
    outcome: ObjectiveOutcome | None = None
    reason: str | None = None
    message: str | None = None
    infrastructure: bool = False


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
    """What one reconcile decided; see the module docstring."""

    status: TuningJobStatus
    launch: list[TrialLaunch] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    """Seconds after which time alone may change the decision (maxRuntimeSeconds, or
    running trials' new intermediate values under early stopping)."""
    suggestion_seconds: float | None = None

    @property
    def terminal(self) -> bool:
        return self.status.phase in (Phase.COMPLETED, Phase.FAILED, Phase.STOPPED)


# --------------------------------------------------------------------------- values


def format_value(parameter: Parameter, value: Any) -> str:
    """A suggested value as the string recorded in status and passed to the trainer."""
    if parameter.type is ParameterType.CATEGORICAL:
        return str(value)
    if parameter.type is ParameterType.INTEGER:
        return str(int(value))
    return repr(float(value))


def parse_value(parameter: Parameter, text: str) -> float | int | str:
    """The inverse of `format_value`, for the optimizer's observations."""
    if parameter.type is ParameterType.CATEGORICAL:
        return text
    if parameter.type is ParameterType.INTEGER:
        return int(float(text))
    return float(text)


def search_space(spec: TuningJobSpec) -> SearchSpace:
    """The optimizer's search space for the spec's parameters."""
    params: list[Continuous | Integer | Categorical] = []
    for p in spec.parameters:
        scaling = p.scaling.value
        if p.type is ParameterType.CATEGORICAL:
            params.append(Categorical(p.name, list(p.values or [])))
        elif p.type is ParameterType.INTEGER:
            assert p.min is not None and p.max is not None  # admission requires both
            params.append(Integer(p.name, int(p.min), int(p.max), scaling=scaling))  # type: ignore[arg-type]
        else:
            assert p.min is not None and p.max is not None
            params.append(Continuous(p.name, float(p.min), float(p.max), scaling=scaling))  # type: ignore[arg-type]
    return SearchSpace(params)


def warm_start_observations(
    spec: TuningJobSpec, parents: Sequence[TuningJobStatus]
) -> list[tuple[dict[str, Any], float]]:
    """The succeeded trials of parent TuningJobs as observations for this spec's space.

    Trials whose hyperparameters do not fit (a parameter missing or of another type) are
    skipped: parents are expected, not guaranteed, to share the parameters.
    """
    by_name = {p.name: p for p in spec.parameters}
    out: list[tuple[dict[str, Any], float]] = []
    for parent in parents:
        for trial in parent.trials:
            if trial.phase is not TrialPhase.SUCCEEDED or trial.objective is None:
                continue
            try:
                params = {n: parse_value(p, trial.hyperparameters[n]) for n, p in by_name.items()}
            except (KeyError, ValueError):
                continue
            if all(
                p.type is not ParameterType.CATEGORICAL or params[n] in (p.values or [])
                for n, p in by_name.items()
            ):
                out.append((params, trial.objective))
    return out


def seed_for(spec: TuningJobSpec, uid: str) -> int:
    """`spec.randomSeed`, or a seed derived from the TuningJob's UID."""
    if spec.random_seed is not None:
        return spec.random_seed
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)


def better(a: float, b: float, goal: ObjectiveType) -> bool:
    """Whether objective `a` is strictly better than `b`."""
    return a > b if goal is ObjectiveType.MAXIMIZE else a < b


def meets_target(value: float, target: float, goal: ObjectiveType) -> bool:
    """Whether `value` reaches the target (at least it when maximizing, at most when
    minimizing)."""
    return value >= target if goal is ObjectiveType.MAXIMIZE else value <= target


# --------------------------------------------------------------------------- helpers


def _seconds(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, int((end - start).total_seconds()))


def _set_condition(  # noqa: PLR0917 (one call shape, used as a table)
    status: TuningJobStatus,
    type_: ConditionType,
    value: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> None:
    """Set a condition; `lastTransitionTime` moves only when its status changes."""
    existing = status.condition(type_.value)
    if existing is None:
        status.conditions.append(
            Condition(
                type=type_.value,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
        return
    if existing.status != value:
        existing.last_transition_time = now
    existing.status = value
    existing.reason = reason
    existing.message = message
    existing.observed_generation = generation


def _count(status: TuningJobStatus, retried: int) -> TrialCounters:
    counters = TrialCounters(retried=retried)
    for trial in status.trials:
        match trial.phase:
            case TrialPhase.PENDING:
                counters.pending += 1
            case TrialPhase.RUNNING:
                counters.running += 1
            case TrialPhase.SUCCEEDED:
                counters.completed += 1
            case TrialPhase.FAILED:
                counters.failed += 1
            case TrialPhase.EARLY_STOPPED:
                counters.early_stopped += 1
            case TrialPhase.STOPPED:
                counters.stopped += 1
    return counters


def _best(trials: Sequence[TrialStatus], goal: ObjectiveType) -> TrialStatus | None:
    best: TrialStatus | None = None
    for trial in trials:
        if (
            trial.phase is TrialPhase.SUCCEEDED
            and trial.objective is not None
            and (best is None or better(trial.objective, best.objective or 0.0, goal))
        ):
            best = trial
    return best


def trials_not_improving(trials: Sequence[TrialStatus], goal: ObjectiveType) -> int:
    """Finished trials (in order of their end) since the last one that improved the best.

    Failed trials count as not improving; trials still running do not count.
    """
    finished = [t for t in trials if t.phase in TERMINAL_TRIAL_PHASES]
    finished.sort(key=lambda t: (t.end_time is None, t.end_time or datetime.min, t.name))
    best: float | None = None
    since = 0
    for trial in finished:
        value = trial.objective if trial.phase is TrialPhase.SUCCEEDED else None
        if value is not None and (best is None or better(value, best, goal)):
            best = value
            since = 0
        else:
            since += 1
    return since


def _finish_trial(
    trial: TrialStatus,
    phase: TrialPhase,
    reason: str | None,
    message: str | None,
    end: datetime,
) -> None:
    trial.phase = phase
    trial.reason = reason
    trial.message = message
    trial.end_time = end


def _observations(
    spec: TuningJobSpec,
    status: TuningJobStatus,
    warm_start: Sequence[tuple[dict[str, Any], float]],
) -> tuple[list[tuple[dict[str, Any], float]], list[dict[str, Any]]]:
    """The optimizer's observations (warm start, then this job's finished trials) and the
    hyperparameters of the trials still pending or running.

    A succeeded trial counts with its objective. An early-stopped one counts with its
    last intermediate value: a value no better than its peers', which steers the search
    away from its region. A failed one counts as NaN (the optimizer avoids it).
    """
    by_name = {p.name: p for p in spec.parameters}
    observations: list[tuple[dict[str, Any], float]] = list(warm_start)
    pending: list[dict[str, Any]] = []
    for trial in status.trials:
        params = {
            k: parse_value(by_name[k], v) for k, v in trial.hyperparameters.items() if k in by_name
        }
        if (
            trial.phase in (TrialPhase.SUCCEEDED, TrialPhase.EARLY_STOPPED)
            and trial.objective is not None
        ):
            observations.append((params, trial.objective))
        elif trial.phase is TrialPhase.FAILED:
            observations.append((params, math.nan))
        elif trial.phase not in TERMINAL_TRIAL_PHASES:
            pending.append(params)
    return observations, pending


# --------------------------------------------------------------------------- plan

Suggest = Callable[..., list[dict[str, Any]]]
Converged = Callable[..., bool]


def median_stopping(
    curve: Sequence[float], peers: Sequence[Sequence[float]], goal: ObjectiveType
) -> tuple[int, float, float, int] | None:
    """Vizier's median stopping rule for a running trial with intermediate values `curve`.

    At the curve's latest step s, the trial stops when its best value up to s is strictly
    worse than the median, over the `peers` (succeeded trials' curves) that reached s, of
    their running averages of values 1..s. Undecided (None) before step
    `EARLY_STOPPING_MIN_STEP` and with fewer than `EARLY_STOPPING_MIN_PEERS` such peers.
    Returns (s, best, median, number of peers) when the trial should stop, else None.
    """
    step = len(curve)
    if step < EARLY_STOPPING_MIN_STEP:
        return None
    averages = [math.fsum(peer[:step]) / step for peer in peers if len(peer) >= step]
    if len(averages) < EARLY_STOPPING_MIN_PEERS:
        return None
    median = statistics.median(averages)
    best = max(curve) if goal is ObjectiveType.MAXIMIZE else min(curve)
    if better(median, best, goal):
        return step, best, median, len(averages)
    return None


def plan(
    *,
    name: str,
    uid: str,
    generation: int | None,
    spec: TuningJobSpec | None,
    invalid: Sequence[str],
    status: TuningJobStatus,
    jobs: Mapping[str, JobObservation],
    now: datetime,
    suggest_fn: Suggest = suggest,
    warm_start: Sequence[tuple[dict[str, Any], float]] = (),
    curves: Mapping[str, Sequence[float]] | None = None,
    converged_fn: Converged = has_converged,
) -> Plan:
    """Decide the next status and actions of one TuningJob (see the module docstring).

    `status` is not modified; `plan.status` is a new object. `jobs` maps Job names to
    observations, for the Jobs of this TuningJob that exist. `curves` maps trial names to
    their intermediate objective values (step 1 first), for the running trials and the
    succeeded ones the adapter has them for; only early stopping reads them.
    """
    status = status.model_copy(deep=True)
    out = Plan(status=status)
    status.observed_generation = generation
    if status.start_time is None:
        status.start_time = now

    # An invalid spec: Failed, with the field in the condition; never a crash loop.
    if spec is None or invalid:
        message = "; ".join(invalid) or "the spec could not be read"
        if status.phase is not Phase.FAILED:
            out.events.append(Event("Warning", INVALID_SPEC, message))
        status.phase = Phase.FAILED
        status.reason = INVALID_SPEC
        status.message = message
        status.completion_time = status.completion_time or now
        _set_condition(
            status,
            ConditionType.INVALID,
            ConditionStatus.TRUE,
            INVALID_SPEC,
            message,
            generation,
            now,
        )
        _set_condition(
            status,
            ConditionType.FAILED,
            ConditionStatus.TRUE,
            INVALID_SPEC,
            message,
            generation,
            now,
        )
        _set_condition(
            status,
            ConditionType.RUNNING,
            ConditionStatus.FALSE,
            INVALID_SPEC,
            message,
            generation,
            now,
        )
        out.delete = [j.job_name for j in jobs.values() if j.state == "Running"]
        return out

    goal = spec.objective.type
    limits = spec.limits
    retried = status.counters.retried
    terminal_before = status.phase in (Phase.COMPLETED, Phase.FAILED, Phase.STOPPED)

    # 1. Bring every unfinished trial up to date with its Job.
    for trial in status.trials:
        if trial.phase in TERMINAL_TRIAL_PHASES:
            continue
        job_name = trial_job_name(trial.name, trial.attempt)
        job = jobs.get(job_name)
        if job is None:
            if trial.phase is TrialPhase.RUNNING:
                _finish_trial(
                    trial,
                    TrialPhase.FAILED,
                    "JobDeleted",
                    f"Job {job_name} was deleted before it finished",
                    now,
                )
                out.events.append(
                    Event("Warning", "TrialFailed", f"trial {trial.name}: JobDeleted")
                )
            elif not terminal_before:
                out.launch.append(TrialLaunch(trial.name, trial.attempt, trial.hyperparameters))
            continue
        if trial.start_time is None:
            trial.start_time = job.started or now
        if job.state == "Running":
            trial.phase = TrialPhase.RUNNING
            continue
        end = job.finished or now
        if job.state == "Succeeded":
            outcome = job.outcome or ObjectiveOutcome(
                None, 0, "MetricUnavailable", "the trial's log could not be read"
            )
            trial.intermediate_count = outcome.intermediate_count
            if outcome.value is not None:
                trial.objective = outcome.value
                _finish_trial(trial, TrialPhase.SUCCEEDED, None, None, end)
                out.events.append(
                    Event(
                        "Normal",
                        "TrialCompleted",
                        f"trial {trial.name}: objective {outcome.value!r}",
                    )
                )
            else:
                _finish_trial(trial, TrialPhase.FAILED, outcome.reason, outcome.message, end)
                out.events.append(
                    Event(
                        "Warning",
                        "TrialFailed",
                        f"trial {trial.name}: {outcome.reason}: {outcome.message}",
                    )
                )
            continue
        # Failed.
        if job.infrastructure and trial.attempt < spec.retry.max_attempts and not terminal_before:
            trial.attempt += 1
            trial.phase = TrialPhase.PENDING
            trial.reason = job.reason
            trial.message = f"retrying after: {job.message or job.reason}"
            retried += 1
            out.launch.append(TrialLaunch(trial.name, trial.attempt, trial.hyperparameters))
            out.events.append(
                Event(
                    "Warning",
                    "TrialRetried",
                    f"trial {trial.name}: {job.reason}; attempt {trial.attempt}",
                )
            )
            continue
        _finish_trial(trial, TrialPhase.FAILED, job.reason or "Failed", job.message, end)
        out.events.append(
            Event("Warning", "TrialFailed", f"trial {trial.name}: {job.reason}: {job.message}")
        )

    # Early stopping: a running trial worse than its succeeded peers at its latest step
    # ends as EarlyStopped with its last value as objective; its Job is deleted below.
    if spec.early_stopping is EarlyStopping.AUTO and not terminal_before and curves:
        peers = [
            curves[t.name]
            for t in status.trials
            if t.phase is TrialPhase.SUCCEEDED and t.name in curves
        ]
        for trial in status.trials:
            curve = curves.get(trial.name)
            if trial.phase is not TrialPhase.RUNNING or not curve:
                continue
            decision = median_stopping(curve, peers, goal)
            if decision is None:
                continue
            step, best, median, count = decision
            trial.objective = curve[-1]
            trial.intermediate_count = len(curve)
            _finish_trial(
                trial,
                TrialPhase.EARLY_STOPPED,
                EARLY_STOPPED,
                f"step {step}: best {best:.6g} worse than the median {median:.6g} "
                f"of {count} succeeded trials",
                now,
            )
            out.events.append(
                Event(
                    "Normal",
                    "TrialEarlyStopped",
                    f"trial {trial.name} at step {step}: best {best!r} is worse than the "
                    f"median {median!r} of {count} succeeded trials' running averages",
                )
            )

    # Jobs whose trial is finished but which still run (e.g. an image that never pulls,
    # a Job left over from before a stop, an early-stopped trial): delete them.
    finished_trials = {
        trial_job_name(t.name, t.attempt) for t in status.trials if t.phase in TERMINAL_TRIAL_PHASES
    }
    current = {trial_job_name(t.name, t.attempt) for t in status.trials}
    for job in jobs.values():
        if job.state == "Running" and (
            job.job_name in finished_trials or job.job_name not in current
        ):
            out.delete.append(job.job_name)

    def summarise() -> None:
        counters = _count(status, retried)
        status.counters = counters
        best = _best(status.trials, goal)
        if best is not None and best.objective is not None:
            status.best_trial = BestTrial(
                name=best.name, hyperparameters=best.hyperparameters, objective=best.objective
            )
            status.best_objective = best.objective
        finished = counters.completed + counters.failed + counters.early_stopped + counters.stopped
        status.trials_done = f"{finished}/{limits.max_trials}"
        # Finished trials only: a running trial's share would change the status (and cost
        # a write) on every reconcile.
        status.consumed_seconds = sum(_seconds(t.start_time, t.end_time) for t in status.trials)

    summarise()
    if terminal_before:
        return out
    if spec.early_stopping is EarlyStopping.AUTO and any(
        t.phase in (TrialPhase.PENDING, TrialPhase.RUNNING) for t in status.trials
    ):
        out.requeue_after = EARLY_STOPPING_CHECK_SECONDS

    # 2. Criteria that end the job now, stopping the running trials.
    def stop_all(reason: str) -> None:
        for trial in status.trials:
            if trial.phase not in TERMINAL_TRIAL_PHASES:
                _finish_trial(trial, TrialPhase.STOPPED, reason, "the tuning job ended", now)
                job_name = trial_job_name(trial.name, trial.attempt)
                if job_name in jobs and job_name not in out.delete:
                    out.delete.append(job_name)
        out.launch = []

    def conclude(phase: Phase, reason: str, message: str) -> Plan:
        status.phase = phase
        status.reason = reason
        status.message = message
        status.completion_time = now
        outcome = {
            Phase.COMPLETED: ConditionType.SUCCEEDED,
            Phase.FAILED: ConditionType.FAILED,
        }.get(phase)
        if outcome is not None:
            _set_condition(status, outcome, ConditionStatus.TRUE, reason, message, generation, now)
        _set_condition(
            status, ConditionType.RUNNING, ConditionStatus.FALSE, reason, message, generation, now
        )
        out.events.append(Event("Warning" if phase is Phase.FAILED else "Normal", reason, message))
        summarise()
        return out

    counters = status.counters
    if limits.max_failed_trials is not None and counters.failed > limits.max_failed_trials:
        stop_all(MAX_FAILED_TRIALS_EXCEEDED)
        return conclude(
            Phase.FAILED,
            MAX_FAILED_TRIALS_EXCEEDED,
            f"{counters.failed} trials failed, more than limits.maxFailedTrials "
            f"({limits.max_failed_trials})",
        )
    if limits.max_runtime_seconds is not None and status.start_time is not None:
        elapsed = (now - status.start_time).total_seconds()
        if elapsed >= limits.max_runtime_seconds:
            stop_all(MAX_RUNTIME_EXCEEDED)
            return conclude(
                Phase.STOPPED,
                MAX_RUNTIME_EXCEEDED,
                f"the job ran {int(elapsed)} s, limits.maxRuntimeSeconds is "
                f"{limits.max_runtime_seconds}; running trials were stopped",
            )
        until = max(0.5, limits.max_runtime_seconds - elapsed)
        out.requeue_after = min(until, out.requeue_after or until)

    # 3. Criteria that stop launching; the job ends once the running trials have finished.
    active = counters.pending + counters.running
    slots = min(limits.max_parallel_trials - active, limits.max_trials - len(status.trials))
    criteria = spec.completion_criteria
    converging = (
        criteria is not None
        and criteria.convergence is Convergence.AUTO
        and spec.strategy is Strategy.BAYESIAN
    )
    converged_message = (
        f"the {spec.strategy.value} optimizer judged further trials unlikely to improve "
        f"the best objective {status.best_objective!r} ({counters.completed} trials "
        "succeeded)"
    )
    done: tuple[str, str] | None = None
    best_value = status.best_objective
    if (
        criteria is not None
        and criteria.target_objective is not None
        and best_value is not None
        and meets_target(best_value, criteria.target_objective, goal)
    ):
        done = (
            TARGET_OBJECTIVE_REACHED,
            f"trial {status.best_trial.name if status.best_trial else '?'} reached "
            f"{best_value!r}, target {criteria.target_objective!r}",
        )
    elif (
        criteria is not None
        and criteria.max_trials_not_improving is not None
        and trials_not_improving(status.trials, goal) >= criteria.max_trials_not_improving
    ):
        done = (
            MAX_TRIALS_NOT_IMPROVING,
            f"{criteria.max_trials_not_improving} finished trials in a row did not improve "
            f"the best objective {best_value!r}",
        )
    elif converging and status.reason == CONVERGED:
        done = (CONVERGED, converged_message)  # decided before: let the running ones finish
    elif len(status.trials) >= limits.max_trials:
        done = (
            MAX_TRIALS_REACHED,
            f"{len(status.trials)} trials run (limits.maxTrials {limits.max_trials})",
        )
    elif (
        converging
        and slots > 0
        and not spec.suspend
        and counters.completed >= max(CONVERGENCE_MIN_TRIALS, 2 * len(spec.parameters))
    ):
        # Asked only when a trial could be launched: that is the decision it informs, and
        # a Gaussian process fit on every reconcile would cost for nothing.
        observed, _ = _observations(spec, status, warm_start)
        try:
            converged = converged_fn(
                search_space(spec),
                observed,
                goal=goal.value,
                seed=seed_for(spec, uid),
            )
        except Exception as error:
            # Deterministic like suggest: it would fail the same way on every reconcile.
            stop_all(SUGGESTION_FAILED)
            return conclude(
                Phase.FAILED,
                SUGGESTION_FAILED,
                f"the convergence test failed after {len(status.trials)} trials: "
                f"{type(error).__name__}: {error}"[:1000],
            )
        if converged:
            done = (CONVERGED, converged_message)

    status.phase = Phase.IN_PROGRESS
    _set_condition(
        status,
        ConditionType.SUSPENDED,
        ConditionStatus.TRUE if spec.suspend else ConditionStatus.FALSE,
        "Suspended" if spec.suspend else "NotSuspended",
        "spec.suspend is true: no new trial is launched" if spec.suspend else "",
        generation,
        now,
    )

    if done is not None:
        if active == 0 and not out.launch:
            return conclude(Phase.COMPLETED, *done)
        status.reason = done[0]
        status.message = f"{done[1]}; waiting for {active} running trials"
        _set_condition(
            status,
            ConditionType.RUNNING,
            ConditionStatus.TRUE,
            "Finishing",
            status.message,
            generation,
            now,
        )
        return out

    # 4. Launch trials in the free slots.
    if slots > 0 and not spec.suspend:
        observations, pending = _observations(spec, status, warm_start)
        started = time.perf_counter()
        try:
            suggestions = suggest_fn(
                search_space(spec),
                observations,
                strategy=spec.strategy.value,
                n=slots,
                pending=pending,
                seed=(seed_for(spec, uid) + len(status.trials)) % 2**32,
                goal=goal.value,
            )
        except Exception as error:
            # The optimizer is deterministic: retrying would fail the same way forever.
            stop_all(SUGGESTION_FAILED)
            return conclude(
                Phase.FAILED,
                SUGGESTION_FAILED,
                f"the {spec.strategy.value} optimizer failed after {len(status.trials)} "
                f"trials: {type(error).__name__}: {error}"[:1000],
            )
        out.suggestion_seconds = time.perf_counter() - started
        for suggestion in suggestions[:slots]:
            index = len(status.trials) + 1
            trial = TrialStatus(
                name=trial_name(name, index),
                hyperparameters={
                    p.name: format_value(p, suggestion[p.name]) for p in spec.parameters
                },
            )
            status.trials.append(trial)
            out.launch.append(TrialLaunch(trial.name, 1, trial.hyperparameters))
            out.events.append(
                Event("Normal", "TrialStarted", f"trial {trial.name}: {trial.hyperparameters}")
            )
        if not suggestions and active == 0 and not out.launch:
            return conclude(
                Phase.COMPLETED,
                SEARCH_SPACE_EXHAUSTED,
                f"the {spec.strategy.value} strategy has no untried hyperparameters "
                f"left after {len(status.trials)} trials",
            )
        summarise()

    running = status.counters.pending + status.counters.running
    status.reason = "Suspended" if spec.suspend else "TrialsRunning"
    status.message = (
        f"suspended; {running} trials still running"
        if spec.suspend
        else f"{running} trials running, {status.trials_done} finished"
    )
    _set_condition(
        status,
        ConditionType.RUNNING,
        ConditionStatus.TRUE,
        status.reason,
        status.message,
        generation,
        now,
    )
    return out
