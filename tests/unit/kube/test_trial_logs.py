"""A succeeded trial's objective read from its log as the kubelet serves it."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from kubetune.operator.controller import LOG_FORBIDDEN, JobObservation
from kubetune.operator.kube import trial_logs
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.trial_logs import TrialLogs
from support.memory_kube import MemoryKube
from support.specs import make_spec

SPEC = make_spec()  # objective regex: loss=([-0-9.eE+naif]+)


def steps(count: int, padding: int) -> bytes:
    """`count` lines `loss=N` after `padding` dots, the last one `loss=1`."""
    return b"".join(b"%sloss=%d\n" % (b"." * padding, count - i) for i in range(count))


@pytest.mark.parametrize(
    ("log", "final", "tails"),
    [
        (steps(2000, 0), 1.0, [None, 100]),  # the last 100 lines (792 bytes) fit
        (steps(2000, 30), 1.0, [None, 100, 25]),  # 100 lines of 38 bytes do not
        (steps(2000, 30) + b"loss=0 " + b"#" * 5000 + b"\n", 0.0, [None, 100, 25, 6, 1]),
    ],
)
def test_the_final_value_of_a_log_longer_than_the_scan_limit_is_its_last(
    monkeypatch: pytest.MonkeyPatch, log: bytes, final: float, tails: list[int | None]
) -> None:
    """The head is scanned up to the limit, the final values come from the tail. The
    kubelet keeps the START of a tail longer than limit_bytes: fewer lines are read until
    the tail fits, so the last line is always read (one longer than limit_bytes alone, and
    in part)."""
    monkeypatch.setattr(trial_logs, "MAX_SCAN_BYTES", 10_000)  # 512 MiB in the operator
    monkeypatch.setattr(trial_logs, "TAIL_LINES", 100)
    monkeypatch.setattr(trial_logs, "TAIL_BYTES", 1_000)
    kube = MemoryKube()  # serves a tail as the kubelet does
    kube.logs[("ns", "pod")] = log
    outcome, _ = TrialLogs(kube, "ns", SPEC).outcome(LogSource("pod", "trainer"))
    assert outcome.value == final
    assert kube.log_tails == tails


def test_an_objective_no_line_matched_names_the_container_read_as_the_first() -> None:
    """QA67 L6: a sidecar listed before the trainer, no primaryContainer."""
    spec = SPEC.model_copy(deep=True)
    pod_spec = spec.trial_template.job["template"]["spec"]
    pod_spec["containers"].insert(0, {"name": "sidecar", "image": "busybox"})
    kube = MemoryKube()
    kube.logs[("ns", "pod")] = b"shipping logs\n"
    outcome, _ = TrialLogs(kube, "ns", spec).outcome(LogSource("pod", "sidecar"))
    assert outcome.message == (
        "no line of container sidecar's log matched metric loss (the first container; "
        "primaryContainer unset)"
    )


class ForbiddenLogs(MemoryKube):
    """An API server whose RBAC refuses the operator `get pods/log`."""

    def stream_log(self, namespace: str, pod: str, container: str, **_: object) -> Any:
        raise ApiException(status=403, reason="Forbidden")


def test_a_log_the_operator_may_not_read_keeps_its_trial_running_saying_why() -> None:
    """QA93 M3: the 403 failed the whole reconcile, and every trial's status stayed as it
    was (ended trials shown Pending) until the grant."""
    succeeded = JobObservation("tj-001", "Succeeded")
    observation, curve, _ = TrialLogs(ForbiddenLogs(), "team-a", SPEC).with_outcome(
        succeeded, LogSource("pod", "trainer")
    )
    assert (observation.state, observation.reason, len(curve)) == ("Running", LOG_FORBIDDEN, 0)
    assert observation.message == (
        "its log cannot be read: the operator may not get pods/log in namespace team-a "
        "(HTTP 403); it is read once that is granted"
    )
