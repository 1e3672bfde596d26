"""Helm 4's `--wait` (kstatus, as Flux's health checks) on a user chart holding a
TuningJob, with the real operator (QA99 M1): kstatus reads only `observedGeneration` and
the Reconciling and Stalled conditions of a kind it does not know, so without them a
release was "deployed" at once and a job whose trainer fails passed for healthy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from support.chart_release import helm_binary
from support.operator_harness import Api, OperatorProcess, tuning_job

LIMITS = {"maxTrials": 2, "maxParallelTrials": 2}


def helm_install_wait(
    kubeconfig: Path, namespace: str, chart_dir: Path, body: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """`helm install --wait` of a chart holding the one TuningJob `body`."""
    (chart_dir / "templates").mkdir(parents=True)
    name = body["metadata"]["name"]
    (chart_dir / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart_dir / "templates" / "tuningjob.yaml").write_text(json.dumps(body))
    argv = [helm_binary(), f"--kubeconfig={kubeconfig}", "--namespace", namespace]
    argv += ["install", name, str(chart_dir), "--wait", "--timeout", "90s"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=150, check=False)


def test_helm_wait_waits_for_the_tuning_to_end(
    api: Api, operator: OperatorProcess, kubeconfig_path: Path, namespace: str, tmp_path: Path
) -> None:
    done = helm_install_wait(
        kubeconfig_path, namespace, tmp_path, tuning_job("ok", max_trials=2, limits=LIMITS)
    )
    assert done.returncode == 0, done.stderr
    status = api.status("ok")
    assert (status["phase"], status["reason"]) == ("Completed", "MaxTrialsReached"), status
    reconciling = next(c for c in status["conditions"] if c["type"] == "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("False", "MaxTrialsReached")


def test_helm_wait_fails_on_a_tuning_job_that_failed(
    api: Api, operator: OperatorProcess, kubeconfig_path: Path, namespace: str, tmp_path: Path
) -> None:
    body = tuning_job("failing", max_trials=2, static={"mode": "fail"}, limits=LIMITS)
    done = helm_install_wait(kubeconfig_path, namespace, tmp_path, body)
    assert done.returncode != 0, f"helm install --wait passed:\n{done.stdout}"
    status = api.status("failing")
    assert status["phase"] == "Failed", status
    # At once, with the job's message (kstatus' Failed, from Stalled), not at the timeout.
    assert f"status: Failed, message: {status['message']}" in done.stderr, done.stderr
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", status["reason"])
