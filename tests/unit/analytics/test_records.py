"""A declared metric has its column in the records, `trials -o csv` and the DataFrame
before any trial records it: a job's columns do not change while it runs, nor lack a
metric when every trial failed (QA84 M2)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from kubetune.analytics import TuningJobAnalytics
from kubetune.analytics.records import best_hyperparameters
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import views
from support.cli_data import NOW, write_directory
from synthetic_tuning_job import synthetic_tuning_job

METRIC = "train:loss"
"""The synthetic job's declared metric other than its objective."""


def _all_failed() -> dict[str, Any]:
    body = synthetic_tuning_job("fail", 4)
    for trial in body["status"]["trials"]:
        for key in ("objective", "metrics", "intermediateCount"):
            trial.pop(key, None)
        trial.update(phase="Failed", reason="Error", message="exit code 1")
    body["status"].pop("bestTrial", None)
    body["status"].pop("bestObjective", None)
    return body


def _csv_header(body: dict[str, Any]) -> list[str]:
    text = views.trials_output(parse_tuning_job(body), "csv", NOW)
    return next(csv.reader(io.StringIO(text)))


def test_csv_has_the_same_columns_before_any_trial_records_a_metric_as_after() -> None:
    ended = _csv_header(synthetic_tuning_job("job", 6))
    assert METRIC in ended
    assert _csv_header(synthetic_tuning_job("job", 6, running=6)) == ended
    assert _csv_header(_all_failed()) == ended


def test_dataframe_of_an_all_failed_job_has_the_declared_metric_as_nan(tmp_path: Path) -> None:
    frame = TuningJobAnalytics(directory=write_directory(_all_failed(), tmp_path / "f")).dataframe()
    assert len(frame) == 4 and frame[METRIC].dtype == float
    assert all(math.isnan(value) for value in frame[METRIC])


def test_best_hyperparameters_are_the_static_ones_then_the_tuned_ones_in_spec_order() -> None:
    """QA84 L12: `best -o yaml` and `-o args` list the tuned ones as the spec declares
    them, not as the status keeps them (sorted by name)."""
    body = synthetic_tuning_job("order", 6)
    best = body["status"]["bestTrial"]
    best["hyperparameters"] = dict(sorted(best["hyperparameters"].items(), reverse=True))
    values = best_hyperparameters(parse_tuning_job(body))
    static = list(body["spec"]["staticHyperparameters"])
    assert list(values) == static + [p["name"] for p in body["spec"]["parameters"]]
    assert values == body["spec"]["staticHyperparameters"] | best["hyperparameters"]
