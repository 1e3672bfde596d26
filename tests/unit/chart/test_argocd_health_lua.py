"""The Argo CD health check for TuningJobs in docs/helm.md (QA99 M1), run by a stand-alone Lua
interpreter against the statuses the operator's plan writes. Skipped without `lua5.4`
(`apt-get install lua5.4`); Argo CD itself is not installed here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubetune.operator.api import TuningJobStatus
from support.plan_sim import Sim
from support.specs import make_spec

HELM_DOC = Path(__file__).resolve().parents[3] / "docs" / "helm.md"
LUA = shutil.which("lua5.4") or shutil.which("lua")
LIMITS = {"maxTrials": 2, "maxParallelTrials": 1}

pytestmark = pytest.mark.skipif(LUA is None, reason="no Lua interpreter (apt-get install lua5.4)")


def health_script() -> str:
    block = HELM_DOC.read_text().split("<!-- argocd-health-lua")[1]
    data = re.search(r"```yaml\n(.*?)```", block, re.S)
    assert data is not None, "the yaml block after the marker"
    script: str = yaml.safe_load(data.group(1))["data"][
        "resource.customizations.health.kubetune.io_TuningJob"
    ]
    return script


def lua(value: Any) -> str:
    """`value` (JSON) as a Lua literal."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "{" + ", ".join(lua(v) for v in value) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "nil"
    return json.dumps(value)  # numbers, and strings (JSON's escapes are Lua's too)


def argocd_health(status: TuningJobStatus | dict[str, Any] | None) -> tuple[str, str]:
    obj: dict[str, Any] = {"metadata": {"name": "tj", "generation": 1}}
    if isinstance(status, TuningJobStatus):
        obj["status"] = status.model_dump(by_alias=True, mode="json", exclude_none=True)
    elif status is not None:
        obj["status"] = status
    # Argo CD runs the script with the object as the global `obj`, and reads the table it
    # returns.
    program = f"obj = {lua(obj)}\nlocal hs = (function()\n{health_script()}\nend)()\n"
    program += 'io.write(hs.status, "\\n", hs.message)\n'
    assert LUA is not None
    done = subprocess.run(
        [LUA, "-"], input=program, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    health, _, message = done.stdout.partition("\n")
    return health, message


def test_a_job_not_looked_at_yet_is_progressing() -> None:
    assert argocd_health(None)[0] == "Progressing"
    assert argocd_health({"observedGeneration": 0, "phase": "Pending"})[0] == "Progressing"


def test_a_running_job_is_progressing_and_a_completed_one_healthy() -> None:
    sim = Sim(make_spec(limits=LIMITS))
    running = sim.step().status
    assert argocd_health(running) == ("Progressing", running.message)
    sim.run()
    assert argocd_health(sim.status) == ("Healthy", sim.status.message)


def test_a_failed_job_is_degraded_with_its_message() -> None:
    sim = Sim(make_spec(limits=LIMITS))
    sim.step()
    for _ in range(2):
        sim.finish(sim.running()[0], state="Failed", reason="Error", message="exit code 3")
        sim.step()
    assert argocd_health(sim.status) == ("Degraded", sim.status.message)


def test_a_suspended_job_is_suspended_and_a_changed_spec_not_yet_seen_progressing() -> None:
    sim = Sim(make_spec(limits=LIMITS, suspend=True))
    held = sim.step().status
    assert argocd_health(held)[0] == "Suspended"
    seen_before = held.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert argocd_health({**seen_before, "observedGeneration": 0})[0] == "Progressing"
