"""`MemoryKube`: a `KubeClient` over dicts, for unit tests of the adapter.

A real implementation of the protocol, not a mock: TuningJobs with resourceVersions that
move on every write (a write at an older version is a conflict, as on the API server),
trial Jobs selected by label and owned by their TuningJob, pods that run them, and pod
logs. Every call is recorded in order in `calls`, so tests can check what happened in
which order. Faults are injected per call: `fail_create` (a Job creation that fails once
with an API error) and `conflict_on_patch` (someone else changes the TuningJob first).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import API_VERSION, KIND
from kubetune.operator.api.naming import TUNING_JOB_LABEL, label_value
from kubetune.operator.controller.types import START_ANEW
from kubetune.operator.kube.client import ConflictError, JobNotStartedError, JobRejectedError
from synthetic_tuning_job import synthetic_tuning_job

Key = tuple[str, str]


class MemoryKube:
    start_anew = START_ANEW
    log_timestamps = False  # its logs are served as stored

    def __init__(self) -> None:
        self.tuning_jobs: dict[Key, dict[str, Any]] = {}
        self.jobs: dict[Key, dict[str, Any]] = {}
        self.pods: dict[Key, dict[str, Any]] = {}
        self.logs: dict[Key, bytes] = {}
        self.events: list[tuple[str, str, str]] = []
        self.calls: list[tuple[str, str]] = []
        self.fail_create: set[str] = set()
        """Job names whose next creation fails with HTTP 500 (once each)."""
        self.reject_create: set[str] = set()
        """Job names the API server refuses as invalid (HTTP 422)."""
        self.taken: set[str] = set()
        """Job names another's Job holds (`Kube.create_job` raises JobNotStartedError)."""
        self.conflict_on_patch = False
        """The next status write finds the TuningJob changed by someone else."""
        self.log_tails: list[int | None] = []
        """The `tail_lines` of each log read, in order."""
        self.pod_refusals: dict[str, str] = {}
        """Why the Job controller cannot create the pod of a Job, by Job UID (its
        FailedCreate Event's message)."""
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)

    # ------------------------------------------------------------------ set-up

    def add_tuning_job(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "namespace": namespace,
                "name": name,
                "uid": f"uid-{name}",
                "generation": 1,
                "resourceVersion": str(next(self._versions)),
            },
            "spec": copy.deepcopy(spec),
        }
        self.tuning_jobs[(namespace, name)] = body
        return copy.deepcopy(body)

    def add_tuning_job_with_history(self, namespace: str, name: str, trials: int) -> None:
        """An unfinished Bayesian TuningJob with `trials` ended trials (`hack/
        synthetic_tuning_job.py`'s) and room for more, 2 at a time."""
        body = synthetic_tuning_job(name, trials)
        body["spec"]["limits"] = {"maxTrials": 1000, "maxParallelTrials": 2}
        ended = {k: v for k, v in body["status"].items() if k not in ("reason", "completionTime")}
        self.add_tuning_job(namespace, name, body["spec"])
        self.tuning_jobs[(namespace, name)]["status"] = {**ended, "phase": "InProgress"}

    def finish_job(self, namespace: str, job: str, log: bytes, *, succeeded: bool = True) -> None:
        """The Job's pod ran to the end and printed `log` (the Job controller has not
        marked the Job yet: the pod alone tells)."""
        manifest = self.jobs[(namespace, job)]
        pod = f"{job}-pod"
        state = {"terminated": {"exitCode": 0 if succeeded else 1}}
        self.pods[(namespace, pod)] = {
            "metadata": {
                "namespace": namespace,
                "name": pod,
                "uid": f"uid-{pod}",
                "labels": dict(manifest["metadata"]["labels"]),
                "ownerReferences": [{"kind": "Job", "uid": manifest["metadata"]["uid"]}],
                "creationTimestamp": "2026-01-01T00:00:01Z",
            },
            "status": {
                "phase": "Succeeded" if succeeded else "Failed",
                "containerStatuses": [{"name": "trainer", "state": state}],
            },
        }
        self.logs[(namespace, pod)] = log

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        return self.tuning_jobs[(namespace, name)].get("status") or {}

    def called(self, verb: str) -> list[str]:
        """The objects `verb` was called for, in order."""
        return [name for v, name in self.calls if v == verb]

    # ------------------------------------------------------------------ KubeClient

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("get_tuning_job", name))
        body = self.tuning_jobs.get((namespace, name))
        return copy.deepcopy(body) if body is not None else None

    def _labelled(self, objects: dict[Key, dict[str, Any]], namespace: str, tuning_job: str) -> Any:
        value = label_value(tuning_job)
        return [
            copy.deepcopy(o)
            for (ns, _), o in objects.items()
            if ns == namespace and o["metadata"].get("labels", {}).get(TUNING_JOB_LABEL) == value
        ]

    def list_trial_jobs(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        self.calls.append(("list_trial_jobs", tuning_job))
        return self._labelled(self.jobs, namespace, tuning_job)  # type: ignore[no-any-return]

    def list_trial_pods(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        self.calls.append(("list_trial_pods", tuning_job))
        return self._labelled(self.pods, namespace, tuning_job)  # type: ignore[no-any-return]

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        name = manifest["metadata"]["name"]
        self.calls.append(("create_job", name))
        if name in self.fail_create:
            self.fail_create.discard(name)
            raise ApiException(status=500, reason="Internal Server Error")
        if name in self.reject_create:
            raise JobRejectedError(f"Job.batch {name!r} is invalid")
        if name in self.taken:
            raise JobNotStartedError(f"trial Job {name} cannot be created: taken")
        if (namespace, name) in self.jobs:
            return False
        job = copy.deepcopy(manifest)
        job["metadata"].update(
            namespace=namespace,
            uid=f"uid-job-{next(self._uids)}",
            creationTimestamp="2026-01-01T00:00:00Z",
        )
        job["status"] = {"active": 1, "startTime": "2026-01-01T00:00:00Z"}
        self.jobs[(namespace, name)] = job
        return True

    def delete_job(self, namespace: str, name: str, owner_uid: str) -> None:
        self.calls.append(("delete_job", name))
        job = self.jobs.get((namespace, name))
        owners = (job or {}).get("metadata", {}).get("ownerReferences") or []
        if any(o.get("uid") == owner_uid for o in owners):  # as `Kube.delete_job`
            del self.jobs[(namespace, name)]

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(("patch_status", name))
        body = self.tuning_jobs[(namespace, name)]
        if self.conflict_on_patch:
            self.conflict_on_patch = False
            body["metadata"]["resourceVersion"] = str(next(self._versions))  # someone else
        if body["metadata"]["resourceVersion"] != resource_version:
            raise ConflictError(f"TuningJob {namespace}/{name} changed; re-reading it")
        merged = dict(body.get("status") or {})
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = copy.deepcopy(value)
        body["status"] = merged
        body["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(body)

    def stream_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
        follow: bool = False,
    ) -> Iterator[bytes]:
        self.calls.append(("stream_log", pod))
        self.log_tails.append(tail_lines)
        if (namespace, pod) not in self.logs:
            raise ApiException(status=404, reason="Not Found")
        log = self.logs[(namespace, pod)]
        if tail_lines is not None:  # as the kubelet: from the start of the last lines on,
            log = b"".join(log.splitlines(keepends=True)[-tail_lines:])
        yield log[:limit_bytes]  # ending after limit_bytes (kuberuntime/logs ReadLogs)

    def post_event(self, tuning_job: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.calls.append(("post_event", reason))
        self.events.append((type_, reason, message))

    def pod_creation_refusal(self, namespace: str, job_uid: str) -> str | None:
        self.calls.append(("pod_creation_refusal", job_uid))
        return self.pod_refusals.get(job_uid)
