"""Job and pod objects as the engine sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubetune.operator.kube.observe import POD_NOT_CREATED, latest_refusal, observe_jobs


def job(name: str, *, conditions: list[dict[str, str]] | None = None, **spec: Any) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"backoffLimit": 0, **spec},
        "status": {"startTime": "2026-01-01T00:00:01Z", "conditions": conditions or []},
    }


def pod(
    job_name: str,
    phase: str,
    *,
    created: str = "2026-01-01T00:00:02Z",
    state: dict[str, Any] | None = None,
    **status: Any,
) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {
            "name": f"{job_name}-x",
            "creationTimestamp": created,
            "ownerReferences": [{"kind": "Job", "uid": f"uid-{job_name}"}],
        },
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "trainer", "state": state or {}}],
            **status,
        },
    }


def test_a_succeeded_pod_finishes_the_trial_before_the_job_condition() -> None:
    done = {"terminated": {"exitCode": 0, "finishedAt": "2026-01-01T00:00:09Z"}}
    obs, sources = observe_jobs([job("a")], [pod("a", "Succeeded", state=done)], "trainer")
    assert obs["a"].state == "Succeeded"
    assert obs["a"].finished is not None and obs["a"].finished.second == 9
    assert sources["a"].pod == "a-x" and sources["a"].container == "trainer"


def test_failures_carry_reason_exit_code_and_whether_to_retry() -> None:
    crashed = {"terminated": {"exitCode": 3, "reason": "Error"}}
    obs, _ = observe_jobs([job("a")], [pod("a", "Failed", state=crashed)], None)
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == ("Failed", "Error", False)
    assert "exited with code 3" in (obs["a"].message or "")

    # FallbackToLogsOnError: the kubelet's message is the log's last lines; the trial
    # quotes the last non-empty one (why the trainer failed), not the first.
    logged = {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": "epoch 1 loss=0.9\nTraceback (most recent call last):\n  ...\n"
            "FileNotFoundError: /data/cifar10 is not mounted\n\n",
        }
    }
    obs, _ = observe_jobs([job("a")], [pod("a", "Failed", state=logged)], None)
    assert obs["a"].message == (
        "container trainer exited with code 1: FileNotFoundError: /data/cifar10 is not mounted"
    )

    evicted = pod("b", "Failed", reason="Evicted", message="The node was low on memory.")
    obs, _ = observe_jobs([job("b")], [evicted], None)
    assert (obs["b"].reason, obs["b"].infrastructure) == ("Evicted", True)

    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    obs, _ = observe_jobs([job("c", conditions=failed)], [], None)
    assert (obs["c"].reason, obs["c"].infrastructure) == ("PodDeleted", True)

    deadline = [
        {
            "type": "Failed",
            "status": "True",
            "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
        }
    ]
    obs, _ = observe_jobs([job("d", conditions=deadline)], [], None)
    assert (obs["d"].reason, obs["d"].infrastructure) == ("DeadlineExceeded", False)


SCHEDULED = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
"""When the pods of `pulling` were bound to their node: their image pulls start then."""


def pulling(job_name: str, reason: str, message: str) -> dict:  # type: ignore[type-arg]
    """A pod whose trainer waits for its image, as the kubelet reports it."""
    scheduled = {
        "type": "PodScheduled",
        "status": "True",
        "lastTransitionTime": "2026-01-01T00:00:03Z",
    }
    waiting = {"waiting": {"reason": reason, "message": message}}
    return pod(job_name, "Pending", state=waiting, conditions=[scheduled])


REF = '"registry.example.com/team/trainer:1"'


BACK_OFF = f"Back-off pulling image {REF}: ErrImagePull: "
"""How the kubelet's message reads while it backs off (from v1.30 on, it quotes the last
pull's error after it)."""
UNPACK = f"rpc error: code = NotFound desc = failed to pull and unpack image {REF}: "


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("ErrImagePull", f"{UNPACK}failed to resolve reference {REF}: {REF[1:-1]}: not found"),
        ("ImagePullBackOff", f"{BACK_OFF}{UNPACK}manifest unknown: manifest unknown"),
        (
            "ImagePullBackOff",
            f"{BACK_OFF}{UNPACK}pull access denied, repository does not exist or may require "
            "authorization: server message: insufficient_scope: authorization failed",
        ),
        ("ErrImagePull", f"{UNPACK}unexpected status: 401 Unauthorized"),
        ("ErrImagePull", f"{UNPACK}authentication required"),
        ("ErrImagePull", f"{UNPACK}403 Forbidden: denied: requested access is denied"),
        ("InvalidImageName", 'Failed to apply default image tag "Trainer:1": invalid reference'),
        ("ErrImageNeverPull", f"Container image {REF} is not present with pull policy of Never"),
    ],
    ids=[
        "not-found",
        "manifest-unknown",
        "no-repository",
        "unauthorized",
        "auth",
        "denied",
        "invalid-name",
        "never-pull",
    ],
)
def test_an_image_that_does_not_exist_or_cannot_be_had_fails_the_trial_at_once(
    reason: str, message: str
) -> None:
    obs, _ = observe_jobs([job("a")], [pulling("a", reason, message)], None, now=SCHEDULED)
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == ("Failed", reason, True)
    assert obs["a"].message == message  # the kubelet's word, whole
    assert obs["a"].pod_left  # its pod waits on: the Job must be deleted
    exited = {"terminated": {"exitCode": 1, "reason": "Error"}}
    obs, _ = observe_jobs([job("b")], [pod("b", "Failed", state=exited)], None)
    assert (obs["b"].state, obs["b"].pod_left) == ("Failed", False)


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (
            "ImagePullBackOff",
            f"{BACK_OFF}{UNPACK}unexpected status code 429 Too Many Requests - Server message: "
            "toomanyrequests: You have reached your pull rate limit",
        ),
        ("ErrImagePull", f"{UNPACK}dial tcp 10.0.0.7:443: i/o timeout"),
        ("ErrImagePull", f"{UNPACK}dial tcp 127.0.0.1:5000: connect: connection refused"),
        ("ImagePullBackOff", f"{BACK_OFF}{UNPACK}net/http: TLS handshake timeout"),
        ("ErrImagePull", f"{UNPACK}unexpected status: 503 Service Unavailable"),
        ("RegistryUnavailable", f"image pull failed for {REF} because the registry is unavailable"),
        ("ImagePullBackOff", f"Back-off pulling image {REF}"),  # a kubelet before v1.30
        ("ImagePullBackOff", 'Back-off pulling image "registry.example.com/denied/not-found:1"'),
    ],
    ids=[
        "rate-limit",
        "timeout",
        "refused",
        "tls",
        "5xx",
        "unavailable",
        "no-detail",
        "name-only",
    ],
)
def test_a_registry_hiccup_keeps_the_trial_waiting_until_the_pull_deadline(
    reason: str, message: str
) -> None:
    """The pull is retried by the kubelet; the trial waits, saying so, for 5 minutes from
    when its pod was scheduled (a time the API server holds: a restarted operator takes
    the same decision), then fails as an image that never pulls."""
    stuck = pulling("a", reason, message)
    deadline = SCHEDULED + timedelta(minutes=5)
    obs, _ = observe_jobs([job("a")], [stuck], None, now=deadline - timedelta(seconds=1))
    assert (obs["a"].state, obs["a"].reason, obs["a"].wait_until) == ("Waiting", reason, deadline)
    waiting = "waiting for its image: the pull is being retried (for up to 5 min): "
    assert obs["a"].message == waiting + message
    obs, _ = observe_jobs([job("a")], [stuck], None, now=deadline)
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == ("Failed", reason, True)
    retried = "the image pull was retried for 5 min: "
    assert obs["a"].message == retried + message
    assert obs["a"].pod_left and obs["a"].wait_until is None


def test_a_pull_deadline_runs_from_the_pods_creation_without_a_scheduled_time() -> None:
    stuck = pulling("a", "ImagePullBackOff", f"{BACK_OFF}i/o timeout")
    del stuck["status"]["conditions"]  # created at 00:00:02
    obs, _ = observe_jobs([job("a")], [stuck], None, now=SCHEDULED + timedelta(minutes=5))
    assert obs["a"].state == "Failed"


def test_running_retrying_and_deleted_jobs() -> None:
    running = pod("a", "Running")
    obs, _ = observe_jobs([job("a"), job("b", backoffLimit=2)], [running, pod("b", "Failed")], None)
    assert obs["a"].state == "Running"
    assert obs["b"].state == "Running"  # the Job controller will start another pod
    gone = job("c")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:05Z"
    obs, _ = observe_jobs([gone], [], None)
    assert "c" not in obs


def test_a_running_pod_is_the_log_source_of_its_running_job() -> None:
    started = {"running": {"startedAt": "2026-01-01T00:00:03Z"}}
    obs, sources = observe_jobs(
        [job("a"), job("b")], [pod("a", "Running", state=started), pod("b", "Pending")], None
    )
    assert obs["a"].state == "Running" and sources["a"].container == "trainer"
    assert obs["b"].state == "Waiting" and "b" not in sources  # nothing logged yet


def test_a_job_whose_pod_has_not_started_waits_saying_why_and_runs_from_its_pod_start() -> None:
    unschedulable = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
    }
    obs, _ = observe_jobs(
        [job("a"), job("b")], [pod("a", "Pending", conditions=[unschedulable])], None
    )
    assert (obs["a"].state, obs["a"].reason, obs["a"].started) == ("Waiting", "Unschedulable", None)
    assert obs["a"].message == (
        "waiting for a node: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    )
    # No pod yet: nothing to say, but marked as one to ask the Job controller about.
    assert (obs["b"].state, obs["b"].reason, obs["b"].message) == ("Waiting", POD_NOT_CREATED, None)
    assert obs["a"].reason != POD_NOT_CREATED
    running = pod("a", "Running", startTime="2026-01-01T00:05:00Z")
    obs, _ = observe_jobs([job("a")], [running], None)
    started = obs["a"].started
    assert obs["a"].state == "Running" and started is not None and started.minute == 5


def test_a_complete_job_whose_pod_update_has_not_arrived_waits_for_it() -> None:
    complete = [{"type": "Complete", "status": "True"}]
    # The Job watch delivered the condition; the pod watch still shows the pod running.
    obs, sources = observe_jobs([job("a", conditions=complete)], [pod("a", "Running")], "trainer")
    assert obs["a"].state == "Running" and "a" not in sources
    # Once the pod's update arrives, the trial succeeds with its log as the source.
    done = {"terminated": {"exitCode": 0}}
    obs, sources = observe_jobs(
        [job("a", conditions=complete)], [pod("a", "Succeeded", state=done)], "trainer"
    )
    assert obs["a"].state == "Succeeded" and sources["a"].pod == "a-x"
    # With no pod left at all, the Job's condition is all there is: it succeeded, no log.
    obs, sources = observe_jobs([job("a", conditions=complete)], [], "trainer")
    assert obs["a"].state == "Succeeded" and "a" not in sources


def test_the_latest_refusal_reads_the_same_at_every_retry() -> None:
    """The Job controller's FailedCreate Events name a new random pod at each retry: the
    refusal is the latest one's message without it."""

    def failed_create(pod: str, last: str, why: str) -> dict[str, Any]:
        message = f'Error creating: pods "{pod}" is forbidden: {why}'
        return {"reason": "FailedCreate", "lastTimestamp": last, "message": message}

    quota = "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"
    events = [
        failed_create("t-001-chrcd", "2026-01-01T00:00:09Z", quota),
        failed_create("t-001-2bgwc", "2026-01-01T00:00:01Z", "error looking up service account"),
    ]
    assert latest_refusal(events) == quota
    assert latest_refusal([]) is None
    other = {"lastTimestamp": "2026-01-01T00:00:01Z", "message": "Error creating: timeout"}
    assert latest_refusal([other]) == "timeout"  # another shape: kept whole


def test_a_pod_whose_container_cannot_be_created_waits_saying_the_kubelets_reason() -> None:
    missing = {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'configmap "c" not found'}
    }
    obs, _ = observe_jobs([job("a"), job("b")], [pod("a", "Pending", state=missing),
        pod("b", "Pending", state={"waiting": {"reason": "ContainerCreating"}})], None)  # fmt: skip
    assert (obs["a"].state, obs["a"].reason) == ("Waiting", "CreateContainerConfigError")
    assert obs["a"].message == (
        'waiting for its pod: CreateContainerConfigError: configmap "c" not found'
    )
    assert (obs["b"].state, obs["b"].reason, obs["b"].message) == ("Waiting", None, None)


def test_an_exit_code_over_128_names_its_signal_and_a_sigkill_asks_about_memory() -> None:
    """containerd 1.6 reports a container the OOM killer ended right after it started as
    Error 137 (containerd#8180): with a memory limit, the message asks and gives it."""

    def message(exit_code: int, reason: str, limits: dict[str, str]) -> str:
        failed = pod("a", "Failed", state={"terminated": {"exitCode": exit_code, "reason": reason}})
        failed["spec"] = {"containers": [{"name": "trainer", "resources": {"limits": limits}}]}
        obs, _ = observe_jobs([job("a")], [failed], "trainer")
        return obs["a"].message or ""

    memory = {"memory": "64Mi"}
    assert message(137, "Error", memory) == (
        "container trainer exited with code 137 (SIGKILL: out of memory? its limit is 64Mi)"
    )
    assert message(137, "OOMKilled", memory) == "container trainer exited with code 137 (SIGKILL)"
    assert message(137, "Error", {"cpu": "1"}) == "container trainer exited with code 137 (SIGKILL)"
    assert message(143, "Error", memory) == "container trainer exited with code 143 (SIGTERM)"
    assert message(3, "Error", memory) == "container trainer exited with code 3"
    assert message(255, "Error", memory) == "container trainer exited with code 255"


def test_a_failed_job_whose_pod_update_has_not_arrived_waits_for_it() -> None:
    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    # The Job controller saw the pod evicted; the pod watch still shows it running. Judged
    # now, the eviction would read as the trainer's failure, never retried.
    obs, _ = observe_jobs([job("a", conditions=failed)], [pod("a", "Running")], "trainer")
    assert obs["a"].state == "Running"
    evicted = pod("a", "Failed", reason="Evicted", message="The node was low on memory.")
    obs, _ = observe_jobs([job("a", conditions=failed)], [evicted], "trainer")
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == ("Failed", "Evicted", True)


def test_a_pod_its_node_refused_is_retryable_with_a_reason_a_trial_can_hold() -> None:
    for kubelet_reason, reason in [
        ("OutOfnvidia.com/gpu", "PodRejected"),  # a GPU device plugin restarted
        ("UnexpectedAdmissionError", "UnexpectedAdmissionError"),
    ]:
        refused = pod("a", "Failed", reason=kubelet_reason, message="Pod was rejected")
        obs, _ = observe_jobs([job("a")], [refused], "trainer")
        assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == (
            "Failed",
            reason,
            True,
        )
        assert kubelet_reason in (obs["a"].message or "")


def test_a_trainer_restarted_in_place_until_its_job_failed_failed_itself() -> None:
    """restartPolicy OnFailure: the Job controller deletes the pod once the trainer's
    restarts spend its backoffLimit; the deletion is not the failure."""
    failed = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    restarted = pod("a", "Running", state={"waiting": {"reason": "CrashLoopBackOff"}})
    restarted["status"]["containerStatuses"][0].update(
        lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, restartCount=1
    )
    restarted["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    obs, _ = observe_jobs([job("a", conditions=failed)], [restarted], "trainer")
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == (
        "Failed",
        "OOMKilled",
        False,
    )
    assert "exited with code 137" in (obs["a"].message or "")


def test_a_pod_that_waits_for_its_volume_says_so_not_for_a_node() -> None:
    claim = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": '0/2 nodes are available: persistentvolumeclaim "cifar10-data" not found.',
    }
    obs, _ = observe_jobs([job("a")], [pod("a", "Pending", conditions=[claim])], None)
    assert (obs["a"].state, obs["a"].reason) == ("Waiting", "Unschedulable")
    assert obs["a"].message == (
        'waiting for its volume: 0/2 nodes are available: persistentvolumeclaim "cifar10-data" '
        "not found."
    )


def test_a_pod_evicted_through_the_eviction_api_reads_as_evicted() -> None:
    drained = pod("a", "Failed")
    drained["status"]["conditions"] = [
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        }
    ]
    obs, _ = observe_jobs([job("a")], [drained], None)
    assert (obs["a"].reason, obs["a"].infrastructure) == ("Evicted", True)
    assert obs["a"].message == "pod a-x was evicted (kubectl drain?): Eviction API: evicting"


BACKOFF_SPENT = [
    {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
    }
]


def on_failure_job(name: str, backoff_limit: int = 2) -> dict:  # type: ignore[type-arg]
    """A trial Job whose template restarts the trainer in place, its backoffLimit spent."""
    return job(
        name,
        conditions=BACKOFF_SPENT,
        backoffLimit=backoff_limit,
        template={"spec": {"restartPolicy": "OnFailure"}},
    )


def test_a_trainer_restarted_until_its_job_failed_is_not_the_kill_of_its_deletion() -> None:
    """restartPolicy OnFailure (QA67 H3): the Job controller deleted the pod while the
    trainer's third run ran; once the kubelet has killed it, its state records the kill
    (137), its last state the failure the Job controller counted."""
    killed = pod("a", "Failed", state={"terminated": {"exitCode": 137, "reason": "Error"}})
    killed["status"]["containerStatuses"][0].update(
        lastState={"terminated": {"exitCode": 1, "reason": "Error"}}, restartCount=2
    )
    killed["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    obs, _ = observe_jobs([on_failure_job("a")], [killed], "trainer")
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == ("Failed", "Error", False)
    assert obs["a"].message == "container trainer exited with code 1 (failed 2 times)"


def test_a_job_whose_backoff_limit_its_restarts_spent_failed_itself_without_its_pod() -> None:
    """restartPolicy OnFailure: the Job controller deletes the pod it counted the restarts
    of; the trial is the trainer's failure even when the pod is gone from the cache."""
    obs, _ = observe_jobs([on_failure_job("a")], [], "trainer")
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == (
        "Failed",
        "BackoffLimitExceeded",
        False,
    )
    assert obs["a"].message == (
        "BackoffLimitExceeded: its containers failed 2 times or more (backoffLimit 2); its pod "
        "was deleted, its exit code with it"
    )
    obs, _ = observe_jobs([on_failure_job("b", backoff_limit=0)], [], "trainer")
    assert obs["b"].reason == "BackoffLimitExceeded" and "failed once or more" in (
        obs["b"].message or ""
    )


def test_a_pod_deleted_or_evicted_while_it_ran_stays_an_infrastructure_failure() -> None:
    # restartPolicy Never: a pod that failed would have stayed; gone, it was deleted.
    never = job("a", conditions=BACKOFF_SPENT, backoffLimit=2)
    obs, _ = observe_jobs([never], [], "trainer")
    assert (obs["a"].reason, obs["a"].infrastructure) == ("PodDeleted", True)
    # restartPolicy OnFailure, the trainer never restarted: the deletion was the failure.
    killed = pod("b", "Failed", state={"terminated": {"exitCode": 137, "reason": "Error"}})
    killed["status"]["containerStatuses"][0]["restartCount"] = 0
    killed["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    obs, _ = observe_jobs([on_failure_job("b", backoff_limit=0)], [killed], "trainer")
    assert (obs["b"].reason, obs["b"].infrastructure) == ("PodDeleted", True)
    # Drained after a restart: the eviction is what ended it.
    drained = pod("c", "Failed", state={"terminated": {"exitCode": 137, "reason": "Error"}})
    drained["status"]["containerStatuses"][0].update(
        lastState={"terminated": {"exitCode": 1, "reason": "Error"}}, restartCount=1
    )
    drained["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    ]
    drained["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    obs, _ = observe_jobs([on_failure_job("c")], [drained], "trainer")
    assert (obs["c"].reason, obs["c"].infrastructure) == ("Evicted", True)


INITIALIZING = {"waiting": {"reason": "PodInitializing"}}


def test_a_failed_init_container_is_named_with_its_reason_and_exit_code() -> None:
    """QA67 M1: restartPolicy Never, the init container exited 4: the pod failed before
    the trainer started."""
    init = {"name": "init", "state": {"terminated": {"exitCode": 4, "reason": "Error"}}}
    failed = pod("a", "Failed", state=INITIALIZING, initContainerStatuses=[init])
    obs, _ = observe_jobs([job("a")], [failed], "trainer")
    assert (obs["a"].state, obs["a"].reason, obs["a"].infrastructure) == (
        "Failed",
        "InitContainerFailed",
        False,
    )
    assert obs["a"].message == "init container init exited with code 4 (Error)"


def test_an_init_container_restarted_until_its_job_failed_is_named() -> None:
    """restartPolicy OnFailure: the kubelet restarts the init container in place, and the
    Job controller counts its restarts too."""
    init = {
        "name": "fetch-data",
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 4, "reason": "Error"}},
        "restartCount": 2,
    }
    restarting = pod("a", "Pending", state=INITIALIZING, initContainerStatuses=[init])
    restarting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:09Z"
    obs, _ = observe_jobs([on_failure_job("a")], [restarting], "trainer")
    assert (obs["a"].reason, obs["a"].infrastructure) == ("InitContainerFailed", False)
    assert (
        obs["a"].message == "init container fetch-data exited with code 4 (Error) (failed 2 times)"
    )


def test_a_native_sidecar_stopped_with_its_pod_is_not_an_init_container_failure() -> None:
    sidecar = {"name": "shipper", "state": {"terminated": {"exitCode": 143, "reason": "Error"}}}
    shut_down = pod(
        "a",
        "Failed",
        state=INITIALIZING,
        initContainerStatuses=[sidecar],
        reason="NodeShutdown",
        message="Pod was terminated in response to imminent node shutdown.",
    )
    shut_down["spec"] = {"initContainers": [{"name": "shipper", "restartPolicy": "Always"}]}
    obs, _ = observe_jobs([job("a")], [shut_down], "trainer")
    assert (obs["a"].reason, obs["a"].infrastructure) == ("NodeShutdown", True)
