"""The intermediate objective values ("curves") early stopping judges trials on.

The operator follows running trials' logs as streams (`log_follower`; elsewhere, or
beyond the followers' limit, they are read again from their start, bounded, every
`TrialLogs.curve_read_seconds`), and the curves of succeeded trials are kept in this
process's memory (`CURVES`), never in the status, which must stay small at 1,000 trials.
After a restart they are read again, a few logs per reconcile, from the succeeded trials
whose pods still exist; until all of those are read, the median rule judges nobody (it
gets no running curve), so a restarted operator takes the decisions it would have taken
without the restart, never one against part of the peers. A peer whose pod is gone (or
whose log cannot be read) is lost.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubetune.operator.api import (
    TERMINAL_TRIAL_PHASES,
    Strategy,
    TrialPhase,
    TrialStatus,
    TuningJobStatus,
)
from kubetune.operator.controller.early_stopping import MedianRule
from kubetune.operator.controller.hyperband import levels as hyperband_rungs
from kubetune.operator.controller.hyperband import max_resource as hyperband_max_resource
from kubetune.operator.controller.types import diverged
from kubetune.operator.kube.log_follower import LogFollower, WakeWhen
from kubetune.operator.kube.observe import LogSource
from kubetune.operator.kube.trial_logs import TrialLogs

MAX_PEER_CURVES = 200
"""Curves of succeeded trials kept per TuningJob, those of the latest finished: the
median of 200 is a steady bar, and 200 x 8 KB (kube.metric_logs.MAX_SERIES_STEPS) bounds one
job's memory."""
MAX_IDLE_JOBS = 64
"""TuningJobs whose curves are kept after their daemon stopped here (peering paused this
replica, or the TuningJob went without a reconcile seeing it): the least recently
stopped are dropped first (and their curves read again from the logs if they need them).
A TuningJob whose daemon runs keeps its curves until it ends or goes: dropping them
would make its next reconcile read its peers again, `REBUILD_READS` at a time, and
judge nobody meanwhile -- for ever, were live jobs to push each other out in turn."""
REBUILD_READS = 8
"""Logs of succeeded trials read per reconcile to refill a job's curves after a restart:
the reconcile stays short, and the next ones read the rest."""


@dataclass
class JobCurves:
    """The intermediate objective values this process knows for one TuningJob."""

    uid: str
    succeeded: dict[str, array[float]] = field(default_factory=dict)
    """By trial name: the curves of succeeded trials, the rule's peers."""
    unreadable: set[str] = field(default_factory=set)
    """Succeeded trials whose log could not be read: not tried again."""
    running: dict[str, tuple[float, array[float], array[int], dict[str, float]]] = field(
        default_factory=dict
    )
    """By Job name: when (time.monotonic) the running trial's curve was read, it, when its
    values were printed (where the log says: `TrialLogs.timestamps`), and the other
    metrics' last values in the lines read with it (`running_metrics`)."""
    followers: dict[str, LogFollower] = field(default_factory=dict)
    """By Job name: the running trials' followed logs."""
    median_rule: MedianRule | None = None
    """The median rule against `succeeded` (None while peers are still to be read
    again, or without the rule): a follower wakes the operator when a value it reads
    stops its trial by this rule, the one the controller then applies."""
    median_peers: tuple[str, ...] = ()
    """The peers `median_rule` was built on: it is built again when they change."""

    def wake_when(self, logs: TrialLogs) -> WakeWhen:
        """When a follower of this job's logs wakes the operator: when a trial reaches a
        Hyperband rung, or prints a value the median rule stops it on, or diverges; under
        Hyperband also when its values end on a text that is no number (judged at no later
        rung: its message says so) or pass maxResource (the job fails at once: its rungs
        were judged on the wrong lines), not at the next periodic look."""
        if logs.spec.strategy is Strategy.HYPERBAND:
            rungs = frozenset(hyperband_rungs(logs.spec))
            most = hyperband_max_resource(logs.spec)
            return lambda curve, before: (
                (bool(curve) and not math.isfinite(curve[-1]))
                or before <= most < len(curve)
                or any(n in rungs for n in range(before + 1, len(curve) + 1))
            )

        def stopped_by_median_rule(curve: array[float], before: int) -> bool:
            rule = self.median_rule  # read at every value: it changes with the peers
            return diverged(curve) or (rule is not None and rule.judge(curve) is not None)

        return stopped_by_median_rule

    def stop_following(self, job_name: str | None = None) -> None:
        """Stop following one Job's log (None: every Job's)."""
        for name in [job_name] if job_name is not None else list(self.followers):
            follower = self.followers.pop(name, None)
            if follower is not None:
                follower.stop()


class CurveCache:
    """`JobCurves` per TuningJob (thread-safe: reconciles of different TuningJobs run in
    parallel threads; one TuningJob's never do).

    Memory: one entry per TuningJob that judges running trials and whose daemon runs in
    this process (each at most `MAX_PEER_CURVES` curves of `MAX_SERIES_STEPS` values,
    1.6 MB, and its running trials'), plus at most `max_idle_jobs` entries of TuningJobs
    whose daemon stopped. An entry goes when its TuningJob ends, goes, or stops judging
    (`forget`), or, once idle, when newer idle ones push it out; never because other live
    TuningJobs are reconciled."""

    def __init__(self, max_idle_jobs: int = MAX_IDLE_JOBS) -> None:
        self._max_idle_jobs = max_idle_jobs
        self._jobs: dict[tuple[str, str], JobCurves] = {}
        self._idle: OrderedDict[tuple[str, str], None] = OrderedDict()
        """Keys of the entries whose daemon stopped, the least recently stopped first."""
        self._lock = threading.Lock()

    def get(self, namespace: str, name: str, uid: str) -> JobCurves:
        """The TuningJob's curves (empty for a new one, or one recreated under its name);
        a reconcile of it marks it live again."""
        key = (namespace, name)
        with self._lock:
            entry = self._jobs.get(key)
            if entry is None or entry.uid != uid:
                if entry is not None:
                    entry.stop_following()
                entry = self._jobs[key] = JobCurves(uid)
            self._idle.pop(key, None)
            return entry

    def stop_following(self, namespace: str, name: str) -> None:
        """Stop following a TuningJob's logs (its daemon stopped: peering paused this
        replica, the TuningJob ended or went), keeping its curves, now idle: among the
        `max_idle_jobs` latest idle ones, or dropped. Safe while a reconcile of it runs:
        the followers are only told to stop, and the reconcile follows a stopped one's log
        again."""
        key = (namespace, name)
        dropped = []
        with self._lock:
            entry = self._jobs.get(key)
            if entry is not None:
                self._idle[key] = None
                self._idle.move_to_end(key)
            while len(self._idle) > self._max_idle_jobs:
                dropped.append(self._jobs.pop(self._idle.popitem(last=False)[0]))
        if entry is not None:
            for follower in list(entry.followers.values()):
                follower.stop()
        for old in dropped:
            old.stop_following()

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            entry = self._jobs.pop((namespace, name), None)
            self._idle.pop((namespace, name), None)
        if entry is not None:
            entry.stop_following()

    def __len__(self) -> int:
        return len(self._jobs)


CURVES = CurveCache()


def update_curves(
    logs: TrialLogs,
    entry: JobCurves,
    *,
    status: TuningJobStatus,
    sources: Mapping[str, LogSource],
    just_succeeded: Mapping[str, array[float]],
    running: Mapping[str, str],
    judged_on_peers: bool = True,
) -> dict[str, array[float]]:
    """The curves the controller's early stopping rule needs, by trial name: the running
    trials' (`running`: Job name -> trial name), read at most every
    `logs.curve_read_seconds`, and the succeeded trials' from `entry`, kept up to date.

    `judged_on_peers` (the median rule; not Hyperband, whose rung values are in the
    status): while peers are still to be read again after a restart, the running trials'
    curves are left out, so none is judged against part of its peers."""
    # Peers: the latest MAX_PEER_CURVES succeeded trials (those that just succeeded last).
    succeeded = sorted(
        (t for t in status.trials if t.phase is TrialPhase.SUCCEEDED),
        key=lambda t: (t.end_time is None, t.end_time or datetime.min.replace(tzinfo=UTC)),
    )
    peers = ([t.name for t in succeeded] + list(just_succeeded))[-MAX_PEER_CURVES:]
    keep = set(peers)
    entry.succeeded.update((n, c) for n, c in just_succeeded.items() if n in keep)
    for trial in [n for n in entry.succeeded if n not in keep]:
        del entry.succeeded[trial]
    entry.unreadable &= keep
    # A Job that no longer runs keeps its last curve while its trial is unfinished: its
    # pod may vanish before the Job is seen Failed, and `last_read_curves` then needs it.
    current = {t.job_name for t in status.trials if t.phase not in TERMINAL_TRIAL_PHASES}
    for job_name in [j for j in entry.running if j not in running and j not in current]:
        del entry.running[job_name]
    for job_name in [j for j in entry.followers if j not in running]:
        entry.stop_following(job_name)

    now = time.monotonic()
    out: dict[str, array[float]] = {}
    for job_name, trial in running.items():
        curve = _running_curve(logs, entry, job_name, sources[job_name], now)
        if curve is not None:
            out[trial] = curve
    peers_read = not running or _rebuild_peers(logs, entry, succeeded, peers, sources)
    if judged_on_peers and not peers_read:
        out.clear()
    _update_median_rule(logs, entry, judged_on_peers and peers_read)
    out.update(entry.succeeded)
    return out


def _update_median_rule(logs: TrialLogs, entry: JobCurves, judged: bool) -> None:
    """The rule the followers wake the operator by: the controller's (the same peers,
    those in `entry.succeeded`, the same goal), or none while it judges nobody."""
    if not judged:
        entry.median_rule, entry.median_peers = None, ()
    elif entry.median_rule is None or entry.median_peers != tuple(entry.succeeded):
        peers = list(entry.succeeded.values())
        entry.median_rule = MedianRule(peers, logs.spec.objective.type)
        entry.median_peers = tuple(entry.succeeded)


def _running_curve(
    logs: TrialLogs, entry: JobCurves, job_name: str, source: LogSource, now: float
) -> array[float] | None:
    """A running trial's curve: from its followed log; else read from the log's start
    (at most every `logs.curve_read_seconds` where logs are not followed), and followed
    from there on. A follower whose stream ended early is replaced the same way, so a
    log that cannot be followed is still read once per reconcile. None while the log
    has never been read."""
    seen = entry.running.get(job_name)
    follower = entry.followers.get(job_name)
    if follower is not None and (not (follower.ended or follower.stopped) or follower.complete):
        seen = entry.running[job_name] = (now, *_followed(follower, seen))
        return seen[1]
    if seen is None or follower is not None or now - seen[0] >= logs.curve_read_seconds:
        timed = logs.running_read(source)
        if timed is not None:
            seen = entry.running[job_name] = (now, *timed)
    if logs.following is not None:
        read = [seen[1:]] if seen is not None else []
        if follower is not None:  # what it published since the last reconcile
            read.append(_followed(follower, seen))
        nothing: tuple[array[float], array[int], dict[str, float]] = (array("d"), array("q"), {})
        known, times, metrics = max(read, key=lambda r: len(r[0]), default=nothing)
        entry.followers.pop(job_name, None)
        follower = logs.follow(source, known, entry.wake_when(logs), known_times=times)
        if follower is not None:
            entry.followers[job_name] = follower
        if known and (seen is None or len(known) > len(seen[1])):
            seen = entry.running[job_name] = (now, known, times, metrics)
    return seen[1] if seen is not None else None


def _followed(
    follower: LogFollower, seen: tuple[float, array[float], array[int], dict[str, float]] | None
) -> tuple[array[float], array[int], dict[str, float]]:
    """What a follower has read: the values, when they were printed, and the other
    metrics' last values; those read before (`seen`) until it has read as far again."""
    values, times, metrics = follower.latest()
    if metrics is None:
        metrics = seen[3] if seen is not None else {}
    return values, times, metrics


def running_times(entry: JobCurves, running: Mapping[str, str]) -> dict[str, array[int]]:
    """By trial name: when the values of the running trials' curves (`running`: Job name
    -> trial name) that `update_curves` returned were printed, where the logs say."""
    return {
        trial: entry.running[job][2]
        for job, trial in running.items()
        if job in entry.running and entry.running[job][2]
    }


def running_metrics(entry: JobCurves, running: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """By trial name: the last values of the other metrics read with the running trials'
    curves that `update_curves` returned (`running`: Job name -> trial name), for those
    that have any: what a trial stopped on its curve keeps as its `metrics`."""
    return {
        trial: entry.running[job][3]
        for job, trial in running.items()
        if job in entry.running and entry.running[job][3]
    }


def last_read_curves(entry: JobCurves, failed: Mapping[str, str]) -> dict[str, array[float]]:
    """By trial name: the curves last read (followed, or at most `curve_read_seconds`
    old) of the attempts that just failed (`failed`: Job name -> trial name), the epochs
    they consumed. A failed pod's log may be gone with it (evicted, deleted): the values
    read while it ran are what is known. `update_curves` forgets them once the trial has
    moved on to its next attempt or ended."""
    out = {}
    for job, trial in failed.items():
        read = [entry.running[job][1]] if job in entry.running else []
        if job in entry.followers:
            read.append(entry.followers[job].curve())
        if read:
            out[trial] = max(read, key=len)
    return out


def _rebuild_peers(
    logs: TrialLogs,
    entry: JobCurves,
    succeeded: list[TrialStatus],
    peers: list[str],
    sources: Mapping[str, LogSource],
) -> bool:
    """After a restart (or with this job's curves dropped) read the missing peers' logs,
    a few per reconcile, latest first; only while a trial runs, the only time it matters.
    A peer whose Job or pod is gone has no source: it is skipped. Returns whether every
    peer that can be read has been."""
    job_of = {t.name: t.job_name for t in succeeded}
    missing = [
        n
        for n in reversed(peers)
        if n not in entry.succeeded
        and n not in entry.unreadable
        and n in job_of
        and job_of[n] in sources
    ]
    for trial in missing[:REBUILD_READS]:
        curve = logs.curve(sources[job_of[trial]])
        if curve is None:
            entry.unreadable.add(trial)
        else:
            entry.succeeded[trial] = curve
    return len(missing) <= REBUILD_READS
