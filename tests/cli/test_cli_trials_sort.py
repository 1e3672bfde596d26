"""`kubetune trials --sort` by the objective metric's own name (QA84 L5): what the job,
`describe` and `best` call the objective sorts as the `objective` column does."""

from __future__ import annotations

import pytest
from kubetune.analytics.errors import UsageError
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import views
from support.cli_data import NOW
from synthetic_tuning_job import synthetic_tuning_job

METRIC = "validation:accuracy"
"""The synthetic job's objective metric."""


@pytest.mark.parametrize("objective_type", ["Maximize", "Minimize"])
def test_the_objective_metrics_name_sorts_as_objective_best_first(objective_type: str) -> None:
    body = synthetic_tuning_job("s", 20, running=2)
    body["spec"]["objective"]["type"] = objective_type
    view = parse_tuning_job(body)
    for reverse in ("", "-"):
        by_name = views.trials_output(view, "csv", NOW, f"{reverse}{METRIC}")
        assert by_name == views.trials_output(view, "csv", NOW, f"{reverse}objective")
    assert by_name != views.trials_output(view, "csv", NOW)  # sorted, not launch order


def test_a_column_of_that_name_is_sorted_as_itself_and_other_names_are_refused() -> None:
    body = synthetic_tuning_job("s", 8)
    body["spec"]["objective"]["metric"] = "momentum"  # a hyperparameter's name too
    body["spec"]["metrics"][0]["name"] = "momentum"
    view = parse_tuning_job(body)
    by_momentum = views.trials_output(view, "csv", NOW, "momentum", top=1)
    lowest = min(view.trials, key=lambda t: float(t.hyperparameters["momentum"]))
    assert by_momentum.splitlines()[1].startswith(f"{lowest.name},")
    with pytest.raises(UsageError, match="no column 'val_acc'"):
        views.trials_output(view, "table", NOW, "val_acc")
