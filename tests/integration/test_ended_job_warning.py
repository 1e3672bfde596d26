"""manifests/ended-tuningjob-warning.yaml on the real API server: a change to the spec of
an ended TuningJob is admitted with a warning that says it does nothing and what to do
instead (kubectl prints it); nothing else is warned about. The operator's side of such a
change (observedGeneration, the SpecChangeIgnored Event) is tests/e2e/test_ended_job_spec_change.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from support.local_cluster import Cluster

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "manifests" / "ended-tuningjob-warning.yaml"
MORE_TRIALS = json.dumps({"spec": {"limits": {"maxTrials": 30}}})


def tuning_job(name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "digits-cpu.yaml").read_text())
    manifest["metadata"] = {"name": name}
    return manifest


class Jobs:
    """TuningJobs in one namespace, written with kubectl as the admin."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace

    def kubectl(self, *args: str, stdin: str | None = None) -> tuple[str, str]:
        done = self.cluster.run_kubectl(*args, "-n", self.namespace, stdin=stdin)
        return done.stdout, done.stderr

    def create(self, name: str, phase: str | None) -> None:
        self.kubectl("create", "-f", "-", stdin=yaml.safe_dump(tuning_job(name)))
        if phase is not None:  # as the operator writes it, through the status subresource
            status = json.dumps({"status": {"phase": phase}})
            self.kubectl("patch", "tj", name, "--subresource=status", "--type=merge", "-p", status)

    def patch(self, name: str, body: str, *options: str) -> str:
        """The warnings kubectl printed for a merge patch of the TuningJob."""
        _, stderr = self.kubectl("patch", "tj", name, "--type=merge", "-p", body, *options)
        return "\n".join(line for line in stderr.splitlines() if line.startswith("Warning:"))

    def generation(self, name: str) -> int:
        stdout, _ = self.kubectl("get", "tj", name, "-o", "jsonpath={.metadata.generation}")
        return int(stdout)


@pytest.fixture(scope="module")
def warning_policy(cluster: Cluster, kube_api: client.ApiClient) -> Iterator[None]:
    """The CRD and the policy, applied and in force; the policy is deleted afterwards."""
    cluster.apply_tuningjob_crd()
    cluster.run_kubectl(
        "apply", "--server-side", "--field-manager=kubetune-tests", "-f", str(POLICY_FILE)
    )
    try:
        _wait_until_enforced(cluster, kube_api)
        yield
    finally:
        cluster.run_kubectl("delete", "--ignore-not-found", "-f", str(POLICY_FILE), check=False)


def _wait_until_enforced(cluster: Cluster, kube_api: client.ApiClient) -> None:
    """The API server loads policies asynchronously: wait until a (dry-run) change to an
    ended job's spec is warned about, in a namespace of its own."""
    namespace = f"kt-warning-probe-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        jobs = Jobs(cluster, namespace)
        jobs.create("probe", "Completed")
        deadline = time.monotonic() + 60
        while not jobs.patch("probe", MORE_TRIALS, "--dry-run=server"):
            assert time.monotonic() < deadline, "the policy was never enforced"
            time.sleep(0.2)
    finally:
        core.delete_namespace(namespace)


@pytest.fixture
def jobs(cluster: Cluster, namespace: str, warning_policy: None) -> Jobs:
    return Jobs(cluster, namespace)


@pytest.mark.parametrize("phase", ["Completed", "Failed", "Stopped"])
def test_a_spec_change_to_an_ended_job_is_admitted_with_a_warning(jobs: Jobs, phase: str) -> None:
    jobs.create("ended", phase)
    before = jobs.generation("ended")
    warning = jobs.patch("ended", MORE_TRIALS)
    assert warning == (
        "Warning: Validation failed for ValidatingAdmissionPolicy "
        "'kubetune-ended-tuningjob-warning' with binding 'kubetune-ended-tuningjob-warning': "
        f"TuningJob ended has ended ({phase}): a change to its spec does nothing; to tune "
        "further, create a new TuningJob with spec.warmStart.parents: [ended]"
    )
    assert jobs.generation("ended") == before + 1  # a warning, not a refusal


@pytest.mark.parametrize("phase", [None, "Pending", "InProgress"])
def test_a_job_that_has_not_ended_changes_without_a_word(jobs: Jobs, phase: str | None) -> None:
    jobs.create("running", phase)
    assert jobs.patch("running", MORE_TRIALS) == ""


def test_metadata_and_status_changes_of_an_ended_job_pass_without_a_word(jobs: Jobs) -> None:
    jobs.create("ended", "Completed")
    assert jobs.patch("ended", json.dumps({"metadata": {"labels": {"team": "a"}}})) == ""
    status = json.dumps({"status": {"message": "written by the operator's stand-in"}})
    assert jobs.patch("ended", status, "--subresource=status") == ""
