"""Early stopping (`spec.earlyStopping: Auto`): Vizier's median stopping rule, decided
from the intermediate objective values ("curves") the adapter read from the trials'
logs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from kubetune.operator.api import EARLY_STOPPED, EarlyStopping, ObjectiveType, TrialPhase
from kubetune.operator.controller.summary import better
from kubetune.operator.controller.types import Decision

EARLY_STOPPING_MIN_PEERS = 3
"""The median stopping rule judges a trial at step s only once this many succeeded trials
reached step s: the median of one or two curves is too noisy a bar to stop anyone on."""
EARLY_STOPPING_MIN_STEP = 2
"""No trial is stopped before its second objective value: a first value alone (one epoch,
often during warm-up) says little about where a curve is going."""
EARLY_STOPPING_CHECK_SECONDS = 5.0
"""How often a job with early stopping and running trials is looked at again, so running
trials are judged on fresh values even when no Job or pod changes."""


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


def stop_early(d: Decision) -> None:
    """A running trial worse than its succeeded peers at its latest step ends as
    EarlyStopped, with its last value as objective (its Job is deleted as a leftover)."""
    curves = d.snapshot.curves
    if d.spec.early_stopping is not EarlyStopping.AUTO or d.terminal_before or not curves:
        return
    trials = d.status.trials
    peers = [curves[t.name] for t in trials if t.phase is TrialPhase.SUCCEEDED and t.name in curves]
    for trial in trials:
        curve = curves.get(trial.name)
        if trial.phase is not TrialPhase.RUNNING or not curve:
            continue
        decision = median_stopping(curve, peers, d.spec.objective.type)
        if decision is None:
            continue
        step, best, median, count = decision
        trial.objective = curve[-1]
        trial.intermediate_count = len(curve)
        d.finish_trial(
            trial,
            TrialPhase.EARLY_STOPPED,
            EARLY_STOPPED,
            f"step {step}: best {best:.6g} worse than the median {median:.6g} "
            f"of {count} succeeded trials",
        )
        d.event(
            "Normal",
            "TrialEarlyStopped",
            f"trial {trial.name} at step {step}: best {best!r} is worse than the "
            f"median {median!r} of {count} succeeded trials' running averages",
        )


def schedule_checks(d: Decision) -> None:
    """With early stopping and trials still to judge, look again in a few seconds."""
    if d.spec.early_stopping is EarlyStopping.AUTO and any(
        t.phase in (TrialPhase.PENDING, TrialPhase.RUNNING) for t in d.status.trials
    ):
        d.plan.requeue_after = EARLY_STOPPING_CHECK_SECONDS
