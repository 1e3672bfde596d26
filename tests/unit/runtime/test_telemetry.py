"""The operator's Prometheus metrics: what a TuningJob exports, and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

from kubetune.operator.api import Phase, TuningJobStatus
from kubetune.operator.runtime.telemetry import REGISTRY, TELEMETRY

README = Path(__file__).resolve().parents[3] / "README.md"


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_tuning_jobs_phase_is_one_series_at_1_until_it_is_forgotten() -> None:
    job = {"namespace": "ns", "tuning_job": "phases"}
    TELEMETRY.tuning_job("ns", "phases", TuningJobStatus(phase=Phase.FAILED))
    values = {p.value: sample("kubetune_tuning_job_phase", **job, phase=p.value) for p in Phase}
    assert values == {p.value: float(p is Phase.FAILED) for p in Phase}
    TELEMETRY.forget("ns", "phases")
    assert sample("kubetune_tuning_job_phase", **job, phase="Failed") is None
    assert sample("kubetune_trials", **job, phase="Succeeded") is None


def test_the_process_series_are_served() -> None:
    assert (sample("process_resident_memory_bytes") or 0) > 0


def test_every_metric_is_in_the_readme_and_every_readme_row_is_a_metric() -> None:
    """Each kubetune_* family as exposed (counters with _total) has a row, and no row
    names a metric that does not exist."""
    exposed = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
        if family.name.startswith("kubetune_")
    }
    section = README.read_text().split("### Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(kubetune_\w+)`", section, re.MULTILINE))
    assert documented == exposed
