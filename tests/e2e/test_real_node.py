"""Trials as real containers: the kubelet and containerd of hack/real-node.sh run the
trial pods of a TuningJob (the operator runs as a local process, as in the other e2e
tests). Opt-in: KUBETUNE_REAL_NODE=1 (the node is started for this module if it is not
running, and stopped after). The node is tainted, so trials tolerate and select it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_harness import Api, OperatorProcess, tuning_job, wait_for

ROOT = Path(__file__).resolve().parents[2]
REAL_NODE = ROOT / "hack" / "real-node.sh"
NODE = "kubetune-real-0"
TRAINER_IMAGE = "localhost/kubetune/mxnet-trainer:0.1.0-cpu"
OBJECTIVE_REGEX = r"validation: accuracy=([0-9\.]+)"

pytestmark = pytest.mark.containers


def _node_ready(cluster: Any) -> bool:
    done = cluster.run_kubectl(
        "get", "node", NODE, "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False,
    )  # fmt: skip
    return done.stdout.strip() == "True"


@pytest.fixture(scope="module")
def real_node(cluster: Any) -> Iterator[str]:
    if os.environ.get("KUBETUNE_REAL_NODE") != "1":
        pytest.skip("the real node is opt-in: KUBETUNE_REAL_NODE=1 (hack/real-node.sh)")
    started = not _node_ready(cluster)
    if started:
        done = subprocess.run(
            [str(REAL_NODE), "up"], capture_output=True, text=True, timeout=900, check=False
        )
        assert done.returncode == 0, f"hack/real-node.sh up failed:\n{done.stderr}"
    try:
        yield NODE
    finally:
        if started:
            subprocess.run([str(REAL_NODE), "down"], capture_output=True, timeout=300, check=False)


def on_real_node(
    name: str, container: dict[str, Any], *, max_trials: int, **spec: Any
) -> dict[str, Any]:
    """A TuningJob whose trial pods run `container` on the real node."""
    body = tuning_job(name, max_trials=max_trials, parallel=1, **spec)
    pod = body["spec"]["trialTemplate"]["job"]["template"]["spec"]
    pod["containers"] = [{"name": "trainer", "imagePullPolicy": "Never", **container}]
    pod["nodeSelector"] = {"kubetune.io/node-kind": "real"}
    pod["tolerations"] = [{"key": "kubetune.io/real-node", "operator": "Exists"}]
    return body


def finished(api: Api, name: str) -> dict[str, Any] | None:
    status = api.status(name)
    return status if status.get("phase") in ("Completed", "Failed", "Stopped") else None


def test_digits_tuning_job_on_real_containers(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    trainer = {
        "image": TRAINER_IMAGE,
        "args": ["--dataset=digits", "--epochs=3"],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    job = on_real_node(
        "digits",
        trainer,
        max_trials=2,
        objective={"metric": "accuracy", "type": "Maximize"},
        metrics=[{"name": "accuracy", "regex": OBJECTIVE_REGEX}],
        parameters=[
            {"name": "learning_rate", "type": "Continuous", "min": 0.01, "max": 0.3,
             "scaling": "Logarithmic"},
        ],
    )  # fmt: skip
    api.create(job)
    status = wait_for(
        "the digits TuningJob to finish", lambda: finished(api, "digits"),
        timeout=300, operator=operator,
    )  # fmt: skip
    assert status["phase"] == "Completed", status
    trials = status["trials"]
    assert [t["phase"] for t in trials] == ["Succeeded", "Succeeded"], trials
    pods = api.pods("digits")
    assert {p.spec.node_name for p in pods} == {real_node}
    # Each objective is the last accuracy line the container printed (read back through
    # the API server from the real kubelet).
    by_job = {p.metadata.labels["job-name"]: p.metadata.name for p in pods}
    for trial in trials:
        (pod,) = [pod for job, pod in by_job.items() if job.startswith(trial["name"])]
        log = api.core.read_namespaced_pod_log(pod, api.ns, container="trainer")
        last = float(re.findall(OBJECTIVE_REGEX, log)[-1])
        assert trial["objective"] == pytest.approx(last), (trial, log)
        assert 0.0 < last <= 1.0


def test_trial_over_its_memory_limit_is_oomkilled(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    hog = {
        "image": TRAINER_IMAGE,
        "command": ["python3", "-c", "x = bytearray(400 << 20); print('loss=0')"],
        "resources": {"limits": {"cpu": "1", "memory": "64Mi"}},
    }
    api.create(on_real_node("hog", hog, max_trials=1))
    status = wait_for(
        "the memory-hog TuningJob to finish", lambda: finished(api, "hog"),
        timeout=180, operator=operator,
    )  # fmt: skip
    (trial,) = status["trials"]
    assert (trial["phase"], trial["reason"]) == ("Failed", "OOMKilled"), trial


def test_missing_image_fails_the_trial_as_infrastructure(
    real_node: str, operator: OperatorProcess, api: Api
) -> None:
    missing = {"image": "localhost/kubetune/does-not-exist:0", "args": ["--epochs=1"]}
    api.create(on_real_node("noimage", missing, max_trials=1, retry={"maxAttempts": 2}))
    status = wait_for(
        "the missing-image TuningJob to finish", lambda: finished(api, "noimage"),
        timeout=180, operator=operator,
    )  # fmt: skip
    trials = status["trials"]
    # An image the node cannot have is an infrastructure failure: retried (a new Job),
    # then failed with the kubelet's reason.
    assert len(trials) == 1 and trials[0]["phase"] == "Failed", trials
    assert trials[0]["reason"] == "ErrImageNeverPull", trials[0]
    assert trials[0].get("attempt", 1) == 2, trials[0]
