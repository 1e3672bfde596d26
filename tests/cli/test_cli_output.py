"""Hyperparameter values printed as they are: YAML output that every YAML reader, kubectl
included, reads back as the same text (QA84 M8); Categorical values in the table and
`watch` as written, not as numbers (QA84 M1); the table's start times marked UTC (QA84 L4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.analytics.resource import parse_tuning_job
from kubetune.cli import output, views
from kubetune.cli.kubectl_yaml import load_all
from kubetune.cli.watch import render
from support.cli_data import NOW
from synthetic_tuning_job import synthetic_tuning_job

TRICKY = [
    *("1e-05", "1e5", "0.001", "1_000", "yes", "no", "on", "off", "null", "~"),
    *("0x10", "012", ".inf", "1:20", "", "y", "N", "+.5", "08", "0o17", "2026-01-02"),
]
"""Text that a YAML reader may take for a number, a boolean, null or a date: YAML 1.1
(PyYAML), go-yaml v2 (kubectl) or both."""


def _values() -> dict[str, str]:
    return {f"v{i}": text for i, text in enumerate(TRICKY)} | {"plain": "adam", "n": "resnet18"}


def test_yaml_text_reads_back_as_the_same_text_in_yaml_1_1_and_as_kubectl_reads_it() -> None:
    values = _values()
    text = output.to_yaml(values)
    assert yaml.safe_load(text) == values  # YAML 1.1
    assert load_all(text, "best.yaml") == [values]  # go-yaml v2, as kubectl reads a manifest
    assert "plain: adam\n" in text  # words stay plain: only what could be misread is quoted


def test_best_yaml_pasted_into_a_manifest_gives_kubectl_text() -> None:
    """`best -o yaml` of a search that ended on the bound 1e-05 (`repr(1e-05)` has no
    point): kubectl must read `lr` as text, else the API server refuses the manifest."""
    body = synthetic_tuning_job("low", 6)
    body["status"]["bestTrial"]["hyperparameters"]["learning_rate"] = "1e-05"
    body["spec"]["staticHyperparameters"] = {"epochs": "3", "schedule": "1e3"}
    printed = views.best_output(parse_tuning_job(body), "yaml")
    (best,) = load_all(printed, "best.yaml")
    assert best["learning_rate"] == "1e-05" and best["schedule"] == "1e3"
    assert all(isinstance(value, str) for value in best.values())


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl on PATH")
def test_kubectl_itself_reads_every_value_as_text(tmp_path: Path) -> None:
    values = _values()
    data = "".join(f"  {line}\n" for line in output.to_yaml(values).splitlines())
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t\ndata:\n{data}")
    kubeconfig = tmp_path / "kubeconfig"  # empty: --local reaches no cluster
    kubeconfig.touch()
    done = subprocess.run(
        ["kubectl", "label", "--local", "-f", str(manifest), "a=b", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    assert json.loads(done.stdout)["data"] == values


def _numeric_looking_categorical_job() -> dict[str, Any]:
    """The synthetic job with Categorical values that read as numbers (QA84 M1)."""
    body = synthetic_tuning_job("cat", 12)
    values = ["0.10", "1e-3", "yes"]
    body["spec"]["parameters"][-1]["values"] = values
    for i, trial in enumerate(body["status"]["trials"]):
        trial["hyperparameters"]["optimizer"] = values[i % 3]
    body["status"]["bestTrial"]["hyperparameters"]["optimizer"] = "1e-3"
    return body


def test_table_shows_categorical_values_as_written_and_shortens_numbers() -> None:
    body = _numeric_looking_categorical_job()
    lines = views.trials_output(parse_tuning_job(body), "table", NOW, "trial").splitlines()
    header = lines[0].split()
    rows = [dict(zip(header, line.split(), strict=False)) for line in lines[1:]]
    trials = body["status"]["trials"]
    assert [r["optimizer"] for r in rows] == [t["hyperparameters"]["optimizer"] for t in trials]
    exact = trials[0]["hyperparameters"]["learning_rate"]  # repr(float): 17 digits
    assert rows[0]["learning_rate"] == output.hyperparameter(exact) != exact


def test_watch_best_line_shows_a_categorical_value_as_written() -> None:
    view = parse_tuning_job(_numeric_looking_categorical_job())
    best = next(line for line in render(view, {}, NOW) if line.startswith("best: "))
    assert " optimizer=1e-3" in best and "0.001" not in best


def test_table_start_says_utc() -> None:
    """QA84 L4: the table's start is UTC, as recorded; its `Z` says so (a space for the
    T), and it reads back as the time CSV gives."""
    view = parse_tuning_job(synthetic_tuning_job("utc", 3))
    lines = views.trials_output(view, "table", NOW, "trial").splitlines()
    csv_lines = views.trials_output(view, "csv", NOW, "trial").splitlines()
    start = lines[0].index("start")
    for line, trial in zip(lines[1:], view.trials, strict=True):
        shown = line[start:].split("   ")[0]
        assert shown.endswith("Z") and trial.start_time is not None
        assert datetime.fromisoformat(shown) == trial.start_time
        assert shown.replace(" ", "T") in next(c for c in csv_lines if c.startswith(trial.name))
