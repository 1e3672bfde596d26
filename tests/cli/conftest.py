"""Fixtures of the CLI and analytics tests: a synthetic TuningJob
(hack/synthetic_tuning_job.py) as a body and as a view."""

from __future__ import annotations

from typing import Any

import pytest
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from synthetic_tuning_job import synthetic_tuning_job


@pytest.fixture
def body() -> dict[str, Any]:
    """30 trials (2 running), five parameters of every kind, a second metric."""
    return synthetic_tuning_job("demo", 30, running=2)


@pytest.fixture
def view(body: dict[str, Any]) -> TuningJobView:
    return parse_tuning_job(body)
