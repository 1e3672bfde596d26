"""A TuningJob's trials as flat records (one dict per trial) and as nested documents, the
columns they have, and their order: what `kubetune trials` prints and what the
DataFrame holds. Pure functions over a `TuningJobView`.

Columns, in order: `trial`, `phase`, `objective`, for a Hyperband job `epochs` (consumed
by the trial) and `objective@E` for each rung at E epochs (the value the trial was judged
by there), one per tuned hyperparameter (its name), one per metric other than the objective
(its name: every declared metric, recorded by a trial yet or not, then any other that a
trial recorded), `reason`, `attempt`, `intermediateCount`, `start`, `end`,
`durationSeconds`, `message`. A hyperparameter or metric whose name is already taken gets
a `hp:` or `metric:` prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubetune.analytics.errors import NotFoundError
from kubetune.analytics.resource import ParameterType, Trial, TuningJobView
from kubetune.operator.controller.types import count

BEFORE = ("trial", "phase", "objective")
AFTER = ("reason", "attempt", "intermediateCount", "start", "end", "durationSeconds", "message")

Record = dict[str, Any]


@dataclass(frozen=True)
class Columns:
    """The record's column names: fixed ones and, for each hyperparameter and metric, the
    column it is shown in."""

    rungs: dict[int, str]
    """Hyperband: a rung's epochs → the column of the values recorded there."""
    hyperparameters: dict[str, str]
    """Hyperparameter name → column name."""
    metrics: dict[str, str]
    """Metric name → column name (the objective metric is the `objective` column)."""

    def names(self) -> list[str]:
        resource = ["epochs", *self.rungs.values()] if self.rungs else []
        return [
            *BEFORE,
            *resource,
            *self.hyperparameters.values(),
            *self.metrics.values(),
            *AFTER,
        ]


def columns(view: TuningJobView) -> Columns:
    """The columns of `view`'s records: every declared parameter, and every metric that
    is declared or recorded (in declaration order, recorded extras last). A declared
    metric has its column before any trial records it: a job's columns do not change
    while it runs, nor lack a metric when no trial succeeded."""
    rungs = {epochs: f"objective@{epochs}" for epochs in view.rungs}
    taken = set(BEFORE) | set(AFTER) | set(rungs.values()) | ({"epochs"} if rungs else set())
    hyperparameters = {}
    for parameter in view.spec.parameters:
        column = parameter.name if parameter.name not in taken else f"hp:{parameter.name}"
        hyperparameters[parameter.name] = column
        taken.add(column)
    metric_names = [m.name for m in view.spec.metrics]
    recorded = {name for trial in view.trials for name in trial.metrics}
    metric_names += sorted(recorded - set(metric_names))
    metrics = {}
    for name in metric_names:
        if name == view.objective_metric:
            continue
        column = name if name not in taken else f"metric:{name}"
        metrics[name] = column
        taken.add(column)
    return Columns(rungs, hyperparameters, metrics)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(text: str | None, kind: ParameterType) -> float | int | str | None:
    """A hyperparameter's text as the value it stands for."""
    if text is None or kind is ParameterType.CATEGORICAL:
        return text
    try:
        return int(text) if kind is ParameterType.INTEGER else float(text)
    except ValueError:
        return text


def _duration(trial: Trial, now: datetime) -> float | None:
    seconds = trial.duration_seconds(now)
    return None if seconds is None else round(seconds, 3)


def flat_records(view: TuningJobView, now: datetime, *, typed: bool = False) -> list[Record]:
    """One flat dict per trial in launch order, keyed by `columns(view).names()`.

    Hyperparameters are the status's exact strings, or with `typed` numbers for
    Continuous and Integer parameters (as the DataFrame wants them). Missing values
    are None.
    """
    cols = columns(view)
    kinds = {p.name: p.type for p in view.spec.parameters}
    records = []
    for trial in view.trials:
        record: Record = {"trial": trial.name, "phase": trial.phase, "objective": trial.objective}
        if cols.rungs:
            record["epochs"] = trial.epochs
            reached = dict(zip(cols.rungs, trial.rung_values, strict=False))
            for epochs, column in cols.rungs.items():
                record[column] = reached.get(epochs)
        for name, column in cols.hyperparameters.items():
            text = trial.hyperparameters.get(name)
            record[column] = _number(text, kinds[name]) if typed else text
        for name, column in cols.metrics.items():
            record[column] = trial.metrics.get(name)
        record.update(
            reason=trial.reason,
            attempt=trial.attempt,
            intermediateCount=trial.intermediate_count,
            start=_time(trial.start_time),
            end=_time(trial.end_time),
            durationSeconds=_duration(trial, now),
            message=trial.message,
        )
        records.append(record)
    return records


def nested_records(view: TuningJobView, now: datetime) -> list[Record]:
    """One document per trial in launch order, for JSON and YAML: hyperparameters and
    metrics as maps with their original names (nothing renamed); for a Hyperband job also
    `epochs` and `rungs`, the value recorded at each rung the trial reached
    (`[{epochs: 1, objective: 0.42}, ...]`)."""
    return [
        {
            "trial": t.name,
            "phase": t.phase,
            "objective": t.objective,
            **_hyperband_fields(view, t),
            "hyperparameters": dict(t.hyperparameters),
            "metrics": dict(t.metrics),
            "reason": t.reason,
            "message": t.message,
            "attempt": t.attempt,
            "intermediateCount": t.intermediate_count,
            "start": _time(t.start_time),
            "end": _time(t.end_time),
            "durationSeconds": _duration(t, now),
        }
        for t in view.trials
    ]


def _hyperband_fields(view: TuningJobView, trial: Trial) -> Record:
    if not view.rungs:
        return {}
    rungs = [
        {"epochs": epochs, "objective": value}
        for epochs, value in zip(view.rungs, trial.rung_values, strict=False)
    ]
    return {"epochs": trial.epochs, "rungs": rungs}


def _sort_value(value: Any) -> tuple[int, float | str]:
    """Numbers (also numeric text) before text; missing values and NaN are left out by
    the caller."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def sort_records(
    records: Sequence[Record], field: str, view: TuningJobView, known: Sequence[str]
) -> list[Record]:
    """`records` ordered by `field` (a column name; `-field` reverses): ascending, except
    the objective's columns (`objective`, a Hyperband rung's `objective@E`), which go best
    first. Trials without a value come last either way. Raises KeyError naming the field
    and the columns there are."""
    descending = field.startswith("-")
    name = field.removeprefix("-")
    if name not in known:
        raise KeyError(f"no column {name!r}; sort by one of: {', '.join(known)}")
    if name == "objective" or name in columns(view).rungs.values():
        descending = descending != view.maximize
    present = [r for r in records if not _missing(r.get(name))]
    absent = [r for r in records if _missing(r.get(name))]
    key: Callable[[Record], tuple[int, float | str]] = lambda r: _sort_value(r[name])  # noqa: E731
    return sorted(present, key=key, reverse=descending) + absent


def best_hyperparameters(view: TuningJobView) -> dict[str, str]:
    """The best trial's tuned hyperparameters with the static ones: what a final training
    run should be given, the static ones first, then the tuned ones in the spec's order
    (the status keeps them sorted by name). Raises NotFoundError when there is no best
    trial yet."""
    best = view.status.best_trial
    if best is None:
        done = view.trials_done()
        raise NotFoundError(
            f'TuningJob "{view.name}" has no best trial{"" if view.terminal else " yet"}: '
            f"{count(len(view.trials), 'trial')}, "
            f"{done} ended, none succeeded with an objective (phase {view.phase})."
        )
    order = {p.name: i for i, p in enumerate(view.spec.parameters)}
    tuned = sorted(best.hyperparameters.items(), key=lambda item: order.get(item[0], len(order)))
    return {**(view.spec.static_hyperparameters or {}), **dict(tuned)}
