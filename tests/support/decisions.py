"""A `Decision` (one plan in the making) for the unit tests of the controller's steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from kubetune.operator.api import TERMINAL_PHASES, TrialStatus, TuningJobSpec, TuningJobStatus
from kubetune.operator.controller.summary import summarise
from kubetune.operator.controller.types import Decision, JobObservation, Plan, Snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def decision(
    spec: TuningJobSpec,
    trials: Sequence[TrialStatus] = (),
    jobs: Sequence[JobObservation] = (),
    *,
    status: TuningJobStatus | None = None,
    curves: Mapping[str, Sequence[float]] | None = None,
    now: datetime = T0,
) -> Decision:
    """The Decision plan() would hand its steps, with the summary of `trials` done."""
    status = (status or TuningJobStatus(start_time=T0)).model_copy(deep=True)
    status.trials = [t.model_copy(deep=True) for t in trials]
    status.observed_generation = 1  # as plan() sets it from the snapshot
    snapshot = Snapshot(
        name="tj",
        uid="uid",
        generation=1,
        spec=spec,
        status=status,
        jobs={j.job_name: j for j in jobs},
        curves=curves,
    )
    d = Decision(
        spec=spec,
        snapshot=snapshot,
        now=now,
        plan=Plan(status=status.model_copy(deep=True)),  # as plan(): the recorded one stays
        retried=status.counters.retried,
        terminal_before=status.phase in TERMINAL_PHASES,
    )
    summarise(d)
    return d
