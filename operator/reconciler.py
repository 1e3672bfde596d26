"""One reconcile of one TuningJob: read, observe, read finished trials' logs, plan, act.

Blocking (it runs in a worker thread): the kopf handlers call `reconcile` whenever a
TuningJob, one of its Jobs or one of its pods changes, and on a resync timer.

Order of effects, which is what keeps a crash at any point harmless:
1. write the planned status (conditional on the resourceVersion that was read; a
   concurrent change raises `Conflict` and nothing else happens);
2. create the Jobs of recorded trials (deterministic names; AlreadyExists is success);
3. delete the Jobs of stopped trials;
4. post Events (best effort).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubetune.operator import metrics
from kubetune.operator.engine import Event, JobObservation, Plan, plan, warm_start_observations
from kubetune.operator.kube import JobRejectedError, Kube
from kubetune.operator.metric_logs import (
    TAIL_BYTES,
    ObjectiveOutcome,
    compile_metrics,
    objective_outcome,
    scan_log,
)
from kubetune.operator.models import (
    TERMINAL_PHASES,
    TERMINAL_TRIAL_PHASES,
    TuningJobSpec,
    TuningJobStatus,
)
from kubetune.operator.observe import LogSource, observe_jobs
from kubetune.operator.trial_job import build_trial_job, trial_job_name
from kubetune.operator.validation import parse_and_validate_spec

log = logging.getLogger("kubetune.operator")


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
) -> ObjectiveOutcome:
    """The objective of a succeeded trial, read from its log with bounded memory."""
    patterns = compile_metrics([(m.name, m.regex) for m in spec.metrics])
    reading = scan_log(kube.stream_log(namespace, source.pod, source.container), patterns)
    if reading.truncated:
        # Only the head was scanned: the final values are in the tail.
        tail = scan_log(
            kube.stream_log(
                namespace, source.pod, source.container, tail_lines=10_000, limit_bytes=TAIL_BYTES
            ),
            patterns,
        )
        reading.merge_tail(tail)
    return objective_outcome(reading, spec.objective.metric)


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
    if spec is not None and not invalid:
        unfinished = {
            trial_job_name(t.name, t.attempt)
            for t in status.trials
            if t.phase not in TERMINAL_TRIAL_PHASES
        }
        for job_name, source in sources.items():
            if job_name in unfinished:
                with timed("read_log"):
                    observations[job_name] = _with_outcome(
                        observations[job_name], kube, namespace, spec, source
                    )

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
    )
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


def _with_outcome(
    observation: JobObservation,
    kube: Kube,
    namespace: str,
    spec: TuningJobSpec,
    source: LogSource,
) -> JobObservation:
    try:
        outcome = read_outcome(kube, namespace, spec, source)
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
    return replace(observation, outcome=outcome)
