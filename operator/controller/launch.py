"""Step 4 of a plan: ask the optimizer for the free slots' hyperparameters and record a
trial for each (the adapter creates their Jobs after writing the status)."""

from __future__ import annotations

from kubetune.operator.api import (
    FINISHING,
    NO_TRIAL_SUCCEEDED,
    SEARCH_SPACE_EXHAUSTED,
    ConditionStatus,
    ConditionType,
    Phase,
    Strategy,
    TrialStatus,
    format_value,
)
from kubetune.operator.api.naming import trial_name
from kubetune.operator.controller.criteria import Done, active_trials, first_failure, free_slots
from kubetune.operator.controller.hyperband import suggest_configurations
from kubetune.operator.controller.optimizer_input import observations, search_space, seed_for
from kubetune.operator.controller.summary import conclude, summarise
from kubetune.operator.controller.types import (
    POD_REFUSED,
    WAITING_MESSAGES,
    Decision,
    Optimizer,
    OptimizerError,
    TrialLaunch,
    count,
)


def launch_trials(d: Decision, optimizer: Optimizer) -> None:
    """Record a trial per suggestion in the free slots (none while suspended); complete
    the job when the strategy has nothing left to suggest and nothing runs (in a space of
    Integer and Categorical parameters only, every configuration tried: observed, the
    warm start's included, or running). Raises OptimizerError when the optimizer fails."""
    spec, status = d.spec, d.status
    slots = free_slots(d)
    if slots <= 0 or spec.suspend:
        return
    active = active_trials(d)
    observed, pending = observations(status, d.snapshot.warm_start)
    # One seed per job: the optimizer mixes the number of trials it is shown into its random
    # draws itself, and its Sobol sequences (the Sobol strategy, the Bayesian design,
    # Hyperband's default sampler) are one sequence per seed walked by that number, which a
    # seed that changed with every trial would turn into independent draws.
    seed = seed_for(spec, d.snapshot.uid)
    try:
        if spec.strategy is Strategy.HYPERBAND:
            suggestions = suggest_configurations(d, slots, seed, optimizer.suggest_hyperband)
        else:
            suggestions = optimizer.suggest(
                search_space(spec),
                observed,
                strategy=spec.strategy.value,
                n=slots,
                pending=pending,
                seed=seed,
                goal=spec.objective.type.value,
            )
    except Exception as error:
        raise OptimizerError(
            f"the {spec.strategy.value} optimizer failed after "
            f"{count(len(status.trials), 'trial')}: {type(error).__name__}: {error}"
        ) from error
    for suggestion in suggestions[:slots]:
        trial = TrialStatus(
            name=trial_name(d.snapshot.name, len(status.trials) + 1),
            hyperparameters={p.name: format_value(p, suggestion[p.name]) for p in spec.parameters},
        )
        status.trials.append(trial)
        d.plan.launch.append(TrialLaunch(trial.name, 1, trial.hyperparameters))
        # "Created", not "Started": its pod may yet wait for a node or be refused by the
        # namespace (TrialPodRefused then follows); the trial's phase says when it runs.
        values = " ".join(f"{k}={v}" for k, v in trial.hyperparameters.items())
        d.event("Normal", "TrialCreated", f"trial {trial.name}: {values}")
    if not suggestions and active == 0 and not d.plan.launch:
        # Every strategy skips the configurations tried in a finite space, the warm
        # start's included (a parent trained them), which may account for the rest.
        warm = len(d.snapshot.warm_start)
        exhausted = (
            SEARCH_SPACE_EXHAUSTED,
            f"the {spec.strategy.value} strategy has no untried hyperparameters "
            f"left after {count(len(status.trials), 'trial')}"
            + (f" and {count(warm, 'warm-start trial')}" if warm else ""),
        )
        if status.trials:  # Failed (NoTrialSucceeded) if none of them succeeded
            finish_running(d, exhausted)
        else:  # the warm start had tried everything: nothing ran, nothing failed
            conclude(d, Phase.COMPLETED, *exhausted)
        return
    summarise(d)


def finish_running(d: Decision, done: Done) -> None:
    """A completion criterion is met: complete now if nothing runs, else launch nothing
    more and say what the job waits for."""
    active = active_trials(d)
    if active == 0 and not d.plan.launch:
        if d.status.counters.completed == 0:
            # Nothing was found: a job "Completed" with no result would pass health checks
            # and CI, so a trainer or regex that never works fails it, as in SageMaker.
            conclude(d, Phase.FAILED, NO_TRIAL_SUCCEEDED, _no_success(d, done))
        else:
            conclude(d, Phase.COMPLETED, *done)
        return
    d.status.reason = done[0]
    d.status.message = f"{done[1]}; waiting for {count(active, 'running trial')}{_why_waiting(d)}"
    d.condition(ConditionType.RUNNING, ConditionStatus.TRUE, FINISHING, d.status.message)


def _no_success(d: Decision, done: Done) -> str:
    """Why a job that met `done` failed: no trial succeeded; the first failure's reason."""
    return (
        f"{done[1]}, but no trial succeeded{first_failure(d)}; fix what made them fail (the "
        f"trainer, its image, spec.metrics' regex), then {d.snapshot.start_anew}"
    )


def _why_waiting(d: Decision) -> str:
    """Why a trial does not start (no node has its GPUs, the namespace refuses its pod),
    for the job's own message (`kubetune describe`, `kubectl describe`): the first such
    trial's, whole (a trial's message is cut short), with what would let it start."""
    for trial in d.status.trials:
        if (trial.message or "").startswith(WAITING_MESSAGES):
            job = d.snapshot.jobs.get(trial.job_name)
            why = (job.message if job is not None else None) or trial.message or ""
            if trial.reason == POD_REFUSED:
                why += (
                    " (no trial is launched meanwhile; it starts when the namespace's "
                    "quota, LimitRange or ServiceAccount lets it, or fix the template in a "
                    "new TuningJob)"
                )
            return f"; trial {trial.name} is {why}"
    return ""


def report_progress(d: Decision) -> None:
    """The reason, message and Running condition of a job that goes on."""
    status, suspended = d.status, d.spec.suspend
    counters = status.counters
    # Pending trials apart: their pods have not started (no node, no room, refused yet).
    running = f"{count(counters.running, 'trial')} running" + (
        f", {counters.pending} pending" if counters.pending else ""
    )
    status.reason = "Suspended" if suspended else "TrialsRunning"
    status.message = (
        f"suspended; {running}" if suspended else f"{running}, {status.trials_done} finished"
    ) + _why_waiting(d)
    d.condition(ConditionType.RUNNING, ConditionStatus.TRUE, status.reason, status.message)
