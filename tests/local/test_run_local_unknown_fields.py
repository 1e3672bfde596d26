"""`kubetune run --local` refuses a misspelt field of the trial template as a cluster does
(the operator creates trial Jobs with strict field validation; QA99 M2): the job fails
InvalidSpec naming the field, no trial runs without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from local.test_run_local import kubetune, manifest

pytestmark = pytest.mark.slow


def test_a_misspelt_template_field_fails_the_run_naming_it(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    path = manifest(tmp_path, container={"workingDirr": "/tmp"})
    body = json.loads(path.read_text())
    body["spec"]["trialTemplate"]["job"]["backofLimit"] = 2
    path.write_text(json.dumps(body))
    code, out, err = kubetune("run", "--local", str(path), "--out", str(out_dir))
    assert code == 1, out + err
    recorded = yaml.safe_load((out_dir / "status.yaml").read_text())
    assert (recorded["phase"], recorded["reason"]) == ("Failed", "InvalidSpec"), recorded
    assert recorded["message"].startswith(
        "spec.trialTemplate.job.template.spec.containers[0].workingDirr, "
        "spec.trialTemplate.job.backofLimit: unknown fields of a Job, refused when trial Job "
        "local-001 was created"
    ), recorded["message"]
    assert "kubectl explain job.spec.template.spec.containers lists" in recorded["message"]
    assert not list((out_dir / "logs").glob("*.log"))  # no trainer started
