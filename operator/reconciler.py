"""One reconcile of one TuningJob: read, observe, read finished trials' logs, plan, act.

Blocking (it runs in a worker thread): the kopf handlers call `reconcile` whenever a
TuningJob, one of its Jobs or one of its pods changes, and on a resync timer.

Order of effects, which is what keeps a crash at any point harmless:
1. write the planned status (conditional on the resourceVersion that was read; a
   concurrent change raises `Conflict` and nothing else happens);
2. create the Jobs of recorded trials (deterministic names; AlreadyExists is success);
3. delete the Jobs of stopped trials (early-stopped ones included: the status that says
   EarlyStopped is written first, and a Job of a finished trial that still runs is
   deleted by the next plan if the operator died before deleting it);
4. post Events (best effort).

Early stopping needs the trials' intermediate objective values ("curves"): running
trials' logs are re-read every few seconds (from their start, bounded), and the curves of
succeeded trials are kept in this process's memory (`CURVES`), never in the status,
which must stay small at 1,000 trials. After a restart they are read again, a few logs
per reconcile, from the succeeded trials whose pods still exist.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException
from kubetune.operator import metrics
from kubetune.operator.engine import Event, JobObservation, Plan, plan, warm_start_observations
from kubetune.operator.kube import JobRejectedError, Kube
from kubetune.operator.metric_logs import (
    TAIL_BYTES,
    ObjectiveOutcome,
    compile_metric_regex,
    compile_metrics,
    objective_outcome,
    scan_log,
    scan_series,
)
from kubetune.operator.models import (
    TERMINAL_PHASES,
    TERMINAL_TRIAL_PHASES,
    EarlyStopping,
    TrialPhase,
    TuningJobSpec,
    TuningJobStatus,
)
from kubetune.operator.observe import LogSource, observe_jobs
from kubetune.operator.trial_job import build_trial_job, trial_job_name
from kubetune.operator.validation import parse_and_validate_spec

log = logging.getLogger("kubetune.operator")

CURVE_SCAN_BYTES = 16 * 1024 * 1024
"""At most this much of the start of a log is read for a curve (a running trial's log is
read again every few seconds); later values of a longer log are not judged."""
CURVE_READ_SECONDS = 2.5
"""A running trial's log is read at most this often; reconciles in between judge it on
the values read last. Half of engine.EARLY_STOPPING_CHECK_SECONDS, so that each periodic
check sees fresh values."""
MAX_PEER_CURVES = 200
"""Curves of succeeded trials kept per TuningJob, those of the latest finished: the
median of 200 is a steady bar, and 200 x 8 KB (metric_logs.MAX_SERIES_STEPS) bounds one
job's memory."""
MAX_CACHED_JOBS = 64
"""TuningJobs whose curves are kept; the least recently reconciled are dropped first (and
their curves read again from the logs if they need them)."""
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
    running: dict[str, tuple[float, array[float]]] = field(default_factory=dict)
    """By Job name: when (time.monotonic) the running trial's curve was read, and it."""


class CurveCache:
    """`JobCurves` per TuningJob, for at most `max_jobs` of them (thread-safe: reconciles
    of different TuningJobs run in parallel threads; one TuningJob's never do)."""

    def __init__(self, max_jobs: int = MAX_CACHED_JOBS) -> None:
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[tuple[str, str], JobCurves] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, namespace: str, name: str, uid: str) -> JobCurves:
        """The TuningJob's curves (empty for a new one, or one recreated under its name)."""
        key = (namespace, name)
        with self._lock:
            entry = self._jobs.get(key)
            if entry is None or entry.uid != uid:
                entry = self._jobs[key] = JobCurves(uid)
            self._jobs.move_to_end(key)
            while len(self._jobs) > self._max_jobs:
                self._jobs.popitem(last=False)
            return entry

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._jobs.pop((namespace, name), None)

    def __len__(self) -> int:
        return len(self._jobs)


CURVES = CurveCache()


@dataclass(frozen=True)
class Result:
    """What the caller needs from a reconcile: stop watching? when to look again?"""

    terminal: bool
    gone: bool = False
    requeue_after: float | None = None
    launched: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    """Events to post on `body` (see `post_events`): off the reconcile's critical path."""
    body: dict[str, Any] | None = None


def post_events(kube: Kube, body: dict[str, Any], events: tuple[Event, ...]) -> None:
    """Post Events on a TuningJob, best effort: an Event is informational, and a failure
    to post one is logged, never retried."""
    meta = body["metadata"]
    for event in events:
        try:
            with timed("post_event"):
                kube.post_event(body, event.type, event.reason, event.message)
        except Exception as error:
            log.warning(
                "could not post Event %s on %s/%s: %s",
                event.reason,
                meta.get("namespace"),
                meta.get("name"),
                error,
            )


@contextlib.contextmanager
def timed(call: str) -> Iterator[None]:
    """Observe the duration of one API call in `kubetune_api_request_duration_seconds`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.API_SECONDS.labels(call).observe(time.perf_counter() - started)


def read_outcome(
    kube: Kube, namespace: str, spec: TuningJobSpec, source: LogSource
) -> tuple[ObjectiveOutcome, array[float]]:
    """The objective of a succeeded trial and its curve (the objective's values in order),
    read from its log with bounded memory."""
    patterns = compile_metrics([(m.name, m.regex) for m in spec.metrics])
    reading = scan_log(
        kube.stream_log(namespace, source.pod, source.container),
        patterns,
        series_metric=spec.objective.metric,
    )
    if reading.truncated:
        # Only the head was scanned: the final values are in the tail.
        tail = scan_log(
            kube.stream_log(
                namespace, source.pod, source.container, tail_lines=10_000, limit_bytes=TAIL_BYTES
            ),
            patterns,
        )
        reading.merge_tail(tail)
    return objective_outcome(reading, spec.objective.metric), reading.series


def read_curve(
    kube: Kube, namespace: str, spec: TuningJobSpec, source: LogSource
) -> array[float] | None:
    """A trial's curve from the start of its log (bounded by `CURVE_SCAN_BYTES`); None
    when the log cannot be read. Curves only inform early stopping, so a failed read is
    logged and skipped rather than failing the reconcile."""
    pattern = compile_metric_regex(spec.objective_metric().regex)
    try:
        with timed("read_curve"):
            chunks = kube.stream_log(
                namespace, source.pod, source.container, limit_bytes=CURVE_SCAN_BYTES
            )
            return scan_series(chunks, pattern, max_scan_bytes=CURVE_SCAN_BYTES)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        log.info("could not read the log of pod %s/%s: %s", namespace, source.pod, error)
        return None


def _status_patch(old: dict[str, Any], new: TuningJobStatus) -> dict[str, Any]:
    """The merge patch that turns `old` into `new` (keys `new` drops become null)."""
    patch: dict[str, Any] = dict(new.to_api())
    for key in old:
        if key not in patch:
            patch[key] = None
    return patch


def reconcile(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    now: datetime | None = None,
) -> Result:
    """Reconcile one TuningJob once (see the module docstring). Raises `kube.ConflictError`
    when the TuningJob changed under it; other API errors propagate too."""
    with timed("get"):
        body = kube.get_tuning_job(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        metrics.forget(namespace, name)
        CURVES.forget(namespace, name)
        return Result(terminal=True, gone=True)
    meta = body["metadata"]
    old_status: dict[str, Any] = body.get("status") or {}
    status = TuningJobStatus.model_validate(old_status)
    spec, invalid = parse_and_validate_spec(body.get("spec") or {})

    with timed("list_jobs"):
        jobs = kube.list_trial_jobs(namespace, name)
    with timed("list_pods"):
        pods = kube.list_trial_pods(namespace, name)
    container = spec.trial_template.primary_container_name() if spec else None
    observations, sources = observe_jobs(jobs, pods, container, owner_uid=meta["uid"])

    # Read the logs of trials that just succeeded (not those already recorded).
    just_succeeded: dict[str, array[float]] = {}  # trial name -> curve
    unfinished = {
        trial_job_name(t.name, t.attempt): t.name
        for t in status.trials
        if t.phase not in TERMINAL_TRIAL_PHASES
    }
    if spec is not None and not invalid:
        for job_name, source in sources.items():
            if job_name in unfinished and observations[job_name].state == "Succeeded":
                with timed("read_log"):
                    observation, curve = _with_outcome(
                        observations[job_name], kube, namespace, spec, source
                    )
                observations[job_name] = observation
                if observation.outcome is not None and observation.outcome.value is not None:
                    just_succeeded[unfinished[job_name]] = curve

    curves = None
    if (
        spec is not None
        and not invalid
        and spec.early_stopping is EarlyStopping.AUTO
        and status.phase not in TERMINAL_PHASES
    ):
        running = {
            job_name: unfinished[job_name]
            for job_name in sources
            if job_name in unfinished and observations[job_name].state == "Running"
        }
        curves = _curves(
            kube,
            namespace,
            spec,
            CURVES.get(namespace, name, meta["uid"]),
            status=status,
            sources=sources,
            just_succeeded=just_succeeded,
            running=running,
        )
    else:
        CURVES.forget(namespace, name)

    decided: Plan = plan(
        name=name,
        uid=meta["uid"],
        generation=meta.get("generation"),
        spec=spec,
        invalid=invalid,
        status=status,
        jobs=observations,
        now=now or datetime.now(UTC),
        warm_start=_warm_start(kube, namespace, spec, status),
        curves=curves,
    )
    if decided.terminal:
        CURVES.forget(namespace, name)
    if decided.suggestion_seconds is not None and spec is not None:
        metrics.SUGGESTION_SECONDS.labels(spec.strategy.value).observe(decided.suggestion_seconds)

    patch = _status_patch(old_status, decided.status)
    if patch != old_status:
        with timed("patch_status"):
            updated = kube.patch_status(namespace, name, meta["resourceVersion"], patch)
        body["metadata"] = updated.get("metadata", meta)

    launched = []
    if spec is not None:
        for launch in decided.launch:
            manifest = build_trial_job(
                tuning_job_name=name,
                tuning_job_uid=meta["uid"],
                spec=spec,
                trial=launch.trial,
                hyperparameters=launch.hyperparameters,
                attempt=launch.attempt,
            )
            try:
                with timed("create_job"):
                    created = kube.create_job(namespace, manifest)
                if created:
                    launched.append(launch.job_name)
            except JobRejectedError as error:
                # The template makes Jobs the API server refuses: every trial would be
                # refused the same way (the template is immutable), so the job is invalid.
                return _fail_invalid(
                    kube,
                    namespace,
                    name,
                    f"spec.trialTemplate.job: the API server refused trial Job "
                    f"{launch.job_name}: {error}; fix the template in a new TuningJob",
                )
    for job_name in decided.delete:
        kube.delete_job(namespace, job_name)
    metrics.record_status(namespace, name, decided.status)
    return Result(
        terminal=decided.terminal,
        requeue_after=decided.requeue_after,
        launched=tuple(launched),
        events=tuple(decided.events),
        body=body,
    )


def _warm_start(
    kube: Kube, namespace: str, spec: TuningJobSpec | None, status: TuningJobStatus
) -> list[tuple[dict[str, Any], float]]:
    """Observations from `spec.warmStart.parents` (read only while the job can launch)."""
    if spec is None or spec.warm_start is None or status.phase in TERMINAL_PHASES:
        return []
    parents = []
    for parent in spec.warm_start.parents:
        with timed("get"):
            body = kube.get_tuning_job(namespace, parent)
        if body is None:
            log.warning("warm start parent %s/%s does not exist; ignored", namespace, parent)
            continue
        parents.append(TuningJobStatus.model_validate(body.get("status") or {}))
    return warm_start_observations(spec, parents)


def _fail_invalid(kube: Kube, namespace: str, name: str, message: str) -> Result:
    """Record an invalid spec found only when acting (phase Failed, condition Invalid)."""
    body = kube.get_tuning_job(namespace, name)
    if body is None:
        return Result(terminal=True, gone=True)
    meta = body["metadata"]
    old_status: dict[str, Any] = body.get("status") or {}
    decided = plan(
        name=name,
        uid=meta["uid"],
        generation=meta.get("generation"),
        spec=None,
        invalid=[message],
        status=TuningJobStatus.model_validate(old_status),
        jobs={},
        now=datetime.now(UTC),
    )
    kube.patch_status(
        namespace, name, meta["resourceVersion"], _status_patch(old_status, decided.status)
    )
    metrics.record_status(namespace, name, decided.status)
    return Result(terminal=True, events=tuple(decided.events), body=body)


def _curves(
    kube: Kube,
    namespace: str,
    spec: TuningJobSpec,
    entry: JobCurves,
    *,
    status: TuningJobStatus,
    sources: Mapping[str, LogSource],
    just_succeeded: Mapping[str, array[float]],
    running: Mapping[str, str],
) -> dict[str, array[float]]:
    """The curves the engine's early stopping rule needs, by trial name: the running
    trials' (`running`: Job name -> trial name), read at most every
    `CURVE_READ_SECONDS`, and the succeeded trials' from `entry`, kept up to date."""
    # Peers: the latest MAX_PEER_CURVES succeeded trials (those that just succeeded last).
    succeeded = sorted(
        (t for t in status.trials if t.phase is TrialPhase.SUCCEEDED),
        key=lambda t: (t.end_time is None, t.end_time or datetime.min.replace(tzinfo=UTC)),
    )
    peers = [t.name for t in succeeded] + list(just_succeeded)
    peers = peers[-MAX_PEER_CURVES:]
    keep = set(peers)
    entry.succeeded.update((n, c) for n, c in just_succeeded.items() if n in keep)
    for trial in [n for n in entry.succeeded if n not in keep]:
        del entry.succeeded[trial]
    entry.unreadable &= keep
    for job_name in [j for j in entry.running if j not in running]:
        del entry.running[job_name]

    now = time.monotonic()
    out: dict[str, array[float]] = {}
    for job_name, trial in running.items():
        seen = entry.running.get(job_name)
        if seen is None or now - seen[0] >= CURVE_READ_SECONDS:
            curve = read_curve(kube, namespace, spec, sources[job_name])
            if curve is not None:
                seen = entry.running[job_name] = (now, curve)
        if seen is not None:
            out[trial] = seen[1]

    # After a restart (or with this job's curves dropped) read the missing peers' logs, a
    # few per reconcile, latest first; only while a trial runs, the only time it matters.
    # A peer whose Job or pod is gone has no source: it is skipped.
    if running:
        by_name = {t.name: t for t in succeeded}
        missing = [
            n
            for n in reversed(peers)
            if n not in entry.succeeded
            and n not in entry.unreadable
            and n in by_name
            and trial_job_name(n, by_name[n].attempt) in sources
        ]
        for trial in missing[:REBUILD_READS]:
            curve = read_curve(
                kube, namespace, spec, sources[trial_job_name(trial, by_name[trial].attempt)]
            )
            if curve is None:
                entry.unreadable.add(trial)
            else:
                entry.succeeded[trial] = curve
    out.update(entry.succeeded)
    return out


def _with_outcome(
    observation: JobObservation,
    kube: Kube,
    namespace: str,
    spec: TuningJobSpec,
    source: LogSource,
) -> tuple[JobObservation, array[float]]:
    curve: array[float] = array("d")
    try:
        outcome, curve = read_outcome(kube, namespace, spec, source)
    except ApiException as error:
        if error.status not in (400, 404):
            raise  # transient (the API server, the node): the reconcile is retried
        # The pod or its log is gone for good: say so in the trial.
        outcome = ObjectiveOutcome(
            None,
            0,
            "LogUnavailable",
            f"the log of pod {source.pod} could not be read (HTTP {error.status})",
        )
    return replace(observation, outcome=outcome), curve
