"""What the cluster shows about trial Jobs: pure functions from Job and pod objects.

`observe_jobs` turns the Jobs and pods of one TuningJob (as plain dicts, the API's JSON)
into one `JobObservation` per Job for the engine, and says which pod's log holds the
metrics of each Job that succeeded or is running (a running trial's log holds its
intermediate values so far, for early stopping). A trial counts as finished as soon as its only pod
has terminated (Succeeded, or Failed with `backoffLimit: 0`), without waiting for the Job
controller's condition, which can trail the pod by a second or more. One whose pod
cannot get its image fails at once where the image cannot be had (a name that does not
exist, no access), and otherwise once the kubelet has retried the pull for
`IMAGE_PULL_RETRY` (a registry's hiccup).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kubetune.operator.api.status import REASON_PATTERN
from kubetune.operator.controller import (
    POD_NOT_CREATED,
    POD_REFUSED,
    WAITING_FOR_A_NODE,
    WAITING_FOR_ITS_IMAGE,
    WAITING_FOR_ITS_POD,
    WAITING_FOR_ITS_VOLUME,
    JobObservation,
)

IMAGE_PULL_RETRY = timedelta(minutes=5)
"""How long a trial's pod may go on failing to pull its image for a reason that may pass
(a registry's rate limit or 5xx, a timeout, a refused connection, a failed TLS
handshake) before its trial fails: the kubelet pulls again after 10, 20, 40, 80 and 160 s
of back-off, so a registry hiccup gets five more tries, while a trial whose registry
stays away gives its slot back (and, with `spec.retry`, its next attempt a new pod)
within minutes. Counted from when the pod was bound to its node (else created): a time
the API server holds, so a restarted operator takes the same decision."""
_RETRY_TEXT = f"{int(IMAGE_PULL_RETRY.total_seconds()) // 60} min"
UNPULLABLE_IMAGE_REASONS = frozenset(
    {"InvalidImageName", "ErrImageNeverPull", "SignatureValidationFailed"}
)
"""The kubelet's reasons for an image the pod can never have as it names it: its trial
fails at once, as an infrastructure failure (retryable, on another node)."""
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"})
"""The kubelet's reasons for a pull that failed, which it tries again with a back-off:
the trial fails at once where the message says the image is not there or not to be had
(`_IMAGE_UNAVAILABLE`), otherwise after `IMAGE_PULL_RETRY`. A kubelet before v1.30 says
only `Back-off pulling image "..."` while it backs off: such a message waits too."""
IMAGE_WAITING_REASONS = UNPULLABLE_IMAGE_REASONS | IMAGE_PULL_REASONS
_IMAGE_UNAVAILABLE = re.compile(
    r"not found|manifest unknown|repository does not exist|pull access denied|unauthorized"
    r"|authentication required|\bdenied\b|no such host",
    re.IGNORECASE,
)
"""What a registry (through containerd or CRI-O) says of an image it does not have, or
does not give with the pod's credentials, and DNS of a registry host that does not
exist: no pull again would change it."""
_QUOTED = re.compile(r'"[^"]*"')
"""The image references the kubelet and the runtime quote: an image named `.../denied:1`
says nothing of why its pull failed."""
STARTING_REASONS = ("ContainerCreating", "PodInitializing")
"""Why a container waits while it starts as it should: nothing to report."""
POD_SECURITY_REFUSAL = "violates PodSecurity"
"""How Pod Security Admission's refusal of a pod reads: the namespace's level, which
every trial of the template meets in turn (a quota or a LimitRange may let it in later)."""
_REFUSED_POD = re.compile(r'^pods "[^"]*" is forbidden: ')
TRIAL_REASON = re.compile(REASON_PATTERN)
SUCCEEDED_JOB_CONDITIONS = ("Complete", "SuccessCriteriaMet")
FAILED_JOB_CONDITIONS = ("Failed", "FailureTarget")
DEFAULT_BACKOFF_LIMIT = 6
"""The API server's `backoffLimit` for a Job that sets none."""


@dataclass(frozen=True)
class LogSource:
    """Where a trial's metrics are: a pod and its primary container."""

    pod: str
    container: str


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _true_condition(obj: Mapping[str, Any], *types: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") in types and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def _container_status(pod: Mapping[str, Any], container: str | None) -> Mapping[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if container is None or status.get("name") == container:
            return status  # type: ignore[no-any-return]
    return statuses[0] if statuses else {}


def _terminated(pod: Mapping[str, Any], container: str | None) -> Mapping[str, Any]:
    return (_container_status(pod, container).get("state") or {}).get("terminated") or {}


def job_finished(job: Mapping[str, Any]) -> bool:
    """Whether the Job controller has marked the Job finished, succeeded or failed."""
    return _true_condition(job, *SUCCEEDED_JOB_CONDITIONS, *FAILED_JOB_CONDITIONS) is not None


def pod_stuck(pod: Mapping[str, Any]) -> bool:
    """Whether a container of the pod cannot get its image: its trial fails at once, or
    waits saying so until `IMAGE_PULL_RETRY` has passed (`image_pull_failure`)."""
    return image_pull_failure(pod) is not None


@dataclass(frozen=True)
class PullFailure:
    """Why a pod's container cannot get its image: the kubelet's reason and message, and
    until when its pull is worth trying again (None: never)."""

    reason: str
    message: str
    retry_until: datetime | None


def image_pull_failure(pod: Mapping[str, Any]) -> PullFailure | None:
    """Why a container of the pod (an init container's included) waits for its image, if
    one does: one that can never be had first, else the first that may yet be pulled."""
    status = pod.get("status") or {}
    failures = []
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason not in IMAGE_WAITING_REASONS:
            continue
        message = str(waiting.get("message") or reason)
        if reason in UNPULLABLE_IMAGE_REASONS or _IMAGE_UNAVAILABLE.search(
            _QUOTED.sub('""', message)
        ):
            return PullFailure(reason, message, None)
        failures.append(PullFailure(reason, message, _bound(pod) + IMAGE_PULL_RETRY))
    return failures[0] if failures else None


def _bound(pod: Mapping[str, Any]) -> datetime:
    """When the pod was bound to its node, where the kubelet started pulling (else when
    it was created; a pod without either, which the API server never sends, as long ago)."""
    scheduled = _true_condition(pod, "PodScheduled") or {}
    return (
        parse_time(scheduled.get("lastTransitionTime"))
        or parse_time(_created(pod))
        or datetime.min.replace(tzinfo=UTC)
    )


def pod_failure(pod: Mapping[str, Any], container: str | None) -> tuple[str, str, bool]:
    """Why a pod failed: (reason, message, whether it is an infrastructure failure)."""
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name", "?")
    disrupted = _disruption(pod, name)
    if disrupted is not None:
        return disrupted
    terminated = _terminated(pod, container)
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        restarted = _restarted(pod, container)
        if restarted is not None:
            # restartPolicy OnFailure: the kubelet restarted a container after it failed,
            # until the Job controller, its backoffLimit spent, deleted the pod. Neither
            # the deletion nor its kill (exit 137 or 143, the container's state once the
            # kubelet has stopped it) is the failure: the crash before it is.
            return restarted
        return "PodDeleted", f"pod {name} was deleted while the trial ran", True
    waiting = (_container_status(pod, container).get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in IMAGE_WAITING_REASONS:
        return waiting["reason"], waiting.get("message") or f"pod {name} cannot start", True
    if terminated:
        return _exited(pod, container, terminated)
    init = _init_failure(pod)
    if init is not None:
        return init
    reason = status.get("reason")
    if reason:
        # A pod failed with no container ended: its node refused it (the kubelet's
        # admission: OutOfnvidia.com/gpu after a device plugin restart,
        # UnexpectedAdmissionError) or shut down. The trainer never ran: retryable. The
        # kubelet's reason may hold a resource name, which a trial's reason cannot.
        message = f"pod {name} failed on its node: {reason}: {status.get('message') or ''}"
        return (reason if TRIAL_REASON.fullmatch(reason) else "PodRejected"), message, True
    return "PodFailed", status.get("message") or f"pod {name} failed", False


def _disruption(pod: Mapping[str, Any], name: str) -> tuple[str, str, bool] | None:
    """A pod evicted (by its kubelet under pressure, or through the Eviction API as
    `kubectl drain` does), preempted or otherwise disrupted: the cluster's doing."""
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return "Evicted", status.get("message") or f"pod {name} was evicted", True
    disruption = _true_condition(pod, "DisruptionTarget")
    if disruption is None:
        return None
    reason = disruption.get("reason") or "Disrupted"
    said = disruption.get("message") or reason
    if reason == "EvictionByEvictionAPI":
        return "Evicted", f"pod {name} was evicted (kubectl drain?): {said}", True
    return reason, f"pod {name} was disrupted: {said}", True


def _exited(
    pod: Mapping[str, Any],
    container: str | None,
    terminated: Mapping[str, Any],
    times: int = 1,
) -> tuple[str, str, bool]:
    """The trainer's own failure: its container's reason and exit code (and how many
    times it failed, where the kubelet restarted it)."""
    name = _container_status(pod, container).get("name", container)
    code = terminated.get("exitCode")
    detail = f"container {name} exited with code {code}{_signal(pod, name, terminated)}"
    detail += _times(times)
    if last := last_words(terminated.get("message")):
        detail += f": {last}"
    return terminated.get("reason") or "Error", detail, False


def _signal(pod: Mapping[str, Any], container: str | None, terminated: Mapping[str, Any]) -> str:
    """The signal that ended the container, where its exit code says one did (128 + N),
    as ` (SIGKILL)`. A SIGKILL of a container with a memory limit is most often the
    kernel's OOM killer, which the runtime does not always report as OOMKilled
    (containerd 1.6 misses it for a container killed right after it started,
    containerd#8180): then the note asks and gives the limit."""
    code = terminated.get("exitCode")
    if not isinstance(code, int) or code <= 128:
        return ""
    try:
        name = signal.Signals(code - 128).name
    except ValueError:
        return ""
    containers = (pod.get("spec") or {}).get("containers") or []
    spec: Mapping[str, Any] = next((c for c in containers if c.get("name") == container), {})
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    if name == "SIGKILL" and limit and terminated.get("reason") != "OOMKilled":
        return f" ({name}: out of memory? its limit is {limit})"
    return f" ({name})"


def last_words(message: Any) -> str:
    """A failed container's termination message as a trial's message quotes it: its last
    non-empty line, which, with the trial Job's FallbackToLogsOnError (`trial_job`), is
    the last line the trainer logged (the kubelet keeps up to 80 lines), usually why it
    failed: an exception, a missing dataset. At most 300 characters."""
    if not isinstance(message, str):
        return ""
    last = next((line.strip() for line in reversed(message.splitlines()) if line.strip()), "")
    return last if len(last) <= 300 else last[:299] + "…"


INIT_CONTAINER_FAILED = "InitContainerFailed"
"""The reason of a trial whose pod's init container failed: the trainer never started,
and the template's init container (its command, its image) is at fault, not the cluster."""


def _init_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statuses of the pod's init containers that run to completion before the others;
    not its native sidecars (`restartPolicy: Always`), which run beside the trainer and are
    stopped with it."""
    sidecars = {
        c.get("name")
        for c in ((pod.get("spec") or {}).get("initContainers") or [])
        if c.get("restartPolicy") == "Always"
    }
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    return [s for s in statuses if s.get("name") not in sidecars]


def failed_init_container(
    pod: Mapping[str, Any],
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The status of the init container that failed, where one did (restartPolicy Never:
    it ended the pod before its other containers started), and its terminated state; None
    otherwise. `kubetune logs` asks it too, of a pod as the API server sends it."""
    for status in _init_containers(pod):
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("exitCode") not in (None, 0):
            return status, terminated
    return None


def _init_failure(pod: Mapping[str, Any]) -> tuple[str, str, bool] | None:
    """Why the pod's init container failed, where one did: its name, reason and exit
    code."""
    failed = failed_init_container(pod)
    return None if failed is None else _init_exited(*failed)


def _init_exited(
    status: Mapping[str, Any], terminated: Mapping[str, Any], times: int = 1
) -> tuple[str, str, bool]:
    detail = (
        f"init container {status.get('name')} exited with code {terminated.get('exitCode')} "
        f"({terminated.get('reason') or 'Error'}){_times(times)}"
    )
    if last := last_words(terminated.get("message")):
        detail += f": {last}"
    return INIT_CONTAINER_FAILED, detail, False


def _restarted(pod: Mapping[str, Any], container: str | None) -> tuple[str, str, bool] | None:
    """The failure of a container the kubelet restarted in place (restartPolicy OnFailure)
    as its last state records it: the trainer's, else an init container's; None when no
    container was restarted after a failure."""
    status = _container_status(pod, container)
    crashed = (status.get("lastState") or {}).get("terminated")
    if crashed:
        return _exited(pod, container, crashed, status.get("restartCount") or 1)
    for init in _init_containers(pod):
        crashed = (init.get("lastState") or {}).get("terminated") or {}
        if crashed.get("exitCode") not in (None, 0):
            return _init_exited(init, crashed, init.get("restartCount") or 1)
    return None


def _times(times: int) -> str:
    return "" if times <= 1 else f" (failed {times} times)"


def _still_on_its_node(pod: Mapping[str, Any]) -> bool:
    """Whether a pod runs or waits as far as this copy of it says: not ended, not being
    deleted, not disrupted."""
    return (
        _phase(pod) in ("Pending", "Running")
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
        and _true_condition(pod, "DisruptionTarget") is None
    )


def _created(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def _phase(pod: Mapping[str, Any]) -> str | None:
    phase = (pod.get("status") or {}).get("phase")
    return None if phase is None else str(phase)


def _succeeded(
    job: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    container: str | None,
    started: datetime | None,
) -> tuple[JobObservation, LogSource | None]:
    """A succeeded Job, and its succeeded pod's log (None when no pod is left to read)."""
    finished = parse_time((job.get("status") or {}).get("completionTime"))
    source = None
    if pod is not None:
        finished = parse_time(_terminated(pod, container).get("finishedAt")) or finished
        chosen = _container_status(pod, container).get("name") or container
        if chosen:
            source = LogSource(pod["metadata"]["name"], chosen)
    job_name = job["metadata"]["name"]
    return JobObservation(job_name, "Succeeded", started=started, finished=finished), source


def observe_job(
    job: Mapping[str, Any],
    pods: Iterable[Mapping[str, Any]],
    container: str | None,
    now: datetime | None = None,
) -> tuple[JobObservation, LogSource | None]:
    """One Job (and its pods, oldest first) as the engine sees it at `now`, and its log
    source. `now` None: a pull failure that may pass waits, whatever its age."""
    name = job["metadata"]["name"]
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    pods = sorted(pods, key=_created)
    single = spec.get("completions") in (None, 1) and spec.get("parallelism") in (None, 1)
    started = parse_time(status.get("startTime")) or parse_time(_created(job))

    succeeded_pod = next((p for p in reversed(pods) if _phase(p) == "Succeeded"), None)
    if _true_condition(job, *SUCCEEDED_JOB_CONDITIONS) or (single and succeeded_pod):
        if succeeded_pod is None and any(_phase(p) in ("Pending", "Running") for p in pods):
            # The Job's condition arrived before its pod's last update (two watches, no
            # order between them): wait for the pod, whose log has the objective, rather
            # than fail the trial for a log it has.
            return JobObservation(name, "Running", started=started), None
        return _succeeded(job, succeeded_pod, container, started)

    last = pods[-1] if pods else None
    last_failed = last is not None and _phase(last) == "Failed"
    failed_condition = _true_condition(job, *FAILED_JOB_CONDITIONS)
    if failed_condition is not None or (single and spec.get("backoffLimit") == 0 and last_failed):
        finished = None
        if failed_condition is not None and failed_condition.get("reason") in (
            "DeadlineExceeded",
            "PodFailurePolicy",
            "MaxFailedIndexesExceeded",
        ):
            reason = failed_condition["reason"]
            message = failed_condition.get("message") or reason
            infrastructure = False
        elif last is not None and _still_on_its_node(last):
            # The Job's condition arrived before its pod's last update (two watches, no
            # order between them): wait for the pod, which says whether the trainer
            # failed or was evicted (retried), as for a Complete Job above.
            return JobObservation(name, "Running", started=started), None
        elif last is None:
            reason, message, infrastructure = _without_its_pod(job, failed_condition)
        else:
            reason, message, infrastructure = pod_failure(last, container)
            finished = parse_time(_terminated(last, container).get("finishedAt"))
        return JobObservation(
            name,
            "Failed",
            started=started,
            finished=finished,
            reason=reason,
            message=message,
            infrastructure=infrastructure,
        ), None

    pull = image_pull_failure(last) if last is not None and _still_on_its_node(last) else None
    if pull is not None:
        return _pulling(name, started, pull, now), None
    if last is None or _phase(last) == "Pending":
        return _waiting(name, last), None
    source = None
    if _phase(last) == "Running":
        chosen = _container_status(last, container).get("name") or container
        if chosen:
            source = LogSource(last["metadata"]["name"], chosen)
    pod_started = parse_time((last.get("status") or {}).get("startTime"))
    return JobObservation(name, "Running", started=pod_started or started), source


def _without_its_pod(
    job: Mapping[str, Any], condition: Mapping[str, Any] | None
) -> tuple[str, str, bool]:
    """Why a failed Job none of whose pods is left failed. With restartPolicy OnFailure
    and BackoffLimitExceeded, its containers failed: the kubelet restarted them in place
    until their restarts spent the Job's backoffLimit, and the Job controller then deleted
    the pod, with the exit code (the trainer's failure, not retried). Otherwise the pod was
    deleted while it ran (infrastructure, retried): a failed pod of a restartPolicy Never
    Job stays, with its exit code, until its Job goes."""
    name = job["metadata"]["name"]
    spec = job.get("spec") or {}
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if (condition or {}).get("reason") == "BackoffLimitExceeded" and restart == "OnFailure":
        limit = spec.get("backoffLimit")
        limit = limit if isinstance(limit, int) else DEFAULT_BACKOFF_LIMIT
        # The Job controller fails it once the restarts reach backoffLimit (1 with 0).
        times = "once" if limit <= 1 else f"{limit} times"
        message = (
            f"BackoffLimitExceeded: its containers failed {times} or more (backoffLimit "
            f"{limit}); its pod was deleted, its exit code with it"
        )
        return "BackoffLimitExceeded", message, False
    return "PodDeleted", f"the pod of Job {name} was deleted while the trial ran", True


def _pulling(
    job_name: str, started: datetime | None, pull: PullFailure, now: datetime | None
) -> JobObservation:
    """A Job whose pod cannot get its image: Failed at once when the image can never be
    had (a name that does not exist), or once `pull.retry_until` has passed; until then
    waiting, saying the pull is retried, with the kubelet's word. A Failed one keeps its
    pod, which would wait for its image for ever: its Job is to be deleted."""
    retry_until = pull.retry_until
    if retry_until is not None and (now is None or now < retry_until):
        prefix = f"{WAITING_FOR_ITS_IMAGE}the pull is being retried (for up to {_RETRY_TEXT}): "
        return JobObservation(
            job_name,
            "Waiting",
            reason=pull.reason,
            message=prefix + pull.message,
            wait_until=retry_until,
        )
    prefix = "" if retry_until is None else f"the image pull was retried for {_RETRY_TEXT}: "
    message = prefix + pull.message
    return JobObservation(
        job_name,
        "Failed",
        started=started,
        reason=pull.reason,
        message=message,
        infrastructure=True,
        pod_left=True,
    )


def _waiting(job_name: str, pod: Mapping[str, Any] | None) -> JobObservation:
    """A Job whose pod has not started: waiting, with the scheduler's word on why when
    it could not place the pod (no node with the GPUs asked for, say), or the kubelet's
    when a container cannot be created (a ConfigMap or Secret it names is missing)."""
    status = (pod or {}).get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            said = condition.get("message") or reason
            claim = "persistentvolumeclaim" in said.lower()  # missing, or not bound yet
            message = (WAITING_FOR_ITS_VOLUME if claim else WAITING_FOR_A_NODE) + said
            return JobObservation(job_name, "Waiting", reason=reason, message=message)
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in (None, *STARTING_REASONS):
            reason = str(waiting["reason"])
            message = f"{WAITING_FOR_ITS_POD}{reason}: {waiting.get('message') or reason}"
            return JobObservation(job_name, "Waiting", reason=reason, message=message)
    return JobObservation(job_name, "Waiting", reason=None if pod else POD_NOT_CREATED)


def latest_refusal(events: Iterable[Mapping[str, Any]]) -> str | None:
    """Why the Job controller cannot create a Job's pod, from its FailedCreate Events: the
    latest one's message without the pod's random name (`pods "t-001-x7k2p" is
    forbidden: `), so that it reads the same at every retry (the status is not rewritten
    for nothing) and a trial's short message keeps the reason. None without an Event."""
    latest = max(events, key=_event_time, default=None)
    if latest is None:
        return None
    message = str(latest.get("message") or "FailedCreate").removeprefix("Error creating: ")
    return _REFUSED_POD.sub("", message, count=1)


def _event_time(event: Mapping[str, Any]) -> str:
    """When an Event last happened, as RFC 3339 text (comparable within one kind)."""
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def refused_pod(observation: JobObservation, refusal: str) -> JobObservation:
    """A Job without a pod as the trial should show it, now that the Job controller said
    why it cannot create one (its FailedCreate Event's message)."""
    return replace(observation, reason=POD_REFUSED, message=WAITING_FOR_ITS_POD + refusal)


def observe_jobs(
    jobs: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    container: str | None,
    owner_uid: str | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, JobObservation], dict[str, LogSource]]:
    """Observations of all Jobs by name at `now`, and the log sources of the succeeded
    and running ones (tell them apart by the observation's `state`).

    Pods are matched to Jobs by owner reference UID. `container` is the primary
    container's name (None: the first). With `owner_uid`, Jobs owned by anything else
    (e.g. a deleted TuningJob of the same name whose Jobs are still being collected)
    are ignored. `now` judges image pulls retried (`IMAGE_PULL_RETRY`); None: not judged.
    """
    pods_by_owner: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
            if owner.get("kind") == "Job":
                pods_by_owner.setdefault(owner.get("uid", ""), []).append(pod)
    observations: dict[str, JobObservation] = {}
    sources: dict[str, LogSource] = {}
    for job in jobs:
        owners = {o.get("uid") for o in (job.get("metadata") or {}).get("ownerReferences") or []}
        if owner_uid is not None and owner_uid not in owners:
            continue
        if (job.get("metadata") or {}).get("deletionTimestamp"):
            # Being deleted (stopped by us, or by someone): its trial no longer runs.
            continue
        uid = job["metadata"].get("uid", "")
        observation, source = observe_job(job, pods_by_owner.get(uid, []), container, now)
        observations[observation.job_name] = observation
        if source is not None:
            sources[observation.job_name] = source
    return observations, sources
