"""Following a running trial's log: values published as their lines end, a wake-up at the
Hyperband rungs or at a value the median rule stops the trial on, a replaced follower
that continues the curve, and the fallback to reading the log when it cannot be followed.
The log stream is a queue fed by the test (the API server's follow stream is exercised
by tests/e2e/test_hyperband_e2e.py and test_early_stopping_e2e.py)."""

from __future__ import annotations

import math
import queue
import threading
from array import array
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import TrialPhase, TrialStatus, TuningJobStatus
from kubetune.operator.kube import log_follower
from kubetune.operator.kube.curves import CurveCache, JobCurves, last_read_curves, update_curves
from kubetune.operator.kube.log_follower import LogFollower, follow_log, followed_logs
from kubetune.operator.kube.metric_logs import compile_metric_regex, line_time_ns
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.trial_logs import LogFollowing, TrialLogs
from kubetune.operator.runtime.telemetry import REGISTRY
from support.specs import make_spec
from support.waiting import wait_for

PATTERN = compile_metric_regex(r"loss=([-0-9.eE+naif]+)")
END = b""


class Stream:
    """A followed log: chunks the test puts, until `END` (the pod ended) or an error."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks: queue.Queue[bytes | Exception] = queue.Queue()
        for chunk in chunks:
            self.chunks.put(chunk)
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        try:
            while (chunk := self.chunks.get(timeout=30)) != END:
                if isinstance(chunk, Exception):
                    raise chunk
                yield chunk
        finally:
            self.closed.set()


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def follow(stream: Stream, known: tuple[float, ...] = (), **kw: Any) -> LogFollower:
    follower = follow_log(
        lambda: iter(stream),
        PATTERN,
        known=array("d", known),
        max_scan_bytes=kw.pop("max_scan_bytes", 1 << 20),
        **kw,
    )
    assert follower is not None
    return follower


SPEC = make_spec(strategy="Hyperband", hyperband={"minResource": 1, "maxResource": 9})
AT_RUNGS = JobCurves("uid").wake_when(TrialLogs(None, "ns", SPEC))  # type: ignore[arg-type]
"""Wakes when a curve reaches a rung of SPEC: 1 or 3 values."""


def curve_of(follower: LogFollower, length: int) -> list[float]:
    return list(
        wait_for(lambda: len(follower.curve()) >= length and follower.curve(), 10, "values")
    )


def test_values_are_published_as_their_lines_end_and_wake_at_the_rungs() -> None:
    stream, wakes = Stream(b"epoch 1 loss=0.9\nepoch 2 lo"), Wakes()
    follower = follow(stream, wake_when=AT_RUNGS, wake=wakes)
    assert curve_of(follower, 1) == [0.9]  # epoch 2's line is not finished
    wait_for(lambda: wakes.count == 1, 10, "a wake-up at rung 1")
    stream.chunks.put(b"ss=0.8\nloss=0.7\nloss=0.6\n")  # epochs 2-4 in one chunk
    assert curve_of(follower, 4) == [0.9, 0.8, 0.7, 0.6]
    assert not follower.ended
    stream.chunks.put(END)
    wait_for(lambda: follower.ended, 10, "the follower to end with its stream")
    assert wakes.count == 2  # rung 3 once; epochs 2 and 4 none
    assert not follower.complete  # the stream ended: a running trial is followed again


def test_a_new_follower_continues_the_known_values_without_waking_again() -> None:
    stream, wakes = Stream(b"loss=9\nloss=8\nloss=7\n", END), Wakes()
    follower = follow(stream, known=(9.0, 8.0), wake_when=AT_RUNGS, wake=wakes)
    wait_for(lambda: follower.ended, 10, "the follower to end")
    assert list(follower.curve()) == [9.0, 8.0, 7.0]
    assert wakes.count == 1  # only epoch 3 is new


def test_a_follower_of_a_log_with_times_keeps_when_each_value_was_printed() -> None:
    """With the values known given with their times (a log read with `timestamps=true`),
    the follower reads the lines' times too: those of the known values until it has read
    them again from the log's start, then the log's."""
    stream = Stream(
        b"2026-12-07T01:00:01Z loss=9\n2026-12-07T01:00:02Z loss=8\n",
        b"2026-12-07T01:00:03.5Z loss=7\n",
        END,
    )
    opened = threading.Event()

    def open_log() -> Iterator[bytes]:
        opened.wait(10)
        return iter(stream)

    known = (array("d", [9.0]), array("q", [11]))
    follower = follow_log(open_log, PATTERN, known=known, max_scan_bytes=1 << 20)
    assert follower is not None
    assert [list(part) for part in follower.timed_curve()] == [[9.0], [11]]
    opened.set()
    wait_for(lambda: follower.ended, 10, "the follower to end")
    at = line_time_ns(b"2026-12-07T01:00:02Z")
    assert at is not None
    values, times = follower.timed_curve()
    assert list(values) == [9.0, 8.0, 7.0]
    assert list(times) == [at - 1_000_000_000, at, at + 1_500_000_000]
    plain = follow(Stream(b"loss=1\n", END))  # known without times: a log without them
    wait_for(lambda: plain.ended, 10, "the follower to end")
    assert [list(part) for part in plain.timed_curve()] == [[1.0], []]


def test_a_stopped_follower_wakes_no_one_and_frees_its_connection() -> None:
    stream, wakes = Stream(b"loss=1\n"), Wakes()
    follower = follow(stream, wake_when=AT_RUNGS, wake=wakes)
    curve_of(follower, 1)
    follower.stop()
    stream.chunks.put(b"loss=2\nloss=3\n")  # the pod's last lines (rung 3) before it goes
    assert stream.closed.wait(10)
    wait_for(lambda: follower.ended, 10, "the follower to end")
    assert wakes.count == 1


def test_a_log_past_the_scan_limit_or_a_closed_series_completes_the_follower() -> None:
    limited = follow(Stream(b"loss=1\nloss=2\nloss=3\n"), max_scan_bytes=14)
    wait_for(lambda: limited.ended, 10, "the follower to end")
    assert (list(limited.curve()), limited.complete) == ([1.0, 2.0], True)
    closed = follow(Stream(b"loss=1\nloss=nan\nloss=2\n"))  # the series ends at a non-number
    wait_for(lambda: closed.ended, 10, "the follower to end")
    curve = list(closed.curve())
    assert (curve[0], len(curve), math.isnan(curve[-1]), closed.complete) == (1.0, 2, True, True)


def test_an_error_ends_the_follower_and_frees_its_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_follower, "MAX_FOLLOWED_LOGS", log_follower.followed_logs() + 1)
    failing = Stream(ApiException(status=400, reason="container is waiting to start"))  # type: ignore[arg-type]
    first = follow(failing)
    wait_for(lambda: first.ended, 10, "the follower to end")
    assert not first.complete

    def refused() -> Iterator[bytes]:  # the API server's answer to the request itself
        raise ApiException(status=400, reason="container is waiting to start")

    at_open = follow_log(refused, PATTERN, known=array("d"), max_scan_bytes=1 << 20)
    assert at_open is not None
    wait_for(lambda: at_open.ended, 10, "the follower that could not open its log to end")
    stream = Stream()
    second = follow(stream)  # the slot is free again
    assert follow_log(lambda: iter(()), PATTERN, known=array("d"), max_scan_bytes=1) is None
    stream.chunks.put(END)
    wait_for(lambda: second.ended, 10, "the follower to end")
    assert follow(Stream(END))


class FollowedKube:
    """Logs by pod: `streams` answer follow requests, `logs` plain reads."""

    log_timestamps = False  # its logs are served as stored

    def __init__(self) -> None:
        self.logs: dict[str, bytes] = {}
        self.streams: dict[str, list[Stream]] = {}
        self.reads: list[tuple[str, bool]] = []

    def stream_log(self, namespace: str, pod: str, container: str, **kw: Any) -> Iterator[bytes]:
        self.reads.append((pod, kw.get("follow", False)))
        if kw.get("follow"):
            yield from self.streams[pod].pop(0)
        else:
            yield self.logs[pod]


def running_curves(kube: FollowedKube, entry: JobCurves, wakes: Wakes) -> dict[str, list[float]]:
    status = TuningJobStatus(trials=[TrialStatus(name="tj-001", phase=TrialPhase.RUNNING)])
    out = update_curves(
        TrialLogs(kube, "ns", SPEC, following=LogFollowing(kube, wakes)),  # type: ignore[arg-type]
        entry,
        status=status,
        sources={"tj-001": LogSource("pod-1", "trainer")},
        just_succeeded={},
        running={"tj-001": "tj-001"},
        judged_on_peers=False,
    )
    return {trial: list(curve) for trial, curve in out.items()}


def test_the_operator_reads_a_running_log_once_then_follows_it_and_again_if_it_drops() -> None:
    kube, entry, wakes = FollowedKube(), JobCurves("uid"), Wakes()
    first, second = Stream(b"loss=5\n"), Stream(b"loss=5\nloss=4\nloss=3\n")
    kube.logs["pod-1"] = b"loss=5\n"
    kube.streams["pod-1"] = [first, second]
    assert running_curves(kube, entry, wakes) == {"tj-001": [5.0]}  # read, then followed
    follower = entry.followers["tj-001"]
    first.chunks.put(b"loss=4\n")
    curve_of(follower, 2)
    assert running_curves(kube, entry, wakes) == {"tj-001": [5.0, 4.0]}  # no read
    assert kube.reads == [("pod-1", False), ("pod-1", True)]
    first.chunks.put(ConnectionResetError("dropped"))  # type: ignore[arg-type]
    wait_for(lambda: follower.ended, 10, "the follower to end")
    kube.logs["pod-1"] = b"loss=5\nloss=4\nloss=3\n"
    # Read again (what it printed meanwhile), and followed again from there.
    assert running_curves(kube, entry, wakes) == {"tj-001": [5.0, 4.0, 3.0]}
    assert kube.reads[2:] == [("pod-1", False), ("pod-1", True)]
    assert entry.followers["tj-001"] is not follower
    # Epochs 1 and 3 (the rungs) came in reads, which the reconcile judges itself.
    assert wakes.count == 0
    assert {t: list(c) for t, c in last_read_curves(entry, {"tj-001": "tj"}).items()} == {
        "tj": [5.0, 4.0, 3.0]
    }
    follower = entry.followers["tj-001"]
    entry.stop_following()
    second.chunks.put(END)
    wait_for(lambda: follower.ended, 10, "the follower to end")


def test_a_job_whose_daemon_stopped_lets_go_of_its_logs_and_a_resumed_one_follows_again() -> None:
    """Peering paused the replica: its followers of the job's logs stop (the curves are
    kept) and end (this queue stream at its next chunk); a follower told to stop is not trusted
    even before it ends: the next reconcile reads the log and follows it again."""
    kube, wakes, cache = FollowedKube(), Wakes(), CurveCache()
    entry = cache.get("ns", "tj", "uid")
    first, second = Stream(b"loss=5\n"), Stream(b"loss=5\nloss=4\n")
    kube.logs["pod-1"] = b"loss=5\n"
    kube.streams["pod-1"] = [first, second]
    assert running_curves(kube, entry, wakes) == {"tj-001": [5.0]}
    stopped = entry.followers["tj-001"]
    cache.stop_following("ns", "tj")
    cache.stop_following("ns", "unknown")  # a job this replica never reconciled: fine
    assert stopped.stopped and not stopped.ended
    kube.logs["pod-1"] = b"loss=5\nloss=4\n"
    assert running_curves(kube, entry, wakes) == {"tj-001": [5.0, 4.0]}
    assert kube.reads[2:] == [("pod-1", False), ("pod-1", True)]  # read, followed again
    follower = entry.followers["tj-001"]
    assert follower is not stopped and not follower.stopped
    first.chunks.put(b"loss=4\n")  # its next chunk ends the stopped one, its stream closed
    wait_for(lambda: first.closed.is_set() and stopped.ended, 10, "the stream to close")
    assert wakes.count == 0
    entry.stop_following()
    second.chunks.put(END)
    wait_for(lambda: follower.ended, 10, "the follower to end")


def test_the_logs_followed_now_are_a_metric() -> None:
    before = followed_logs()
    stream = Stream()
    follower = follow(stream)
    assert REGISTRY.get_sample_value("kubetune_followed_logs") == before + 1
    stream.chunks.put(END)
    wait_for(lambda: follower.ended, 10, "the follower to end")
    assert REGISTRY.get_sample_value("kubetune_followed_logs") == before


def test_beyond_the_followers_limit_running_logs_are_read_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_follower, "MAX_FOLLOWED_LOGS", log_follower.followed_logs())
    kube, entry = FollowedKube(), JobCurves("uid")
    kube.logs["pod-1"] = b"loss=5\n"
    assert running_curves(kube, entry, Wakes()) == {"tj-001": [5.0]}
    assert entry.followers == {} and kube.reads == [("pod-1", False)]


def test_a_followed_trial_wakes_the_operator_when_the_median_rule_stops_it() -> None:
    """With `earlyStopping: Auto` a follower wakes the operator at the value that stops
    its trial by the controller's rule against the job's succeeded peers, and at no
    other value (the periodic check judges the logs that are read instead)."""
    spec = make_spec(earlyStopping="Auto")
    peers = {  # running averages at step 4: 0.55, 0.625, 0.7; the median 0.625
        "tj-001": array("d", [1.0, 0.5, 0.4, 0.3]),
        "tj-002": array("d", [1.0, 0.6, 0.5, 0.4]),
        "tj-003": array("d", [1.0, 0.7, 0.6, 0.5]),
    }
    kube, entry, wakes = FollowedKube(), JobCurves("uid"), Wakes()
    stream = Stream(b"loss=1.0\n")
    kube.logs["pod-4"] = b""
    kube.streams["pod-4"] = [stream]
    trials = [TrialStatus(name=n, phase=TrialPhase.SUCCEEDED) for n in peers]
    trials.append(TrialStatus(name="tj-004", phase=TrialPhase.RUNNING))
    update_curves(
        TrialLogs(kube, "ns", spec, following=LogFollowing(kube, wakes)),  # type: ignore[arg-type]
        entry,
        status=TuningJobStatus(trials=trials),
        sources={"tj-004": LogSource("pod-4", "trainer")},
        just_succeeded=peers,
        running={"tj-004": "tj-004"},
    )
    follower = entry.followers["tj-004"]
    stream.chunks.put(b"loss=0.7\nloss=0.69\n")  # better than the median at steps 2 and 3
    assert curve_of(follower, 3) == [1.0, 0.7, 0.69]
    assert wakes.count == 0
    stream.chunks.put(b"loss=0.65\n")  # best 0.65, worse than 0.625 at step 4: stopped
    wait_for(lambda: wakes.count == 1, 10, "a wake-up at step 4")
    assert entry.median_rule is not None
    assert entry.median_rule.judge(follower.curve()) == (4, 0.65, 0.625, 3)
    entry.stop_following()
    stream.chunks.put(END)
    wait_for(lambda: follower.ended, 10, "the follower to end")


def test_a_hyperband_follower_wakes_past_max_resource_and_at_a_value_that_is_no_number() -> None:
    """QA82 L6: a trial printing more values than maxResource (9) fails the job at once,
    and one whose value is no number is judged at no later rung: both woke no one, and
    waited for the next periodic look."""
    epochs = [b"loss=%d\n" % (10 - e) for e in range(10)]  # 10 values, one per chunk
    stream, wakes = Stream(*epochs, END), Wakes()
    follower = follow(stream, wake_when=AT_RUNGS, wake=wakes)
    wait_for(lambda: follower.ended, 10, "the follower to end")
    assert len(follower.curve()) == 10
    assert wakes.count == 3  # rungs 1 and 3, then the 10th value of 9 epochs
    stream, wakes = Stream(b"loss=1\n", b"loss=2\n", b"loss=n/a\n", END), Wakes()
    follower = follow(stream, wake_when=AT_RUNGS, wake=wakes)
    wait_for(lambda: follower.ended, 10, "the follower to end")
    assert list(follower.curve()) == [1.0, 2.0, math.inf]  # the series ends on the text
    assert wakes.count == 2  # rung 1, then the text
