"""One reconcile of one TuningJob: read, observe, read finished trials' logs, plan, act.

Blocking (it runs in a worker thread): the kopf handlers call `reconcile` whenever a
TuningJob, one of its Jobs or one of its pods changes, and on a resync timer.

Order of effects, which is what keeps a crash at any point harmless:
1. write the planned status (conditional on the resourceVersion that was read; a
   concurrent change raises `ConflictError` and nothing else happens);
2. delete the Jobs of stopped trials (early-stopped ones included: the status that says
   EarlyStopped is written first, and a Job of a finished trial that still runs or waits
   is deleted by the next plan if the operator died before deleting it), before
   creating any: the pod of the trial that takes a stopped one's slot then finds its
   GPU and quota free;
3. create the Jobs of recorded trials (deterministic names; AlreadyExists is success);
4. return the Events for the caller to post (best effort, off the critical path).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import (
    TERMINAL_PHASES,
    TERMINAL_TRIAL_PHASES,
    Strategy,
    TrialPhase,
    TuningJobSpec,
    TuningJobStatus,
)
from kubetune.operator.controller import (
    POD_NOT_CREATED,
    Event,
    JobObservation,
    Optimizer,
    Plan,
    Snapshot,
    WarmTrial,
    plan,
    warm_start_trials,
)
from kubetune.operator.controller.plan import jobs_left, jobs_left_noted
from kubetune.operator.kube.api_client import api_error_message
from kubetune.operator.kube.client import JobNotStartedError, JobRejectedError, KubeClient
from kubetune.operator.kube.curves import (
    CURVES,
    last_read_curves,
    running_metrics,
    running_times,
    update_curves,
)
from kubetune.operator.kube.observe import (
    POD_SECURITY_REFUSAL,
    LogSource,
    observe_jobs,
    parse_time,
    refused_pod,
)
from kubetune.operator.kube.telemetry import NO_TELEMETRY, Telemetry
from kubetune.operator.kube.trial_job import build_trial_job
from kubetune.operator.kube.trial_logs import CURVE_READ_SECONDS, LogFollowing, TrialLogs
from kubetune.operator.kube.validation import check_warm_start_parent, parse_and_validate_spec
from kubetune.optimizer import has_converged, suggest, suggest_hyperband
from threadpoolctl import threadpool_limits

log = logging.getLogger("kubetune.operator")

POD_CREATION_GRACE_SECONDS = 10.0
"""How long a trial Job may have no pod before the operator asks the Job controller's
Events why, a request each reconcile: its pod exists within a second on an idle cluster,
within seconds on a busy one (the Job controller's API requests are rate-limited)."""


BLAS_THREADS = 1
"""BLAS threads per GP fit. The operator runs up to `handlers.RECONCILE_THREADS` fits at
once, a local run fits beside its trainers, each fit on a small matrix: a BLAS pool per
fit oversubscribes the cores for no gain (Optuna's GP sampler limits them too,
`optuna/_gp/thread_limiting.py`). A local 259-trial Bayesian run resumed for 90 s on 2
busy cores went 96 trials further with OpenBLAS's default pool, 174 with one thread."""


def limit_blas_threads() -> None:
    """Every GP fit of this process on `BLAS_THREADS` (BLAS pools are per process)."""
    threadpool_limits(limits=BLAS_THREADS, user_api="blas")


LONG_HISTORY = 200
"""Optimizer calls on at least this many trials hold one of `LONG_HISTORY_CALLS` slots."""
LONG_HISTORY_CALLS = 4
"""Optimizer calls on a long history (`LONG_HISTORY` trials or more) that run at once in
this process; the others wait for a slot. Each fits a GP and holds tens of MB at its
peak (the n × n kernel matrix, its factor and their temporaries: 8 MB each at 1,000
observations) and a core for seconds: up to `handlers.RECONCILE_THREADS` of them at once,
as when an operator serving many big TuningJobs starts and reconciles them all, took
hundreds of MB for no speed (the chart gives the operator one core; QA106). Calls on
shorter histories, milliseconds and a few MB, are never held behind them."""
_LONG_HISTORY_SLOTS = threading.BoundedSemaphore(LONG_HISTORY_CALLS)


def may_wait_for_slot(body: Mapping[str, Any]) -> bool:
    """Whether a reconcile of the TuningJob `body` may wait for a slot of
    `LONG_HISTORY_CALLS`: it has `LONG_HISTORY` trials or more, or is warm-started (its
    parents' trials count, and the TuningJob to warm-start from is often a long one). The
    operator runs these reconciles on threads of their own (`handlers.Runtime`)."""
    trials = (body.get("status") or {}).get("trials") or ()
    return len(trials) >= LONG_HISTORY or bool((body.get("spec") or {}).get("warmStart"))


_Call = TypeVar("_Call", bound=Callable[..., Any])


def _slotted(call: _Call) -> _Call:
    """`call`, an optimizer function of (space, history, ...), taking a slot of
    `LONG_HISTORY_CALLS` for a long history."""

    def slotted(space: Any, history: Any, *args: Any, **kwargs: Any) -> Any:
        if len(history) < LONG_HISTORY:
            return call(space, history, *args, **kwargs)
        with _LONG_HISTORY_SLOTS:
            return call(space, history, *args, **kwargs)

    return cast(_Call, slotted)


@dataclass(frozen=True)
class Result:
    """What the caller needs from a reconcile: stop watching? when to look again?"""

    terminal: bool
    gone: bool = False
    requeue_after: float | None = None
    launched: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    """Events to post on `body`: off the reconcile's critical path."""
    body: dict[str, Any] | None = None
    judges_running_trials: bool = False
    """The TuningJob's running trials are judged on the values they print (`TuningJobSpec.
    judges_running_trials`): news of a trial that starts running matters to it."""


class ActingFailedError(Exception):
    """An API call failed after the reconcile wrote its status (the cause). That status
    is what the next reconcile plans from, and it announces nothing it already shows: the
    Events this one owed are here, for the caller to post before handling the cause."""

    def __init__(self, events: tuple[Event, ...], body: dict[str, Any]) -> None:
        super().__init__("an API call failed after the status was written")
        self.events = events
        self.body = body


@dataclass(frozen=True)
class _Read:
    """The TuningJob as read: its object, recorded status, spec and what is wrong with it."""

    namespace: str
    name: str
    body: dict[str, Any]
    old_status: dict[str, Any]
    status: TuningJobStatus
    spec: TuningJobSpec | None
    invalid: list[str]

    @property
    def usable(self) -> bool:
        return self.spec is not None and not self.invalid


def reconcile(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    telemetry: Telemetry = NO_TELEMETRY,
    now: datetime | None = None,
    curve_read_seconds: float = CURVE_READ_SECONDS,
    following: LogFollowing | None = None,
) -> Result:
    """Reconcile one TuningJob once (see the module docstring). Raises `ConflictError`
    when the TuningJob changed under it; other API errors propagate too.
    `curve_read_seconds`: how often a running trial's log is read again (for early
    stopping and Hyperband) where it is not followed; `following` (the operator's
    daemon): follow them instead (`TrialLogs.following`)."""
    with telemetry.api_call("get"):
        body = kube.get_tuning_job(namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        telemetry.forget(namespace, name)
        CURVES.forget(namespace, name)
        return Result(terminal=True, gone=True)
    status_dict: dict[str, Any] = body.get("status") or {}
    spec, invalid = parse_and_validate_spec(body.get("spec") or {})
    read = _Read(
        namespace,
        name,
        body,
        status_dict,
        TuningJobStatus.model_validate(status_dict),
        spec,
        invalid,
    )
    logs = (
        TrialLogs(kube, namespace, spec, telemetry, curve_read_seconds, following) if spec else None
    )
    now = now or datetime.now(UTC)
    snapshot, pod_check_in = _snapshot(kube, namespace, name, read, telemetry, logs, now)
    optimizer = Optimizer(
        suggest=_slotted(_timed_suggest(telemetry)),
        converged=_slotted(has_converged),
        suggest_hyperband=_slotted(suggest_hyperband),
    )
    decided = plan(snapshot, now, optimizer)
    if decided.terminal:
        CURVES.forget(namespace, name)
    _write_status(kube, read, decided.status, telemetry)
    try:
        _delete_jobs(kube, read, decided, telemetry, now)
        launched: list[str] = []
        if read.spec is not None:
            launched, refused = _create_jobs(kube, read, decided, telemetry)
            if refused is not None:
                # The job ends here: its new trials' TrialCreated would be untrue.
                owed = tuple(e for e in decided.events if e.reason != "TrialCreated")
                return _fail_invalid(kube, namespace, name, refused, telemetry, owed)
    except Exception as error:
        if not decided.events:
            raise
        raise ActingFailedError(tuple(decided.events), body) from error
    telemetry.tuning_job(namespace, name, decided.status)
    return Result(
        # An ended job whose status says Jobs were left (`jobs_left`) is looked at once
        # more, after this deletion, to drop the note: its daemon would otherwise end here.
        terminal=decided.terminal and not (decided.delete and jobs_left_noted(decided.status)),
        requeue_after=_earliest(decided.requeue_after, pod_check_in),
        launched=tuple(launched),
        events=tuple(decided.events),
        body=body,
        judges_running_trials=read.spec is not None and read.spec.judges_running_trials,
    )


def _delete_jobs(
    kube: KubeClient, read: _Read, decided: Plan, telemetry: Telemetry, now: datetime
) -> None:
    """Delete the planned Jobs. A refusal (HTTP 403: RBAC lacks `delete` on jobs, or a
    policy forbids it) is written in the status before it propagates (`jobs_left`): the
    Jobs, which may still run and hold GPUs, are to be seen there, not only in an
    Event; the reconcile is retried with backoff until they are deleted. Only Jobs this
    TuningJob owns are deleted (`KubeClient.delete_job`): the plan names unfinished
    trials' Jobs it has not seen, and a Job of such a name may be someone else's."""
    uid = read.body["metadata"]["uid"]
    for index, job_name in enumerate(decided.delete):
        try:
            kube.delete_job(read.namespace, job_name, uid)
        except ApiException as error:
            if error.status != 403:
                raise
            left = decided.delete[index:]
            noted = jobs_left(decided.status, left, read.namespace, api_error_message(error), now)
            if noted != decided.status:
                _write_status(kube, read, noted, telemetry)
            raise


def _timed_suggest(telemetry: Telemetry) -> Any:
    """The optimizer's `suggest`, reporting how long each successful call took."""

    def timed(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        started = time.perf_counter()
        suggestions = suggest(*args, **kwargs)
        telemetry.suggestion(str(kwargs.get("strategy")), time.perf_counter() - started)
        return suggestions

    return timed


def _snapshot(
    kube: KubeClient,
    namespace: str,
    name: str,
    read: _Read,
    telemetry: Telemetry,
    logs: TrialLogs | None,
    now: datetime,
) -> tuple[Snapshot, float | None]:
    """What the planner needs: the trial Jobs as observations (succeeded ones with their
    objective read from the log), the curves for early stopping, the warm start. And in
    how many seconds to look again at a Job's pod: to ask why a Job has none, or to fail
    a trial whose image pull is retried (None: no such Job)."""
    meta = read.body["metadata"]
    with telemetry.api_call("list_jobs"):
        jobs = kube.list_trial_jobs(namespace, name)
    with telemetry.api_call("list_pods"):
        pods = kube.list_trial_pods(namespace, name)
    container = read.spec.trial_template.primary_container_name() if read.spec else None
    observations, sources = observe_jobs(jobs, pods, container, owner_uid=meta["uid"], now=now)
    forbidden: list[str] = []
    pod_check_in = _pull_check_in(observations, now)
    if read.status.phase not in TERMINAL_PHASES:  # an ended job's refusals change nothing
        # A trial that ran had its pod: a Job of it without one lost it (deleted), and a
        # FailedCreate Event left from its start is not why (`observe_trials._pod_gone`).
        ran = {t.job_name for t in read.status.trials if t.phase is TrialPhase.RUNNING}
        forbidden, refusal_check_in = _pod_refusals(
            kube,
            namespace,
            [job for job in jobs if job["metadata"]["name"] not in ran],
            observations,
            now,
            telemetry,
            _slot_frees(read, observations),
        )
        pod_check_in = _earliest(pod_check_in, refusal_check_in)
    curves, curve_times, metrics = None, None, None
    if logs is not None and read.usable:
        curves, curve_times, metrics = _read_trial_logs(logs, name, read, observations, sources)
    else:
        CURVES.forget(namespace, name)
    warm_start, mismatched_parents = _warm_start(kube, namespace, read, telemetry)
    return Snapshot(
        name=name,
        uid=meta["uid"],
        generation=meta.get("generation"),
        spec=read.spec,
        invalid=[*read.invalid, *mismatched_parents, *forbidden],
        status=read.status,
        jobs=observations,
        warm_start=warm_start,
        curves=curves,
        curve_times=curve_times,
        running_metrics=metrics,
        start_anew=kube.start_anew,
    ), pod_check_in


def _pull_check_in(observations: dict[str, JobObservation], now: datetime) -> float | None:
    """In how many seconds time alone fails a trial whose image pull is retried (its
    observation's `wait_until`), the earliest; None: no such trial."""
    return _earliest(
        *((o.wait_until - now).total_seconds() for o in observations.values() if o.wait_until)
    )


def _earliest(*seconds: float | None) -> float | None:
    return min((s for s in seconds if s is not None), default=None)


def _slot_frees(read: _Read, observations: dict[str, JobObservation]) -> bool:
    """Whether a trial ends in this reconcile (its Job ended, its trial is unfinished in
    the status), so that a new one may be launched in its slot."""
    unfinished = {t.job_name for t in read.status.trials if t.phase not in TERMINAL_TRIAL_PHASES}
    return any(
        observation.state in ("Succeeded", "Failed")
        for job, observation in observations.items()
        if job in unfinished
    )


def _pod_refusals(
    kube: KubeClient,
    namespace: str,
    jobs: list[dict[str, Any]],
    observations: dict[str, JobObservation],
    now: datetime,
    telemetry: Telemetry,
    slot_frees: bool,
) -> tuple[list[str], float | None]:
    """Ask the Job controller's Events why trial Jobs have had no pod for a while, and
    put the answer in their observations: the trial waits, saying why (a quota or a
    LimitRange may let its pod in later). A refusal by the namespace's Pod Security
    level would meet every trial of the template: it makes the spec invalid, and its
    message is returned for `Snapshot.invalid`. Also: in how many seconds a Job still in
    its grace period is to be asked about (None: none is). When a slot frees
    (`slot_frees`), every Job without a pod is asked about at once, grace or not: a
    new trial launched in that slot would otherwise take the room a quota frees before
    the refused one's (`criteria.free_slots` holds launches only for a refusal known)."""
    by_security: dict[str, list[str]] = {}  # Pod Security's refusal -> the Jobs it refused
    check_in: float | None = None
    for job in jobs:
        meta = job["metadata"]
        observation = observations.get(meta["name"])
        created = parse_time(meta.get("creationTimestamp"))
        if observation is None or observation.reason != POD_NOT_CREATED or created is None:
            continue
        age = (now - created).total_seconds()
        if age < POD_CREATION_GRACE_SECONDS and not slot_frees:
            wait = POD_CREATION_GRACE_SECONDS - age
            check_in = wait if check_in is None else min(check_in, wait)
            continue
        with telemetry.api_call("list_events"):
            refusal = kube.pod_creation_refusal(namespace, meta["uid"])
        if refusal is None:
            continue
        observations[meta["name"]] = refused_pod(observation, refusal)
        if POD_SECURITY_REFUSAL in refusal:
            by_security.setdefault(refusal, []).append(meta["name"])
    return [_pod_security_problem(r, names) for r, names in by_security.items()], check_in


def _pod_security_problem(refusal: str, job_names: list[str]) -> str:
    """The invalid template's message: the refusal once, naming the Jobs it refused."""
    hint = (
        " (the restricted level needs runAsNonRoot: true in the securityContext, and "
        "runAsUser for an image that runs as root)"
        if "runAsNonRoot" in refusal
        else ""
    )
    pods = "pod of trial Job" if len(job_names) == 1 else "pods of trial Jobs"
    return (
        f"spec.trialTemplate.job: the namespace's Pod Security level refuses the {pods} "
        f"{', '.join(job_names)}: {refusal}; change what it names in the template{hint} in a "
        "new TuningJob, or run it in a namespace whose pod-security.kubernetes.io/enforce "
        "level allows it"
    )


def _read_trial_logs(
    logs: TrialLogs,
    name: str,
    read: _Read,
    observations: dict[str, JobObservation],
    sources: dict[str, LogSource],
) -> tuple[
    dict[str, array[float]] | None,
    dict[str, array[int]] | None,
    dict[str, dict[str, float]] | None,
]:
    """Read the objectives of trials that just succeeded into `observations` (not those
    already recorded); return the curves early stopping and Hyperband need (None without
    either), with those last read of attempts that just failed (their epochs count), when
    the values of the running and just succeeded trials' curves were printed, where the
    logs say (`Snapshot.curve_times`), and the other metrics' last values read with the
    running ones' (`Snapshot.running_metrics`)."""
    unfinished = {
        t.job_name: t.name for t in read.status.trials if t.phase not in TERMINAL_TRIAL_PHASES
    }
    just_succeeded: dict[str, array[float]] = {}  # trial name -> curve
    times: dict[str, array[int]] = {}  # trial name -> when its curve's values were printed
    for job_name, source in sources.items():
        if job_name in unfinished and observations[job_name].state == "Succeeded":
            observation, curve, printed = logs.with_outcome(observations[job_name], source)
            observations[job_name] = observation
            if observation.outcome is not None and observation.outcome.value is not None:
                just_succeeded[unfinished[job_name]] = curve
                times[unfinished[job_name]] = printed
    if not logs.spec.judges_running_trials or read.status.phase in TERMINAL_PHASES:
        CURVES.forget(logs.namespace, name)
        return None, None, None
    running = {
        job_name: unfinished[job_name]
        for job_name in sources
        if job_name in unfinished and observations[job_name].state == "Running"
    }
    entry = CURVES.get(logs.namespace, name, read.body["metadata"]["uid"])
    failed = {
        job_name: trial
        for job_name, trial in unfinished.items()
        if job_name in observations and observations[job_name].state == "Failed"
    }
    just_failed = last_read_curves(entry, failed)
    curves = just_failed | update_curves(
        logs,
        entry,
        status=read.status,
        sources=sources,
        just_succeeded=just_succeeded,
        running=running,
        judged_on_peers=logs.spec.strategy is not Strategy.HYPERBAND,
    )
    return curves, times | running_times(entry, running), running_metrics(entry, running)


def _warm_start(
    kube: KubeClient, namespace: str, read: _Read, telemetry: Telemetry
) -> tuple[list[WarmTrial], list[str]]:
    """The trials of `spec.warmStart.parents` this job takes (read only while the job can
    launch; at its levels: `warm_start_trials`), and why the parents that do not match
    this job cannot warm-start it."""
    spec = read.spec
    if spec is None or spec.warm_start is None or read.status.phase in TERMINAL_PHASES:
        return [], []
    parents, mismatches = [], []
    for parent in spec.warm_start.parents:
        where = f"spec.warmStart.parents: parent {parent!r}"
        if parent == read.name:
            mismatches.append(f"{where} is this TuningJob itself; name earlier TuningJobs")
            continue
        with telemetry.api_call("get"):
            body = kube.get_tuning_job(namespace, parent)
        if body is None and not read.status.trials:
            # Before the first trial a missing parent is a mistake in the name (local
            # mode refuses it too); later it was deleted, and the job goes on without it.
            mismatches.append(
                f"{where}: no TuningJob {namespace}/{parent}; fix the name or remove it"
            )
            continue
        if body is None:
            log.warning("warm start parent %s/%s does not exist; ignored", namespace, parent)
            continue
        mismatch = check_warm_start_parent(spec, parent, body.get("spec") or {})
        if mismatch is not None:
            mismatches.append(mismatch)
            continue
        # Its spec parsed (check_warm_start_parent): its levels say what its values mean.
        parents.append(
            (
                TuningJobSpec.from_api(body.get("spec") or {}),
                TuningJobStatus.model_validate(body.get("status") or {}),
            )
        )
    return warm_start_trials(spec, parents), mismatches


def status_patch(old: dict[str, Any], new: TuningJobStatus) -> dict[str, Any]:
    """The merge patch that turns `old` into `new` (keys `new` drops become null)."""
    patch: dict[str, Any] = dict(new.to_api())
    for key in old:
        if key not in patch:
            patch[key] = None
    return patch


def _write_status(
    kube: KubeClient, read: _Read, status: TuningJobStatus, telemetry: Telemetry
) -> None:
    """Write the planned status if it changed (record before you act)."""
    patch = status_patch(read.old_status, status)
    if patch == read.old_status:
        return
    meta = read.body["metadata"]
    with telemetry.api_call("patch_status"):
        updated = kube.patch_status(read.namespace, read.name, meta["resourceVersion"], patch)
    read.body["metadata"] = updated.get("metadata", meta)


@dataclass(frozen=True)
class _Refused:
    """A trial Job the API server would not create, and why."""

    job_name: str
    message: str
    taken: bool
    """The name is another's Job: never to be deleted as if it were the trial's."""


_UNKNOWN_FIELD = re.compile(r'unknown field "spec\.([^"]+)"')
"""A field of the Job's spec the API server's strict decoding does not know (the trial
Job's `spec` is `spec.trialTemplate.job`)."""


def job_refused_message(job_name: str, refusal: str) -> str:
    """The TuningJob's message for a trial Job the API server refused (`refusal`, its
    message). An unknown field, a misspelling the open trial template let through
    admission, is named by its path in the TuningJob, with where to look up the right
    name."""
    unknown = _UNKNOWN_FIELD.findall(refusal)
    if not unknown:
        return (
            f"spec.trialTemplate.job: the API server refused trial Job {job_name}: {refusal}; "
            "fix the template in a new TuningJob"
        )
    refused = f", refused when trial Job {job_name} was created ({refusal})"
    return unknown_fields_message(unknown, refused, " in a new TuningJob")


def unknown_fields_message(unknown: list[str], refused: str = "", then: str = "") -> str:
    """The message for the `unknown` fields of a trial Job (paths below the Job's `spec.`,
    as the API server's strict decoding names them): named by their path in the
    TuningJob, with where to look up the right name; `refused` says when, `then` where
    to fix them."""
    fields = ", ".join(f"spec.trialTemplate.job.{field}" for field in unknown)
    parent = re.sub(r"\[[0-9]+\]", "", unknown[0]).rpartition(".")[0]
    explain = f"job.spec.{parent}" if parent else "job.spec"
    return (
        f"{fields}: unknown field{'s' if len(unknown) > 1 else ''} of a Job{refused}; fix the "
        f"spelling or remove it (kubectl explain {explain} lists the fields there){then}"
    )


def _create_jobs(
    kube: KubeClient, read: _Read, decided: Plan, telemetry: Telemetry
) -> tuple[list[str], _Refused | None]:
    """Create the planned trial Jobs. Returns the Jobs created, and the one the API
    server refused, if it did (then the template is invalid: every trial would be
    refused the same way, the template being immutable)."""
    assert read.spec is not None
    meta = read.body["metadata"]
    launched: list[str] = []
    for launch in decided.launch:
        manifest = build_trial_job(
            tuning_job_name=read.name,
            tuning_job_uid=meta["uid"],
            spec=read.spec,
            trial=launch.trial,
            hyperparameters=launch.hyperparameters,
            attempt=launch.attempt,
        )
        try:
            with telemetry.api_call("create_job"):
                created = kube.create_job(read.namespace, manifest)
        except JobNotStartedError as error:
            return launched, _Refused(launch.job_name, str(error), taken=True)
        except JobRejectedError as error:
            message = job_refused_message(launch.job_name, str(error))
            return launched, _Refused(launch.job_name, message, taken=False)
        if created:
            launched.append(launch.job_name)
    return launched, None


def _fail_invalid(
    kube: KubeClient,
    namespace: str,
    name: str,
    refused: _Refused,
    telemetry: Telemetry,
    owed: tuple[Event, ...],
) -> Result:
    """Record an invalid spec found only when acting (phase Failed, condition Invalid),
    and stop the trials that run or wait: the job is over. `owed`: the Events of the
    status written before (a trial that completed, one created)."""
    body = kube.get_tuning_job(namespace, name)
    if body is None:
        return Result(terminal=True, gone=True)
    meta = body["metadata"]
    old_status: dict[str, Any] = body.get("status") or {}
    now = datetime.now(UTC)
    jobs, _ = observe_jobs(
        kube.list_trial_jobs(namespace, name),
        kube.list_trial_pods(namespace, name),
        None,
        owner_uid=meta["uid"],
        now=now,
    )
    decided = plan(
        Snapshot(
            name=name,
            uid=meta["uid"],
            generation=meta.get("generation"),
            spec=None,
            invalid=[refused.message],
            status=TuningJobStatus.model_validate(old_status),
            jobs=jobs,
        ),
        now,
    )
    kube.patch_status(
        namespace, name, meta["resourceVersion"], status_patch(old_status, decided.status)
    )
    for job_name in decided.delete:
        if not (refused.taken and job_name == refused.job_name):
            kube.delete_job(namespace, job_name, meta["uid"])
    telemetry.tuning_job(namespace, name, decided.status)
    return Result(terminal=True, events=(*owed, *decided.events), body=body)
