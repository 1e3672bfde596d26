"""Fixtures of the CLI and analytics tests: a synthetic TuningJob (hack/synthetic_tuning_job.py)
as a view and as a directory, and the time the records are computed at."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack"))
from kubetune.analytics.resource import TuningJobView, parse_tuning_job
from synthetic_tuning_job import synthetic_tuning_job

NOW = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture
def body() -> dict[str, Any]:
    """30 trials (2 running), five parameters of every kind, a second metric."""
    return synthetic_tuning_job("demo", 30, running=2)


@pytest.fixture
def view(body: dict[str, Any]) -> TuningJobView:
    return parse_tuning_job(body)


def write_directory(body: dict[str, Any], directory: Path) -> Path:
    """The TuningJob as a directory: tuningjob.yaml (without status) and status.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {k: v for k, v in body.items() if k != "status"}
    (directory / "tuningjob.yaml").write_text(yaml.safe_dump(manifest))
    (directory / "status.yaml").write_text(yaml.safe_dump(body["status"]))
    return directory
