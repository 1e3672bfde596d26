"""`kubetune run --local` refuses a misspelt field of the trial template as a cluster does
(the operator creates trial Jobs with strict field validation; QA99 M2): before any
trial, naming the field, so that no trial runs without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local.test_run_local import kubetune, manifest

pytestmark = pytest.mark.slow


def test_a_misspelt_template_field_fails_the_run_naming_it(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, container={"workingDirr": "/tmp"})
    body = json.loads(path.read_text())
    body["spec"]["trialTemplate"]["job"]["backofLimit"] = 2
    path.write_text(json.dumps(body))
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    # Refused before any trial, by the check that reads the container it would run: a
    # misspelt `command` had it say the container has no command, to use --image.
    assert code == 1, out + err
    assert err.startswith(
        "error: spec.trialTemplate.job.template.spec.containers[0].workingDirr, "
        "spec.trialTemplate.job.backofLimit: unknown fields of a Job (a cluster's API server "
        "refuses it); fix the spelling or remove it (kubectl explain "
        "job.spec.template.spec.containers lists the fields there)"
    ), err
    assert not (out_dir / "logs").exists() or not list((out_dir / "logs").glob("*.log"))


def test_a_misspelt_command_is_named_not_taken_for_a_container_without_one(
    tmp_path: Path,
) -> None:
    path = manifest(tmp_path)
    body = json.loads(path.read_text())
    container = body["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["comand"] = container.pop("command")
    path.write_text(json.dumps(body))
    code, out, err = kubetune("run", "--local", str(path), "--out", str(tmp_path / "run"))
    assert code == 1, out + err
    assert err.startswith(
        "error: spec.trialTemplate.job.template.spec.containers[0].comand: unknown field of a Job"
    ), err
