"""The Kubernetes adapter: every API call the operator makes, as small blocking functions.

Objects travel as plain dicts (the API's JSON): the engine and `observe` read them
directly, and skipping the client's model classes keeps large lists cheap. All calls are
blocking; the kopf handlers run them in a thread pool.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubetune.operator import metrics
from kubetune.operator.models import API_VERSION, GROUP, KIND, PLURAL, VERSION
from kubetune.operator.trial_job import TUNING_JOB_LABEL, label_value

REQUEST_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for ordinary requests: a hung API server must not hang a
reconcile forever."""
LOG_TIMEOUT = (5.0, 120.0)
"""Log streams get a longer read timeout between chunks."""
COMPONENT = "kubetune-operator"
MAX_UNSEEN_WRITES = 50
"""Status writes whose watch events have not arrived, after which reads go live."""
CREATE_EXPECTATION_S = 30.0
"""How long a Job we created but have not seen yet counts as existing (then it is
created again, which is an AlreadyExists no-op if it does exist)."""


class ConflictError(Exception):
    """The TuningJob changed since it was read (HTTP 409); read it again and re-plan."""


class JobRejectedError(Exception):
    """The API server refused a Job as invalid (HTTP 400/422); the message says why."""


def load_credentials() -> client.ApiClient:
    """An API client: in-cluster credentials, else `KUBECONFIG` / `~/.kube/config`."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    # One connection per concurrent reconcile thread, without "pool is full" churn.
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


def api_error_message(error: ApiException) -> str:
    """The `message` of a Status error body, else the HTTP reason."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason)


def _json(response: Any) -> Any:
    return json.loads(response.data)


def _release(response: Any) -> None:
    """Read an unneeded response body to its end, which puts the connection back in the
    pool. Without it the connection is dropped and the next request pays a new TLS
    handshake (client certificate included) on both ends."""
    response.drain_conn()
    response.release_conn()


class Kube:
    """The API calls of one operator process (thread-safe: urllib3 pools connections)."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The TuningJob as the API server has it now; None when it is gone."""
        try:
            response = self.custom.get_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _json(response)  # type: ignore[no-any-return]

    def list_trial_jobs(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        """The TuningJob's trial Jobs (by label; a consistent read from the API server)."""
        response = self.batch.list_namespaced_job(
            namespace,
            label_selector=f"{TUNING_JOB_LABEL}={label_value(tuning_job)}",
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return _json(response)["items"]  # type: ignore[no-any-return]

    def list_trial_pods(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        """The pods of the TuningJob's trial Jobs (by label)."""
        response = self.core.list_namespaced_pod(
            namespace,
            label_selector=f"{TUNING_JOB_LABEL}={label_value(tuning_job)}",
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return _json(response)["items"]  # type: ignore[no-any-return]

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        """Create a Job; False when it already exists (idempotent by deterministic name)."""
        try:
            response = self.batch.create_namespaced_job(
                namespace,
                cast(Any, manifest),  # a dict is sent as is
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            _release(response)
        except ApiException as error:
            if error.status == 409:
                return False
            if error.status in (400, 422):
                raise JobRejectedError(api_error_message(error)) from None
            raise
        return True

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and (by garbage collection) its pods; a missing Job is fine."""
        try:
            response = self.batch.delete_namespaced_job(
                name,
                namespace,
                propagation_policy="Background",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            _release(response)
        except ApiException as error:
            if error.status != 404:
                raise

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status through the status subresource, only if the TuningJob
        is still at `resource_version` (else `ConflictError`). Returns the updated object.

        A merge patch replaces lists (`trials`, `conditions`) whole and keeps top-level
        keys it leaves out; send None for a key to remove it."""
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        try:
            response = self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body,
                _content_type="application/merge-patch+json",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                raise ConflictError(
                    f"TuningJob {namespace}/{name} changed; re-reading it"
                ) from None
            raise
        return _json(response)  # type: ignore[no-any-return]

    def stream_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
        chunk_bytes: int = 256 * 1024,
    ) -> Iterator[bytes]:
        """A container's log as a stream of byte chunks (never the whole log in memory)."""
        kwargs: dict[str, Any] = {}
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if limit_bytes is not None:
            kwargs["limit_bytes"] = limit_bytes
        response: Any = self.core.read_namespaced_pod_log(
            pod,
            namespace,
            container=container,
            _preload_content=False,
            _request_timeout=LOG_TIMEOUT,
            **kwargs,
        )
        try:
            yield from response.stream(chunk_bytes, decode_content=True)
        finally:
            response.release_conn()

    def post_event(
        self,
        tuning_job: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
    ) -> None:
        """A core/v1 Event on the TuningJob (best effort: failures are the caller's to log)."""
        meta = tuning_job["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event: Any = {
            "metadata": {
                "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now[:19] + "Z",
            "lastTimestamp": now[:19] + "Z",
            "eventTime": now,
            "action": reason,
            "count": 1,
        }
        response = self.core.create_namespaced_event(
            meta["namespace"], event, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
        _release(response)


class CachedKube(Kube):
    """The API calls of one reconcile of one TuningJob, whose reads of that TuningJob and
    of its trial Jobs and pods come from what the operator's watches have already seen
    (as client-go informers serve controllers) instead of a GET and two LISTs per
    reconcile: under load each of those is a round trip to a busy API server on the path
    from a finished trial to the next Job, and the LISTs grow with every trial the
    TuningJob ever ran.

    Why cached reads are safe here: every status write is conditional on the
    resourceVersion that was read, so a stale TuningJob costs a `ConflictError` and a
    live read, never a wrong write. Cached Jobs and pods can lag but never go backwards:
    a Job is missing only until its creation is seen (creating it again is an
    AlreadyExists no-op, skipped while `Expectations` remembers it), and kopf starts no
    handler before the initial listing of the indexed Jobs and pods is complete.

    `watched` is the TuningJob, `jobs` and `pods` its trial objects (None: list them from
    the API server), all snapshots taken on the event loop's thread, where the watches
    update them. Other objects' calls go to the API server."""

    def __init__(
        self,
        kube: Kube,
        expectations: Expectations,
        watched: dict[str, Any],
        jobs: list[dict[str, Any]] | None,
        pods: list[dict[str, Any]] | None,
    ) -> None:
        self.api, self.custom, self.batch, self.core = kube.api, kube.custom, kube.batch, kube.core
        meta = watched["metadata"]
        self.key = (meta["namespace"], meta["name"])
        self.expectations = expectations
        self.tuning_job = expectations.start(watched, jobs or [])
        self.jobs = jobs
        self.pods = pods

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.tuning_job is None or (namespace, name) != self.key:
            return super().get_tuning_job(namespace, name)
        metrics.CACHE_HITS.labels("get").inc()
        # Copied down to metadata, which the reconciler replaces after a write.
        return {**self.tuning_job, "metadata": dict(self.tuning_job["metadata"])}

    def list_trial_jobs(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        if self.jobs is None or (namespace, tuning_job) != self.key:
            return super().list_trial_jobs(namespace, tuning_job)
        metrics.CACHE_HITS.labels("list_jobs").inc()
        return list(self.jobs)

    def list_trial_pods(self, namespace: str, tuning_job: str) -> list[dict[str, Any]]:
        if self.pods is None or (namespace, tuning_job) != self.key:
            return super().list_trial_pods(namespace, tuning_job)
        metrics.CACHE_HITS.labels("list_pods").inc()
        return list(self.pods)

    def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        updated = super().patch_status(namespace, name, resource_version, status)
        if (namespace, name) == self.key:
            self.tuning_job = updated
            self.expectations.wrote(updated)
        return updated

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        job = manifest["metadata"]["name"]
        if namespace == self.key[0] and self.expectations.created(job):
            metrics.CACHE_HITS.labels("create_job").inc()
            return False  # created a moment ago, not seen yet: it exists
        created = super().create_job(namespace, manifest)
        if namespace == self.key[0]:
            self.expectations.create(job)
        return created


class Expectations:
    """One TuningJob's own writes that the watches have not shown yet (client-go's
    "expectations"), so that a reconcile from the cache neither plans from a status older
    than its last write nor creates again a Job it created a moment ago.

    resourceVersions are opaque (never compared for order), so this keeps the versions
    known to be older than our last status write: the watch's version when each write was
    planned, and our earlier writes. Seeing our last write's version means the watch has
    caught up; any other version (someone else's change, a watch that skipped ahead)
    means "not sure": read live, as after a conflict. Used by one daemon, one reconcile
    at a time."""

    def __init__(self) -> None:
        self.written: dict[str, Any] | None = None
        self.older: set[str] = set()
        self.live = True  # the first reconcile, and the one after a conflict, read live
        self.planned_from: str | None = None
        self.jobs: dict[str, float] = {}  # created Job → when (monotonic)

    def start(self, watched: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A reconcile starts from these snapshots: the TuningJob to plan from (None: read
        it from the API server)."""
        seen = {job["metadata"]["name"] for job in jobs}
        expired = time.monotonic() - CREATE_EXPECTATION_S
        self.jobs = {n: t for n, t in self.jobs.items() if n not in seen and t > expired}
        version = watched["metadata"].get("resourceVersion")
        self.planned_from = version
        if self.live:
            return None
        if self.written is None:
            return watched
        if version == self.written["metadata"].get("resourceVersion"):
            self.written, self.older = None, set()
            return watched
        if version in self.older:
            return self.written
        self.conflicted()
        return None

    def wrote(self, written: dict[str, Any]) -> None:
        """A status write succeeded and returned `written`."""
        self.older.add(str(self.planned_from))
        if self.written is not None:
            self.older.add(self.written["metadata"].get("resourceVersion"))
        self.written = written
        if len(self.older) > MAX_UNSEEN_WRITES:  # the watch is not delivering: read live
            self.conflicted()

    def create(self, job: str) -> None:
        self.jobs[job] = time.monotonic()

    def created(self, job: str) -> bool:
        return job in self.jobs

    def reconciled(self) -> None:
        self.live = False

    def conflicted(self) -> None:
        """The TuningJob changed under a write, or a reconcile failed midway: read live."""
        self.written, self.older, self.live = None, set(), True
