"""Where kubetune.analytics and kubetune.cli parse a TuningJob with the operator's own API
names and pydantic models: what the API server (or a local directory) holds, and where a
Hyperband job's rungs are. Everything else reads the `TuningJobView` built here.

The operator's models are the source of truth for the resource. The trials' metrics
(`status.trials[].metrics`) are read from the raw object, leniently (a value that is not a
number shows as NaN), so that a status written by another kubetune version still shows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from kubetune.analytics.errors import KubetuneError
from kubetune.analytics.local import MANIFEST, STATUS
from kubetune.operator.api import (
    GROUP,
    PLURAL,
    TERMINAL_PHASES,
    VERSION,
    ObjectiveType,
    Parameter,
    ParameterType,
    Phase,
    Scaling,
    Strategy,
    TrialPhase,
    TuningJob,
    TuningJobSpec,
    TuningJobStatus,
)
from kubetune.operator.api.naming import TRIAL_LABEL, TUNING_JOB_LABEL
from kubetune.operator.controller import POD_REFUSED
from kubetune.operator.controller.hyperband import levels as hyperband_levels
from kubetune.operator.controller.hyperband import max_resource as hyperband_max_resource
from pydantic import ValidationError

__all__ = [
    "GROUP",
    "PLURAL",
    "POD_REFUSED",
    "TERMINAL_PHASES",
    "TRIAL_LABEL",
    "TUNING_JOB_LABEL",
    "VERSION",
    "ObjectiveType",
    "Parameter",
    "ParameterType",
    "Phase",
    "Scaling",
    "Trial",
    "TrialPhase",
    "TuningJobSpec",
    "TuningJobView",
    "parse_tuning_job",
]


@dataclass(frozen=True)
class Trial:
    """One trial as the status records it, with its timing resolved."""

    name: str
    phase: str
    hyperparameters: dict[str, str]
    objective: float | None
    metrics: dict[str, float]
    """Final values of the non-objective metrics, as the operator records them."""
    intermediate_count: int
    reason: str | None
    message: str | None
    attempt: int
    start_time: datetime | None
    end_time: datetime | None
    epochs: int | None = None
    """Hyperband: the epochs the trial consumed (set when it ends)."""
    rung_values: tuple[float, ...] = ()
    """Hyperband: the objective at each rung the trial reached, the first rung first."""

    def duration_seconds(self, now: datetime) -> float | None:
        """Seconds from start to end (to `now` while it runs); None before it started."""
        if self.start_time is None:
            return None
        return ((self.end_time or now) - self.start_time).total_seconds()


@dataclass(frozen=True)
class TuningJobView:
    """A TuningJob as the analytics read it: metadata, the spec model, the status model
    (defaults when the operator has not written one yet) and the trials."""

    name: str
    namespace: str
    uid: str
    created: datetime | None
    spec: TuningJobSpec
    status: TuningJobStatus
    trials: list[Trial] = field(default_factory=list)
    deletion_time: datetime | None = None
    """metadata.deletionTimestamp: set once the TuningJob is being deleted, while
    finalizers (the operator's) hold it."""
    finalizers: tuple[str, ...] = ()

    @property
    def maximize(self) -> bool:
        return self.spec.objective.type is ObjectiveType.MAXIMIZE

    @property
    def hyperband(self) -> bool:
        return self.spec.strategy is Strategy.HYPERBAND

    @cached_property  # read for every trial by the records and the plots
    def rungs(self) -> list[int]:
        """Hyperband: the epochs at which trials are judged; empty for other strategies,
        and for a job whose maxResource cannot be known (admission refuses one, but a
        manifest kept in a directory was never admitted)."""
        return hyperband_levels(self.spec) if self.max_resource is not None else []

    @cached_property
    def max_resource(self) -> int | None:
        """Hyperband: the epochs a trial that is never stopped trains."""
        if not self.hyperband:
            return None
        try:
            return hyperband_max_resource(self.spec)
        except ValueError:
            return None

    @property
    def objective_metric(self) -> str:
        return self.spec.objective.metric

    @property
    def phase(self) -> str:
        return self.status.phase.value

    @property
    def terminal(self) -> bool:
        return self.status.phase in TERMINAL_PHASES

    @property
    def max_trials(self) -> int:
        return self.spec.limits.max_trials

    def trials_done(self) -> int:
        """Trials that have ended, whatever their outcome."""
        return sum(1 for t in self.trials if t.phase not in _UNFINISHED)

    def best_trial(self) -> Trial | None:
        """The trial the operator names best (`status.bestTrial`), if any."""
        best = self.status.best_trial
        if best is None:
            return None
        return next((t for t in self.trials if t.name == best.name), None)


_UNFINISHED = frozenset({TrialPhase.PENDING.value, TrialPhase.RUNNING.value})


def _timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _metrics(raw_trial: Any) -> dict[str, float]:
    values = raw_trial.get("metrics") if isinstance(raw_trial, dict) else None
    if not isinstance(values, dict):
        return {}
    metrics = {}
    for name, value in values.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics[str(name)] = float(value)
        elif value is None or (isinstance(value, str) and value.lower() == "nan"):
            metrics[str(name)] = math.nan
    return metrics


def _damaged(directory: Path, loc: tuple[Any, ...], problem: str) -> str:
    """What a run directory whose TuningJob does not parse is told: the file that holds the
    field (`status.yaml` for the status, where it has one), `problem`, and what to do. Not
    a cluster's words: a local run's files are written whole (`write_atomically`), so one
    that does not parse was cut short or edited since."""
    status = directory / STATUS
    file = status if loc[:1] == ("status",) and status.is_file() else directory / MANIFEST
    return (
        f"{file} is damaged (cut short, or edited by hand?): {problem}; put back a copy of "
        "it if there is one, or run the manifest again with another --out"
    )


def parse_tuning_job(body: dict[str, Any], directory: Path | None = None) -> TuningJobView:
    """A TuningJob object (as the API server returns it, camelCase) as a view; `directory`:
    the local run directory it was read from (`local.read_directory`), None for a cluster's.

    Raises KubetuneError when the object is not a TuningJob these models can read, naming
    the first field that is not: one of a cluster written by a newer kubetune, or a file
    of a run directory damaged (cut short, edited by hand), which it names.
    """
    try:
        job = TuningJob.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        problems = f"{error.error_count()} problem{'s' * (error.error_count() != 1)}"
        if directory is not None:
            problem = f"{where}: {first['msg']} ({problems})"
            raise KubetuneError(_damaged(directory, first["loc"], problem)) from None
        name = (body.get("metadata") or {}).get("name", "?")
        raise KubetuneError(
            f'TuningJob "{name}" cannot be read by this kubetune: {where}: {first["msg"]} '
            f"({problems}). If the cluster runs a newer kubetune, upgrade this one."
        ) from None
    status = job.status or TuningJobStatus()
    raw_trials = ((body.get("status") or {}).get("trials")) or []
    trials = [
        Trial(
            name=t.name,
            phase=t.phase.value,
            hyperparameters=dict(t.hyperparameters),
            objective=t.objective,
            metrics=_metrics(raw_trials[i] if i < len(raw_trials) else None),
            intermediate_count=t.intermediate_count,
            reason=t.reason,
            message=t.message,
            attempt=t.attempt,
            start_time=t.start_time,
            end_time=t.end_time,
            epochs=t.epochs,
            rung_values=tuple(t.rung_values or ()),
        )
        for i, t in enumerate(status.trials)
    ]
    metadata = job.metadata
    return TuningJobView(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        uid=str(metadata.get("uid", "")),
        created=_timestamp(metadata.get("creationTimestamp")),
        spec=job.spec,
        status=status,
        trials=trials,
        deletion_time=_timestamp(metadata.get("deletionTimestamp")),
        finalizers=tuple(str(f) for f in metadata.get("finalizers") or ()),
    )
