"""What the planner hands the optimizer: the search space, the observations, the seed.

Hyperparameters travel as the text recorded in the status (`api.values.format_value`);
the optimizer parses them, and drops those that do not fit its space (a warm-start
parent with other parameters, a value outside the range), so this module never does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from kubetune.operator.api import (
    TERMINAL_TRIAL_PHASES,
    ParameterType,
    Strategy,
    TrialPhase,
    TrialStatus,
    TuningJobSpec,
    TuningJobStatus,
)
from kubetune.operator.controller.types import Observation, WarmTrial
from kubetune.optimizer import Categorical, Continuous, Integer, SearchSpace


def search_space(spec: TuningJobSpec) -> SearchSpace:
    """The optimizer's search space for the spec's parameters."""
    params: list[Continuous | Integer | Categorical] = []
    for p in spec.parameters:
        scaling = p.scaling.value
        if p.type is ParameterType.CATEGORICAL:
            params.append(Categorical(p.name, list(p.values or [])))
        elif p.type is ParameterType.INTEGER:
            assert p.min is not None and p.max is not None  # admission requires both
            # Admission refuses bounds that are not whole; where none ran (local mode),
            # round inwards, so that no trial gets a value outside the declared range.
            low, high = math.ceil(p.min), math.floor(p.max)
            params.append(Integer(p.name, low, high, scaling=scaling))  # type: ignore[arg-type]
        else:
            assert p.min is not None and p.max is not None
            params.append(Continuous(p.name, float(p.min), float(p.max), scaling=scaling))  # type: ignore[arg-type]
    return SearchSpace(params)


def _observation(trial: TrialStatus) -> Observation | None:
    """A finished trial as the optimizer sees it: a succeeded one with its objective; an
    early-stopped one with its last intermediate value (no better than its peers', which
    steers the search away from its region); one its trainer failed as NaN (avoided).
    None for an unfinished or stopped trial, or one the infrastructure failed, which say
    nothing of their point."""
    params: dict[str, Any] = dict(trial.hyperparameters)
    if trial.phase in (TrialPhase.SUCCEEDED, TrialPhase.EARLY_STOPPED):
        return None if trial.objective is None else (params, trial.objective)
    if trial.phase is TrialPhase.FAILED and not trial.infrastructure:
        return params, math.nan
    return None


def warm_start_observations(parents: Sequence[TuningJobStatus]) -> list[Observation]:
    """The trials of parent TuningJobs that produced a value, as observations: a succeeded
    one with its objective, an early-stopped one with its last value (as SageMaker AMT's
    warm start uses its parents' completed training jobs). A parent's failed trials are not
    carried, neither as failures nor as tried configurations: the child may run another
    (a fixed) trainer. The optimizer skips those whose hyperparameters do not fit this
    job's space: parents are expected, not guaranteed, to share the parameters. Which of
    them a child takes, and at which levels, depends on both strategies:
    `warm_start_trials`."""
    return [
        observation
        for parent in parents
        for trial in parent.trials
        if trial.phase is not TrialPhase.FAILED and (observation := _observation(trial)) is not None
    ]


def _levels(spec: TuningJobSpec) -> tuple[int, ...]:
    """A Hyperband job's levels in epochs, its rungs then maxResource; () for the other
    strategies, and for a Hyperband spec without a valid maxResource (it ran no trial)."""
    if spec.strategy is not Strategy.HYPERBAND:
        return ()
    # Imported here: hyperband imports this module (search_space).
    from kubetune.operator.controller.hyperband import levels, max_resource  # noqa: PLC0415

    try:
        return (*levels(spec), max_resource(spec))
    except ValueError:
        return ()


def warm_start_trials(
    spec: TuningJobSpec, parents: Sequence[tuple[TuningJobSpec, TuningJobStatus]]
) -> list[WarmTrial]:
    """The trials of the parents (spec and status each) that warm-start the job of `spec`,
    at its levels (`WarmTrial`): those that produced a value (`warm_start_observations`),
    but a Hyperband parent's trial stopped at a rung only into a Hyperband job with the
    same levels, where it stops at that rung too: its value after a few epochs is no final
    objective, and another job's rungs are other epochs. Such a job takes a Hyperband
    parent's trials with their rung values (those it reached, then for a trial trained to
    the end its objective); the rung rule does not compare with them (it replays only the
    job's own recorded values). Every other trial carried is one value taken as final
    (an early-stopped trial of another strategy: its last), at every level of a Hyperband
    job (all it says of the earlier ones)."""
    ours = _levels(spec)
    carried = []
    for parent_spec, parent in parents:
        theirs = _levels(parent_spec)
        for trial in parent.trials:
            observation = _observation(trial) if trial.phase is not TrialPhase.FAILED else None
            if observation is None:
                continue
            params, value = observation
            trained = not theirs or trial.phase is TrialPhase.SUCCEEDED
            if theirs and theirs == ours:
                values = list(trial.rung_values or [])
                if trained:  # rung values unread (the operator was down) are unknown
                    values += [math.nan] * (len(theirs) - 1 - len(values)) + [value]
                if values:
                    carried.append(WarmTrial(params, tuple(values)))
            elif trained:
                carried.append(WarmTrial(params, (value,) * max(1, len(ours))))
    return carried


def observations(
    status: TuningJobStatus, warm_start: Sequence[WarmTrial]
) -> tuple[list[Observation], list[dict[str, Any]]]:
    """The optimizer's observations (warm start, then this job's finished trials) and the
    hyperparameters of the trials still pending or running. (A Hyperband job's sampler
    takes its trials at their levels instead: `hyperband.sampler_trials`.)"""
    observed: list[Observation] = [(t.params, t.values[-1]) for t in warm_start]
    pending: list[dict[str, Any]] = []
    for trial in status.trials:
        observation = _observation(trial)
        if observation is not None:
            observed.append(observation)
        elif trial.phase not in TERMINAL_TRIAL_PHASES:
            pending.append(dict(trial.hyperparameters))
    return observed, pending


def seed_for(spec: TuningJobSpec, uid: str) -> int:
    """`spec.randomSeed`, or a seed derived from the TuningJob's UID."""
    if spec.random_seed is not None:
        return spec.random_seed
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)
