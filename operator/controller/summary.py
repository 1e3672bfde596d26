"""The status's summary fields (counters, best trial, trials done, consumed time) and the
job's conclusion: small pure functions of the trials."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kubetune.operator.api import (
    TERMINAL_TRIAL_PHASES,
    BestTrial,
    ConditionStatus,
    ConditionType,
    ObjectiveType,
    Phase,
    TrialPhase,
    TrialStatus,
    count_trials,
    objective_text,
)
from kubetune.operator.controller.hyperband import TOO_MANY_VALUES, count_epochs
from kubetune.operator.controller.types import Decision, Plan


def better(a: float, b: float, goal: ObjectiveType) -> bool:
    """Whether objective `a` is strictly better than `b`."""
    return a > b if goal is ObjectiveType.MAXIMIZE else a < b


def meets_target(value: float, target: float, goal: ObjectiveType) -> bool:
    """Whether `value` reaches the target (at least it when maximizing, at most when
    minimizing)."""
    return value >= target if goal is ObjectiveType.MAXIMIZE else value <= target


def best_trial(trials: Sequence[TrialStatus], goal: ObjectiveType) -> TrialStatus | None:
    """The succeeded trial with the best objective (the first of equals)."""
    best: TrialStatus | None = None
    for trial in trials:
        if (
            trial.phase is TrialPhase.SUCCEEDED
            and trial.objective is not None
            and (best is None or better(trial.objective, best.objective or 0.0, goal))
        ):
            best = trial
    return best


def _end_order(trial: TrialStatus) -> tuple[bool, datetime, str]:
    """Finished trials in order of their end (then their name)."""
    return (trial.end_time is None, trial.end_time or datetime.min, trial.name)


def first_to_reach(
    trials: Sequence[TrialStatus], target: float, goal: ObjectiveType
) -> TrialStatus | None:
    """The succeeded trial that reached `target` first (in order of their end)."""
    reached = [
        t
        for t in trials
        if t.phase is TrialPhase.SUCCEEDED
        and t.objective is not None
        and meets_target(t.objective, target, goal)
    ]
    return min(reached, key=_end_order, default=None)


def trials_not_improving(trials: Sequence[TrialStatus], goal: ObjectiveType) -> int:
    """Finished trials (in order of their end) since the last one that improved the best.

    Failed trials count as not improving; trials still running do not count.
    """
    finished = [t for t in trials if t.phase in TERMINAL_TRIAL_PHASES]
    finished.sort(key=_end_order)
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


def _seconds(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, int((end - start).total_seconds()))


def summarise(d: Decision) -> None:
    """Counters, best trial, trials done, consumed seconds and (Hyperband) epochs, from the
    trials."""
    status = d.status
    counters = count_trials(status.trials, d.retried)
    status.counters = counters
    best = best_trial(status.trials, d.spec.objective.type)
    if status.reason == TOO_MANY_VALUES:
        # Every value was read from lines the regex should not match (the job's message
        # says which): none of them is a result, the best included.
        status.best_trial = status.best_objective = status.best_objective_text = None
    elif best is not None and best.objective is not None:
        status.best_trial = BestTrial(
            name=best.name, hyperparameters=best.hyperparameters, objective=best.objective
        )
        status.best_objective = best.objective
        status.best_objective_text = objective_text(best.objective)
    finished = counters.completed + counters.failed + counters.early_stopped + counters.stopped
    if not d.terminal_before or status.trials_done is None:
        # An ended job keeps the limit it ended under: a limit edited afterwards runs
        # nothing more and must not show as if it did (8/12 beside MaxTrialsReached).
        status.trials_done = f"{finished}/{d.spec.limits.max_trials}"
    # Finished trials only: a running trial's share would change the status (and cost a
    # write) on every reconcile.
    status.consumed_seconds = sum(_seconds(t.start_time, t.end_time) for t in status.trials)
    count_epochs(d)


def conclude(d: Decision, phase: Phase, reason: str, message: str) -> Plan:
    """End the job in a terminal `phase`, with its conditions, an Event and the summary."""
    status = d.status
    status.phase = phase
    status.reason = reason
    status.message = message
    status.completion_time = d.now
    outcome = {
        Phase.COMPLETED: ConditionType.SUCCEEDED,
        Phase.FAILED: ConditionType.FAILED,
    }.get(phase)
    if outcome is not None:
        d.condition(outcome, ConditionStatus.TRUE, reason, message)
    d.condition(ConditionType.RUNNING, ConditionStatus.FALSE, reason, message)
    d.event("Warning" if phase is Phase.FAILED else "Normal", reason, message)
    summarise(d)
    return d.plan
