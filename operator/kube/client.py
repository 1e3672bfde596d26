"""The seam between the reconcile and Kubernetes: the `KubeClient` protocol, the calls one
reconcile makes. `api_client.Kube` implements it against the API server, `cache.CachedKube`
in front of it from the watches' cache; tests implement it over dicts.

Objects travel as plain dicts (the API's JSON): the controller's inputs are built from them
directly, and skipping the client's model classes keeps large lists cheap. All calls are
blocking; the kopf handlers run reconciles in a thread pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class ConflictError(Exception):
    """The TuningJob changed since it was read (HTTP 409); read it again and re-plan."""


class JobRejectedError(Exception):
    """The API server refused a Job as invalid (HTTP 400/422); the message says why."""


class JobNotStartedError(JobRejectedError):
    """A trial could not be started for a reason other than the API server refusing its
    Job (a local run's process, `kube.local`; its Job name taken by a Job no TuningJob
    owns): the message, whole, names the field and the fix."""


class KubeClient(Protocol):
    """The API calls of a reconcile. Errors other than those named are the API's own
    (`kubernetes.client.exceptions.ApiException`, urllib3 and OS errors)."""

    start_anew: str
    """How a user starts over once what ended a job is fixed, where it ran: a new
    TuningJob on a cluster (`controller.types.START_ANEW`), another --out for a local run
    (`controller.Snapshot.start_anew`)."""
    log_timestamps: bool
    """Whether `stream_log` can put before each line the time it was written (the
    kubelet's `timestamps=true`): not a local run's log files."""

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The TuningJob; None when it is gone."""
        ...

    def list_trial_jobs(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        """The TuningJob's trial Jobs (by label)."""
        ...

    def list_trial_pods(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        """The pods of the TuningJob's trial Jobs (by label)."""
        ...

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        """Create a Job; False when it already exists. Raises JobRejectedError when the
        API server refuses it as invalid."""
        ...

    def delete_job(self, namespace: str, name: str, owner_uid: str) -> None:
        """Delete a Job and its pods if the TuningJob of UID `owner_uid` owns it (its
        ownerReferences name that UID); a missing Job, or one it does not own (a user's
        Job of a trial's name), is left as it is."""
        ...

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status if the TuningJob is still at `resource_version` (else
        ConflictError); returns the updated TuningJob."""
        ...

    def stream_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
        follow: bool = False,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        """A container's log as byte chunks (never the whole log in memory); with `follow`,
        chunks keep coming as the container writes them, until it ends; with `timestamps`
        (where `log_timestamps`), each line begins with the RFC 3339 time it was written
        and a space."""
        ...

    def post_event(self, tuning_job: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """A core/v1 Event on the TuningJob."""
        ...

    def pod_creation_refusal(self, namespace: str, job_uid: str) -> str | None:
        """Why the Job controller cannot create a trial Job's pod (a quota, a LimitRange,
        the namespace's Pod Security level refused it): the latest FailedCreate Event on
        the Job; None when it posted none."""
        ...
