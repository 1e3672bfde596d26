"""A run directory whose status.yaml or tuningjob.yaml no longer holds a TuningJob (cut
short, edited by hand) is named as such by every reader, not called a newer kubetune's
cluster object to upgrade for (QA84 L18)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from kubetune.analytics import KubetuneError, TuningJobAnalytics
from kubetune.cli.main import run
from support.cli_data import write_directory
from synthetic_tuning_job import synthetic_tuning_job

ADVICE = "put back a copy of it if there is one, or run the manifest again with another --out"


def damaged(tmp_path: Path, file: str) -> Path:
    """A run directory whose `file` lost a field: a trial's name (status.yaml), the
    objective (tuningjob.yaml)."""
    directory = write_directory(synthetic_tuning_job("demo", 3), tmp_path / "demo")
    path = directory / file
    body = yaml.safe_load(path.read_text())
    if file == "status.yaml":
        del body["trials"][1]["name"]
    else:
        del body["spec"]["objective"]
    path.write_text(yaml.safe_dump(body))
    return directory


@pytest.mark.parametrize(
    ("file", "problem"),
    [
        ("status.yaml", "status.trials.1.name: Field required (1 problem)"),
        ("tuningjob.yaml", "spec.objective: Field required (1 problem)"),
    ],
)
def test_a_damaged_file_of_a_run_directory_is_named_by_every_reader(
    tmp_path: Path, file: str, problem: str
) -> None:
    directory = damaged(tmp_path, file)
    said = f"{directory / file} is damaged (cut short, or edited by hand?): {problem}; {ADVICE}"
    for command in ("trials", "describe", "best"):
        out, err = io.StringIO(), io.StringIO()
        assert run([command, str(directory)], out, err) == 1
        assert (out.getvalue(), err.getvalue()) == ("", f"error: {said}\n"), command
    with pytest.raises(KubetuneError) as raised:
        TuningJobAnalytics(directory=directory).refresh()
    assert str(raised.value) == said
