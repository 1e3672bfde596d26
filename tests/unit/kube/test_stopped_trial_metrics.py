"""A trial stopped while it runs (the median rule, a Hyperband rung, a diverged objective)
keeps the last values of the other metrics its log printed before the stop, as a
succeeded trial keeps its final ones (QA84 L2: they were `-`): the lines read for its
curve are scanned for them too, and they reach the status with the stop. Its Job, and
its log, are deleted after that write."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kubetune.operator.api import TrialPhase, TrialStatus, TuningJobStatus
from kubetune.operator.kube import reconcile
from kubetune.operator.kube.curves import CURVES, JobCurves, running_metrics, update_curves
from kubetune.operator.kube.log_follower import follow_log
from kubetune.operator.kube.metric_logs import (
    SERIES,
    compile_metric_regex,
    compile_metrics,
    last_values,
    scan_running_log,
)
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.trial_logs import LogFollowing, TrialLogs
from support.memory_kube import MemoryKube
from support.specs import make_spec, spec_dict
from support.waiting import wait_for
from unit.kube.test_log_follower import END, FollowedKube, Stream, Wakes

NS, NAME = "ns", "tj"
NOW = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
METRICS = [
    {"name": "loss", "regex": r"loss=([-0-9.eE+naif]+)"},
    {"name": "accuracy", "regex": r"acc=(\S+)"},
    {"name": "never", "regex": r"never=(\S+)"},
    {"name": "broken", "regex": r"broken=(\S+)"},
]
"""The objective, a metric printed every epoch, one never printed and one whose last
value is no finite number: those two are left out, as for a succeeded trial."""


def new_job(**overrides: Any) -> MemoryKube:
    CURVES.forget(NS, NAME)
    kube = MemoryKube()
    kube.add_tuning_job(NS, NAME, spec_dict(metrics=METRICS, **overrides))
    return kube


def run_pod(kube: MemoryKube, job: str, log: bytes) -> None:
    """The Job's pod is running and has printed `log` so far."""
    kube.finish_job(NS, job, log)
    kube.pods[(NS, f"{job}-pod")]["status"] = {
        "phase": "Running",
        "containerStatuses": [{"name": "trainer", "state": {"running": {}}}],
    }


def trial(kube: MemoryKube, index: int) -> dict[str, Any]:
    return kube.status(NS, NAME)["trials"][index]  # type: ignore[no-any-return]


def test_a_trial_the_median_rule_stops_keeps_the_other_metrics_last_values() -> None:
    kube = new_job(earlyStopping="Auto", limits={"maxTrials": 5, "maxParallelTrials": 4})
    reconcile(kube, NS, NAME, now=NOW)
    for i in (1, 2, 3):  # the peers: loss 1 at both steps
        kube.finish_job(NS, f"tj-{i:03d}", b"acc=0.9 loss=1\nacc=0.91 loss=1\n")
    reconcile(kube, NS, NAME, now=NOW)
    # Step 2: best 4, worse than the peers' median 1: stopped there.
    run_pod(kube, "tj-004", b"acc=0.5 loss=5\nbroken=1\nacc=0.625 loss=4\nbroken=nan\n")
    reconcile(kube, NS, NAME, now=NOW)
    stopped = trial(kube, 3)
    assert (stopped["phase"], stopped["objective"], stopped["intermediateCount"]) == (
        "EarlyStopped",
        4.0,
        2,
    )
    assert stopped["metrics"] == {"accuracy": 0.625}
    assert trial(kube, 0)["metrics"] == {"accuracy": 0.91}  # a succeeded one, as before
    assert "tj-004" in kube.called("delete_job")  # after the write that kept them
    CURVES.forget(NS, NAME)


def test_a_trial_stopped_at_a_hyperband_rung_keeps_the_other_metrics_last_values() -> None:
    kube = new_job(
        strategy="Hyperband",
        staticHyperparameters={"epochs": "9"},
        limits={"maxTrials": 4, "maxParallelTrials": 2},
    )
    reconcile(kube, NS, NAME, now=NOW)
    run_pod(kube, "tj-001", b"acc=0.7 loss=0.5\n")
    run_pod(kube, "tj-002", b"acc=0.25 loss=0.9\nacc=0.3 loss=0.8\n")
    reconcile(kube, NS, NAME, now=NOW)
    first, second = trial(kube, 0), trial(kube, 1)
    assert (first["phase"], "metrics" in first) == ("Running", False)  # kept only at a stop
    assert (second["phase"], second["reason"], second["objective"]) == (
        "EarlyStopped",
        "StoppedAtRung0",
        0.9,  # its value at the rung; the metrics are the last ones read, epoch 2's
    )
    assert second["metrics"] == {"accuracy": 0.3}
    CURVES.forget(NS, NAME)


def test_a_diverged_trial_stopped_at_once_keeps_the_other_metrics_last_values() -> None:
    kube = new_job(earlyStopping="Auto")
    reconcile(kube, NS, NAME, now=NOW)
    run_pod(kube, "tj-001", b"acc=0.5 loss=2\nacc=0.25 loss=nan\n")
    reconcile(kube, NS, NAME, now=NOW)
    failed = trial(kube, 0)
    assert (failed["phase"], failed["reason"]) == ("Failed", "ObjectiveNotFinite")
    assert failed["metrics"] == {"accuracy": 0.25}
    CURVES.forget(NS, NAME)


def test_a_trial_stopped_by_the_jobs_end_keeps_the_other_metrics_last_values() -> None:
    kube = new_job(
        strategy="Hyperband",
        staticHyperparameters={"epochs": "9"},
        limits={"maxTrials": 4, "maxParallelTrials": 2},
    )
    reconcile(kube, NS, NAME, now=NOW)
    run_pod(kube, "tj-001", b"acc=0.7 loss=0.5\nacc=0.75 loss=0.4\n")
    reconcile(kube, NS, NAME, now=NOW)
    kube.tuning_jobs[(NS, NAME)]["spec"]["stop"] = True
    reconcile(kube, NS, NAME, now=NOW)
    stopped = trial(kube, 0)
    assert (stopped["phase"], stopped["intermediateCount"]) == ("Stopped", 2)
    assert stopped["metrics"] == {"accuracy": 0.75}
    assert "tj-001" in kube.called("delete_job")
    CURVES.forget(NS, NAME)


def test_a_running_log_is_scanned_once_for_the_curve_and_the_other_metrics_last_values() -> None:
    others = compile_metrics([(m["name"], m["regex"]) for m in METRICS[1:]])
    log = b"acc=0.5 loss=3\nbroken=2\nacc=0.75 loss=2\nacc=0.8 broken=inf\n"
    reading = scan_running_log(
        [log], compile_metric_regex(METRICS[0]["regex"]), others, max_scan_bytes=1 << 20
    )
    assert (list(reading.series), last_values(reading)) == ([3.0, 2.0], {"accuracy": 0.8})
    # A metric named as the objective's key could not be taken for it: names have no space.
    assert " " in SERIES


def test_a_follower_keeps_the_other_metrics_last_values_with_its_values() -> None:
    """Published with the values of the same lines; a follower started with values known
    (it reads the log from its start again) says none until it has read as far again, so
    older last values never replace those read with the values known."""
    patterns = {
        SERIES: compile_metric_regex(METRICS[0]["regex"]),
        **compile_metrics([("accuracy", r"acc=(\S+)")]),
    }
    stream, first_read = Stream(), threading.Event()

    def open_log() -> Iterator[bytes]:
        yield b"acc=0.5 loss=3\n"
        first_read.set()  # the next chunk is asked for: the first one is published
        yield from stream

    follower = follow_log(open_log, patterns, known=array("d", [3.0, 2.0]), max_scan_bytes=1 << 20)
    assert follower is not None
    assert first_read.wait(10)
    assert follower.latest()[2] is None  # one value of the two known read again
    stream.chunks.put(b"acc=0.75 loss=2\nacc=0.8 loss=1.5\n")
    wait_for(lambda: len(follower.curve()) == 3, 10, "the third value")
    assert follower.latest()[2] == {"accuracy": 0.8}
    stream.chunks.put(END)
    wait_for(lambda: follower.ended, 10, "the follower to end")


def test_the_operator_keeps_a_followed_trials_last_values_across_a_new_follower() -> None:
    spec = make_spec(earlyStopping="Auto", metrics=METRICS)
    kube, entry, wakes = FollowedKube(), JobCurves("uid"), Wakes()
    first, second, first_read = Stream(), Stream(), threading.Event()

    def again() -> Iterator[bytes]:  # the second follower's stream
        yield b"acc=0.5 loss=5\n"
        first_read.set()  # the next chunk is asked for: the first one is published
        yield from second

    kube.logs["pod-1"] = b"acc=0.5 loss=5\n"
    kube.streams["pod-1"] = [first, again()]  # type: ignore[list-item]
    logs = TrialLogs(kube, "ns", spec, following=LogFollowing(kube, wakes))  # type: ignore[arg-type]
    status = TuningJobStatus(trials=[TrialStatus(name="tj-001", phase=TrialPhase.RUNNING)])

    def look() -> dict[str, dict[str, float]]:
        sources = {"tj-001": LogSource("pod-1", "trainer")}
        running = {"tj-001": "tj-001"}
        update_curves(
            logs, entry, status=status, sources=sources, just_succeeded={}, running=running
        )
        return running_metrics(entry, running)

    assert look() == {"tj-001": {"accuracy": 0.5}}  # read, then followed
    follower = entry.followers["tj-001"]
    first.chunks.put(b"acc=0.5 loss=5\nacc=0.75 loss=4\n")
    wait_for(lambda: len(follower.curve()) == 2, 10, "the second value")
    assert look() == {"tj-001": {"accuracy": 0.75}}
    first.chunks.put(ConnectionResetError("dropped"))  # type: ignore[arg-type]
    wait_for(lambda: follower.ended, 10, "the follower to end")
    kube.logs["pod-1"] = b"acc=0.5 loss=5\nacc=0.75 loss=4\n"
    assert look() == {"tj-001": {"accuracy": 0.75}}  # read again, followed again
    assert first_read.wait(10)  # the new follower has read one value of the two again
    assert look() == {"tj-001": {"accuracy": 0.75}}  # not epoch 1's
    second.chunks.put(b"acc=0.75 loss=4\nacc=0.9 loss=3.5\n")
    wait_for(lambda: len(entry.followers["tj-001"].curve()) == 3, 10, "the third value")
    assert look() == {"tj-001": {"accuracy": 0.9}}
    entry.stop_following()
    second.chunks.put(END)
