"""Reads of one reconcile from the watches' cache, in front of the live API client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubetune.operator.kube.client import KubeClient
from kubetune.operator.kube.expectations import Expectations
from kubetune.operator.kube.telemetry import NO_TELEMETRY, Telemetry


class CachedKube:
    """The API calls of one reconcile of one TuningJob, whose reads of that TuningJob and
    of its trial Jobs and pods come from what the operator's watches have already seen
    (as client-go informers serve controllers) instead of a GET and two LISTs per
    reconcile: under load each of those is a round trip to a busy API server on the path
    from a finished trial to the next Job, and the LISTs grow with every trial the
    TuningJob ever ran.

    Why cached reads are safe here: every status write is conditional on the
    resourceVersion that was read, so a stale TuningJob costs a `ConflictError` and a
    live read, never a wrong write. A plan that writes nothing has no such guard on the
    Jobs it creates or deletes: for it, `Expectations` never serves a TuningJob older
    than one this daemon has written or read live (it reads live instead).
    Cached Jobs and pods can lag but never go backwards:
    a Job is missing only until its creation is seen (creating it again is an
    AlreadyExists no-op, skipped while `Expectations` remembers it), and kopf starts no
    handler before the initial listing of the indexed Jobs and pods is complete.

    `watched` is the TuningJob, `jobs` and `pods` its trial objects (None: list them from
    the API server), all snapshots taken on the event loop's thread, where the watches
    update them. Other objects' calls, and every write, go to `live`."""

    def __init__(
        self,
        live: KubeClient,
        expectations: Expectations,
        watched: dict[str, Any],
        jobs: list[dict[str, Any]] | None,
        pods: list[dict[str, Any]] | None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.live = live
        self.start_anew = live.start_anew
        self.log_timestamps = live.log_timestamps
        meta = watched["metadata"]
        self.key = (meta["namespace"], meta["name"])
        self.expectations = expectations
        self.tuning_job = expectations.start(watched, jobs or [])
        self.jobs = jobs
        self.pods = pods
        self.telemetry = telemetry

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        if (namespace, name) != self.key:
            return self.live.get_tuning_job(namespace, name)
        if self.tuning_job is None:
            body = self.live.get_tuning_job(namespace, name)
            if body is not None:
                self.expectations.read(body)
            return body
        self.telemetry.cache_hit("get")
        # Copied down to metadata, which the reconcile replaces after a write.
        return {**self.tuning_job, "metadata": dict(self.tuning_job["metadata"])}

    def list_trial_jobs(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        if self.jobs is None or (namespace, tuning_job) != self.key:
            return self.live.list_trial_jobs(namespace, tuning_job)
        self.telemetry.cache_hit("list_jobs")
        return list(self.jobs)

    def list_trial_pods(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        if self.pods is None or (namespace, tuning_job) != self.key:
            return self.live.list_trial_pods(namespace, tuning_job)
        self.telemetry.cache_hit("list_pods")
        return list(self.pods)

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        updated = self.live.patch_status(namespace, name, resource_version, status)
        if (namespace, name) == self.key:
            self.tuning_job = updated
            self.expectations.wrote(updated)
        return updated

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        job = manifest["metadata"]["name"]
        if namespace == self.key[0] and self.expectations.created(job):
            self.telemetry.cache_hit("create_job")
            return False  # created a moment ago, not seen yet: it exists
        created = self.live.create_job(namespace, manifest)
        if namespace == self.key[0]:
            self.expectations.create(job)
        return created

    def delete_job(self, namespace: str, name: str, owner_uid: str) -> None:
        self.live.delete_job(namespace, name, owner_uid)

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
        return self.live.stream_log(
            namespace,
            pod,
            container,
            tail_lines=tail_lines,
            limit_bytes=limit_bytes,
            follow=follow,
            timestamps=timestamps,
        )

    def post_event(self, tuning_job: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.live.post_event(tuning_job, type_, reason, message)

    def pod_creation_refusal(self, namespace: str, job_uid: str) -> str | None:
        return self.live.pod_creation_refusal(namespace, job_uid)
