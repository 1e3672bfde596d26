"""Early stopping (`spec.earlyStopping: Auto`): Vizier's median stopping rule, decided
from the intermediate objective values ("curves") the adapter read from the trials'
logs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from kubetune.operator.api import (
    EARLY_STOPPED,
    OBJECTIVE_NOT_FINITE,
    EarlyStopping,
    ObjectiveType,
    TrialPhase,
)
from kubetune.operator.controller.summary import better
from kubetune.operator.controller.types import (
    Decision,
    diverged,
    finite_values,
    keep_last_metrics,
    note_not_a_number,
)

EARLY_STOPPING_MIN_PEERS = 3
"""The median stopping rule judges a trial at step s only once this many succeeded trials
reached step s: the median of one or two curves is too noisy a bar to stop anyone on."""
EARLY_STOPPING_MIN_STEP = 2
"""No trial is stopped before its second objective value: a first value alone (one epoch,
often during warm-up) says little about where a curve is going."""
EARLY_STOPPING_CHECK_SECONDS = 5.0
"""How often a job with early stopping and running trials is looked at again, so running
trials are judged on fresh values even when no Job or pod changes. (The operator is also
woken as soon as a followed log prints a value the rule stops its trial on: `kube.curves`;
this check serves the logs read again instead.)"""


class MedianRule:
    """Vizier's median stopping rule against one set of peers (succeeded trials' curves),
    each step's median computed once: a followed log asks at every value it reads
    (`kube.curves`), the controller for every running trial. Safe to share between
    threads (a median two threads compute at once is the same number)."""

    def __init__(self, peers: Sequence[Sequence[float]], goal: ObjectiveType) -> None:
        self._peers = [finite_values(p) for p in peers]
        self._goal = goal
        self._medians: dict[int, tuple[float, int] | None] = {}

    def _median(self, step: int) -> tuple[float, int] | None:
        """The median of the peers' running averages at `step`, and their number; None
        with fewer than `EARLY_STOPPING_MIN_PEERS` peers that reached it."""
        if step not in self._medians:
            averages = [math.fsum(p[:step]) / step for p in self._peers if len(p) >= step]
            enough = len(averages) >= EARLY_STOPPING_MIN_PEERS
            self._medians[step] = (statistics.median(averages), len(averages)) if enough else None
        return self._medians[step]

    def judge(self, curve: Sequence[float]) -> tuple[int, float, float, int] | None:
        """At the curve's latest step s, the trial stops when its best value up to s is
        strictly worse than the median, over the peers that reached s, of their running
        averages of values 1..s. Undecided (None) before step `EARLY_STOPPING_MIN_STEP`
        and with fewer than `EARLY_STOPPING_MIN_PEERS` such peers. Returns (s, best,
        median, number of peers) when the trial should stop, else None. A diverged
        curve is judged on its values before it diverged (`stop_diverged` stops it)."""
        curve = finite_values(curve)
        step = len(curve)
        if step < EARLY_STOPPING_MIN_STEP:
            return None
        median = self._median(step)
        if median is None:
            return None
        best = max(curve) if self._goal is ObjectiveType.MAXIMIZE else min(curve)
        if better(median[0], best, self._goal):
            return step, best, median[0], median[1]
        return None


def stop_diverged(d: Decision) -> None:
    """Where running trials are judged on the values they print (the median rule,
    Hyperband), a running trial that printed an objective that is not a finite number
    ends at once as Failed (ObjectiveNotFinite), as it would at its end, without training
    its remaining epochs: a diverged model does not recover. Decided from the log, so an
    operator restarted before the status write decides it again."""
    curves = d.snapshot.curves
    if not d.spec.judges_running_trials or d.terminal_before or not curves:
        return
    metric = d.spec.objective.metric
    for trial in d.status.trials:
        curve = curves.get(trial.name)
        if trial.phase is not TrialPhase.RUNNING or not curve or not diverged(curve):
            continue
        trial.intermediate_count = len(curve)
        message = f"step {len(curve)}: {metric} is not a finite number (diverged); stopped"
        d.finish_trial(trial, TrialPhase.FAILED, OBJECTIVE_NOT_FINITE, message)
        keep_last_metrics(d, trial)
        d.event("Warning", "TrialFailed", f"trial {trial.name}: {OBJECTIVE_NOT_FINITE}: {message}")


def stop_early(d: Decision) -> None:
    """A running trial worse than its succeeded peers at its latest step ends as
    EarlyStopped, with its last value as objective and the other metrics' last values
    read with it (its Job is deleted as a leftover)."""
    curves = d.snapshot.curves
    if d.spec.early_stopping is not EarlyStopping.AUTO or d.terminal_before or not curves:
        return
    trials = d.status.trials
    peers = [curves[t.name] for t in trials if t.phase is TrialPhase.SUCCEEDED and t.name in curves]
    rule = MedianRule(peers, d.spec.objective.type)
    for trial in trials:
        curve = curves.get(trial.name)
        if trial.phase is not TrialPhase.RUNNING or not curve:
            continue
        decision = rule.judge(curve)
        if decision is None:
            continue
        step, best, median, count = decision
        trial.objective = finite_values(curve)[-1]
        trial.intermediate_count = len(curve)
        keep_last_metrics(d, trial)
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
    note_not_a_number(d, lambda _trial, step: f"step {step}")


def schedule_checks(d: Decision) -> None:
    """With early stopping and trials still to judge, look again in a few seconds."""
    if d.spec.early_stopping is EarlyStopping.AUTO and any(
        t.phase in (TrialPhase.PENDING, TrialPhase.RUNNING) for t in d.status.trials
    ):
        d.plan.requeue_after = EARLY_STOPPING_CHECK_SECONDS
