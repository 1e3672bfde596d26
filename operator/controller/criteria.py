"""Steps 2 and 3 of a plan: the limits that end the job now (too many failed trials, the
runtime budget), and the completion criteria that stop launching (target reached, no
improvement, convergence, maxTrials); the job then ends once its running trials end."""

from __future__ import annotations

from kubetune.operator.api import (
    CONVERGED,
    MAX_FAILED_TRIALS_EXCEEDED,
    MAX_RUNTIME_EXCEEDED,
    MAX_TRIALS_NOT_IMPROVING,
    MAX_TRIALS_REACHED,
    TARGET_OBJECTIVE_REACHED,
    TERMINAL_TRIAL_PHASES,
    Convergence,
    Phase,
    Strategy,
    TrialPhase,
)
from kubetune.operator.api.constants import STOPPED_BY_USER
from kubetune.operator.controller.hyperband import TOO_MANY_VALUES, too_many_values
from kubetune.operator.controller.optimizer_input import observations, search_space, seed_for
from kubetune.operator.controller.summary import (
    conclude,
    first_to_reach,
    meets_target,
    trials_not_improving,
)
from kubetune.operator.controller.types import (
    POD_REFUSED,
    Decision,
    Optimizer,
    OptimizerError,
    count,
)
from kubetune.optimizer.convergence import MIN_OBSERVATIONS

Done = tuple[str, str]
"""Why the job completes: its reason and message."""

CONVERGENCE_MIN_TRIALS = MIN_OBSERVATIONS
"""Convergence is not tested before max(this, 2 × the number of parameters) trials
succeeded: the optimizer's own minimum, checked here too so that no reconcile calls it
for a foregone answer."""


def end_now(d: Decision) -> bool:
    """`spec.stop` (Stopped), too many failed trials (Failed), a Hyperband trial that
    printed more values than `maxResource` (Failed: the regex or maxResource is wrong, and
    every rung decision with it) or the runtime budget spent (Stopped) end the job now,
    stopping its running trials. Returns whether the job ended; otherwise asks to be
    reconciled again when the runtime budget runs out."""
    limits, status = d.spec.limits, d.status
    if d.spec.stop:
        running = sum(t.phase not in TERMINAL_TRIAL_PHASES for t in status.trials)
        d.stop_all(STOPPED_BY_USER)
        if running:
            stopped = f"; {count(running, 'unfinished trial')} {'was' if running == 1 else 'were'}"
            stopped += " stopped"
        elif status.trials:
            stopped = "; no trial was running"
        else:
            stopped = " before any trial was launched"
        conclude(
            d, Phase.STOPPED, STOPPED_BY_USER, f"spec.stop is true: stopped by the user{stopped}"
        )
        return True
    failed = status.counters.failed
    if limits.max_failed_trials is not None and failed > limits.max_failed_trials:
        d.stop_all(MAX_FAILED_TRIALS_EXCEEDED)
        conclude(
            d,
            Phase.FAILED,
            MAX_FAILED_TRIALS_EXCEEDED,
            f"{count(failed, 'trial')} failed, more than limits.maxFailedTrials "
            f"({limits.max_failed_trials}){first_failure(d)}",
        )
        return True
    too_many = too_many_values(d)
    if too_many is not None:
        d.stop_all(TOO_MANY_VALUES)
        conclude(d, Phase.FAILED, TOO_MANY_VALUES, too_many)
        return True
    if limits.max_runtime_seconds is None or status.start_time is None:
        return False
    elapsed = (d.now - status.start_time).total_seconds()
    if elapsed >= limits.max_runtime_seconds:
        d.stop_all(MAX_RUNTIME_EXCEEDED)
        conclude(
            d,
            Phase.STOPPED,
            MAX_RUNTIME_EXCEEDED,
            f"the job ran {int(elapsed)} s, limits.maxRuntimeSeconds is "
            f"{limits.max_runtime_seconds}; running trials were stopped",
        )
        return True
    until = max(0.5, limits.max_runtime_seconds - elapsed)
    d.plan.requeue_after = min(until, d.plan.requeue_after or until)
    return False


def first_failure(d: Decision) -> str:
    """` (first: trial: reason: message)` of the job's first failed trial, for a message
    that says why a job failed; empty when none failed."""
    failed = next((t for t in d.status.trials if t.phase is TrialPhase.FAILED), None)
    return "" if failed is None else f" (first: {failed.name}: {failed.reason}: {failed.message})"


def active_trials(d: Decision) -> int:
    """Trials recorded and not finished (pending or running)."""
    return d.status.counters.pending + d.status.counters.running


def free_slots(d: Decision) -> int:
    """How many trials may be launched now (parallelism and maxTrials allowing). No slot
    while the namespace refuses a trial's pod: a new Job's pod would take the room a
    quota frees before the refused one's (its Job controller retries only after a
    backoff), and a refusal for good (a LimitRange) would meet the new trials too."""
    limits = d.spec.limits
    if any(t.reason == POD_REFUSED and t.phase is TrialPhase.PENDING for t in d.status.trials):
        return 0
    return min(
        limits.max_parallel_trials - active_trials(d),
        limits.max_trials - len(d.status.trials),
    )


def completion(d: Decision, optimizer: Optimizer) -> Done | None:
    """The first completion criterion met, if any. Raises OptimizerError when the
    convergence test fails."""
    for check in (_target_reached, _not_improving, _converged_before, _max_trials_reached):
        done = check(d)
        if done is not None:
            return done
    return _converged_now(d, optimizer)


def _target_reached(d: Decision) -> Done | None:
    criteria, status = d.spec.completion_criteria, d.status
    best = status.best_objective
    if (
        criteria is None
        or criteria.target_objective is None
        or best is None
        or not meets_target(best, criteria.target_objective, d.spec.objective.type)
    ):
        return None
    target = criteria.target_objective
    first = first_to_reach(status.trials, target, d.spec.objective.type)
    best_name = status.best_trial.name if status.best_trial else "?"
    if first is None or first.name == best_name:
        return TARGET_OBJECTIVE_REACHED, f"trial {best_name} reached {best!r}, target {target!r}"
    # The one that ended the search, and the best, which ended after it (it was running).
    return (
        TARGET_OBJECTIVE_REACHED,
        f"trial {first.name} reached {first.objective!r}, target {target!r}; the best is "
        f"trial {best_name} with {best!r}",
    )


def _not_improving(d: Decision) -> Done | None:
    """Met now, or announced by an earlier reconcile (the recorded reason): the decision
    stands once announced, so a trial running then that improves the best launches
    nothing more (only removing the criterion from the spec does)."""
    criteria = d.spec.completion_criteria
    if criteria is None or criteria.max_trials_not_improving is None:
        return None
    limit = criteria.max_trials_not_improving
    met = trials_not_improving(d.status.trials, d.spec.objective.type) >= limit
    if not met and d.status.reason != MAX_TRIALS_NOT_IMPROVING:
        return None
    message = f"{limit} finished trials in a row did not improve the best objective"
    best = d.status.best_trial
    if met or best is None:
        return MAX_TRIALS_NOT_IMPROVING, f"{message} {d.status.best_objective!r}"
    return (
        MAX_TRIALS_NOT_IMPROVING,
        f"{message}, so no trial was launched after that; trial {best.name}, running then, "
        f"has since improved it to {d.status.best_objective!r}",
    )


def _converging(d: Decision) -> bool:
    criteria = d.spec.completion_criteria
    return (
        criteria is not None
        and criteria.convergence is Convergence.AUTO
        and d.spec.strategy is Strategy.BAYESIAN
    )


def _converged_message(d: Decision) -> str:
    return (
        f"the {d.spec.strategy.value} optimizer judged further trials unlikely to improve "
        f"the best objective {d.status.best_objective!r} ({d.status.counters.completed} "
        "trials succeeded)"
    )


def _converged_before(d: Decision) -> Done | None:
    """Decided by an earlier reconcile: let the running trials finish."""
    if _converging(d) and d.status.reason == CONVERGED:
        return CONVERGED, _converged_message(d)
    return None


def _max_trials_reached(d: Decision) -> Done | None:
    launched, limit = len(d.status.trials), d.spec.limits.max_trials
    if launched < limit:
        return None
    return MAX_TRIALS_REACHED, f"{count(launched, 'trial')} launched (limits.maxTrials {limit})"


def _converged_now(d: Decision, optimizer: Optimizer) -> Done | None:
    # Asked only when a trial could be launched: that is the decision it informs, and a
    # Gaussian process fit on every reconcile would cost for nothing.
    spec = d.spec
    if (
        not _converging(d)
        or free_slots(d) <= 0
        or spec.suspend
        or d.status.counters.completed < max(CONVERGENCE_MIN_TRIALS, 2 * len(spec.parameters))
    ):
        return None
    observed, _ = observations(d.status, d.snapshot.warm_start)
    try:
        converged = optimizer.converged(
            search_space(spec),
            observed,
            goal=spec.objective.type.value,
            seed=seed_for(spec, d.snapshot.uid),
        )
    except Exception as error:
        # Deterministic like suggest: it would fail the same way on every reconcile.
        raise OptimizerError(
            f"the convergence test failed after {count(len(d.status.trials), 'trial')}: "
            f"{type(error).__name__}: {error}"
        ) from error
    return (CONVERGED, _converged_message(d)) if converged else None
