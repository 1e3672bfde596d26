"""`Kube`: the `KubeClient` over the API server, every API call the operator makes as a
small blocking function (thread-safe: urllib3 pools connections)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import uuid
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from kubetune.operator.api.naming import TUNING_JOB_LABEL, label_value
from kubetune.operator.controller.types import START_ANEW
from kubetune.operator.kube.client import ConflictError, JobNotStartedError, JobRejectedError
from kubetune.operator.kube.log_follower import MAX_FOLLOWED_LOGS
from kubetune.operator.kube.observe import latest_refusal

REQUEST_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for ordinary requests: a hung API server must not hang a
reconcile forever."""
LOG_TIMEOUT = (5.0, 120.0)
"""Log streams get a longer read timeout between chunks."""
LOG_CHUNK_BYTES = 256 * 1024
"""A log stream's chunks are at most this long."""
COMPONENT = "kubetune-operator"
"""The operator's name in Events, and its field manager in managedFields."""

log = logging.getLogger("kubetune.operator")


def user_agent() -> str:
    """`kubetune-operator/<version>`: the API server names a write's field manager after
    the User-Agent up to its "/", and audit logs show it; the client's default,
    `OpenAPI-Generator/...`, names no one."""
    try:
        version = importlib.metadata.version("kubetune")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        version = "dev"
    return f"{COMPONENT}/{version}"


def load_credentials() -> client.ApiClient:
    """An API client: in-cluster credentials, else `KUBECONFIG` / `~/.kube/config`."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    # One connection per concurrent reconcile thread and per followed log, without
    # "pool is full" churn (a connection given back to a full pool is closed, with a
    # warning).
    configuration.connection_pool_maxsize = 64 + MAX_FOLLOWED_LOGS
    api = client.ApiClient(configuration)
    api.user_agent = user_agent()
    return api


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


class LogStream(Iterator[bytes]):
    """A log's chunks as the API server sends them. `interrupt()`, from another thread,
    ends a read that waits for the next chunk: a followed log whose trainer is silent
    would otherwise hold its thread and connection until `LOG_TIMEOUT`."""

    def __init__(self, response: Any, chunk_bytes: int) -> None:
        self._response = response
        self._chunks = self._read(chunk_bytes)

    def _read(self, chunk_bytes: int) -> Generator[bytes]:
        try:
            yield from self._response.stream(chunk_bytes, decode_content=True)
        finally:
            self._response.release_conn()

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()

    def interrupt(self) -> None:
        # ValueError, RuntimeError: the stream has already ended and let go of its socket.
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            self._response.shutdown()  # the socket's reading side: the blocked read ends


class Kube:
    """The API calls of one operator process (thread-safe: urllib3 pools connections)."""

    start_anew = START_ANEW
    log_timestamps = True

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self._events_forbidden: set[str] = set()
        """Namespaces where listing Events was refused: said once each, not every resync."""

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
        """Create a Job; False when it already exists (idempotent by deterministic name).
        The manifest is POSTed as it is, for the API server to judge: the client's
        `create_namespaced_job` first validates it against its own models, which refuse
        what the API server takes (a quantity written as a number, `nvidia.com/gpu: 1`; a
        field newer than the client) with an exception that is not an API error.
        `fieldValidation=Strict`: the trial template is kept open at admission, and the
        API server's default (Warn) would drop a misspelt field (`comand`) and run the
        pod without it; refused, the job fails naming the field."""
        request = self.api.param_serialize(
            method="POST",
            resource_path="/apis/batch/v1/namespaces/{namespace}/jobs",
            path_params={"namespace": namespace},
            query_params=[("fieldManager", COMPONENT), ("fieldValidation", "Strict")],
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=manifest,
            auth_settings=["BearerToken"],
        )
        try:
            response: Any = self.api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            if not 200 <= response.status <= 299:
                response.read()
                raise ApiException.from_response(http_resp=response, body=None, data=None)
            _release(response.response)
        except ApiException as error:
            if error.status == 409:
                self._check_taken_name(namespace, manifest["metadata"]["name"])
                return False
            if error.status in (400, 422):
                raise JobRejectedError(api_error_message(error)) from None
            raise
        return True

    def _check_taken_name(self, namespace: str, name: str) -> None:
        """A Job of the trial's name exists: ours (created before a restart), or one a
        deleted TuningJob of the same name owns, which the garbage collector is about to
        delete (created again at a later reconcile), is fine. One owned by no TuningJob (left
        by `kubectl delete --cascade=orphan`, or made by someone else) would never go, and
        the trial would wait for ever: raise, naming it."""
        meta = self._job_metadata(namespace, name)
        if meta is None:
            return  # gone since: created at a later reconcile
        owners = meta.get("ownerReferences") or []
        if "deletionTimestamp" in meta or any(o.get("kind") == KIND for o in owners):
            return
        raise JobNotStartedError(
            f"spec.trialTemplate: trial Job {name} cannot be created: a Job of that name "
            f"already exists in namespace {namespace} and belongs to no TuningJob (left by "
            "one deleted with --cascade=orphan, or created by someone else); delete it "
            f"(kubectl delete job {name} -n {namespace}) and create this TuningJob again"
        )

    def delete_job(self, namespace: str, name: str, owner_uid: str) -> None:
        """Delete the Job `name` and (by garbage collection) its pods if it is owned by the
        TuningJob of UID `owner_uid`; a missing Job is fine. One owned by no TuningJob or by
        another (a user's own Job of a trial's name, one orphaned by `kubectl delete
        --cascade=orphan`) is left alone: the plan names every unfinished trial's Job, also
        one the watch has not shown yet, so the name alone does not make it ours. The
        deletion is conditional on the UID read, so that a Job replaced between the read and
        the delete is not deleted in its place."""
        for _ in range(2):  # a 409: replaced since the read; look again, once
            uid = self._owned_job_uid(namespace, name, owner_uid)
            if uid is None or self._delete_job_uid(namespace, name, uid):
                return
        log.info("not deleting Job %s/%s: it keeps being replaced under its name", namespace, name)

    def _owned_job_uid(self, namespace: str, name: str, owner_uid: str) -> str | None:
        """The UID of the Job `name` if `owner_uid` owns it; None when it is gone or not."""
        meta = self._job_metadata(namespace, name)
        if meta is None:
            return None
        owners = meta.get("ownerReferences") or []
        if not any(o.get("uid") == owner_uid for o in owners):
            # The TuningJob's message names a clash on a trial's name, when there is one.
            log.info(
                "not deleting Job %s/%s: TuningJob %s does not own it (its owners: %s)",
                namespace,
                name,
                owner_uid,
                ", ".join(f"{o.get('kind')} {o.get('name')}" for o in owners) or "none",
            )
            return None
        return str(meta["uid"])

    def _job_metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The metadata of the Job `name` as the API server has it now; None if none."""
        # list, not get: the operator's RBAC grants list (kopf watches Jobs), not get.
        found = self.batch.list_namespaced_job(
            namespace,
            field_selector=f"metadata.name={name}",
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
        items = _json(found)["items"]
        return items[0]["metadata"] if items else None

    def _delete_job_uid(self, namespace: str, name: str, uid: str) -> bool:
        """Delete the Job `name` if it is still the one of UID `uid`; False when another Job
        has that name now (HTTP 409, the precondition failed). Gone already is done."""
        try:
            response = self.batch.delete_namespaced_job(
                name,
                namespace,
                body=client.V1DeleteOptions(
                    propagation_policy="Background", preconditions=client.V1Preconditions(uid=uid)
                ),
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            _release(response)
        except ApiException as error:
            if error.status == 409:
                return False
            if error.status != 404:
                raise
        return True

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
                field_manager=COMPONENT,
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
        follow: bool = False,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        """A container's log as a stream of byte chunks (never the whole log in memory);
        with `follow`, each chunk as soon as the API server sends it."""
        kwargs: dict[str, Any] = {}
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if limit_bytes is not None:
            kwargs["limit_bytes"] = limit_bytes
        response: Any = self.core.read_namespaced_pod_log(
            pod,
            namespace,
            container=container,
            follow=follow,
            timestamps=timestamps,
            _preload_content=False,
            _request_timeout=LOG_TIMEOUT,
            **kwargs,
        )
        return LogStream(response, LOG_CHUNK_BYTES)

    def pod_creation_refusal(self, namespace: str, job_uid: str) -> str | None:
        """The refusal in the latest FailedCreate Event on the Job (`observe.
        latest_refusal`); None without one, or when the operator may not list Events (an
        older Role: said once, and the trial waits without a word, as it did)."""
        try:
            response = self.core.list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.uid={job_uid},reason=FailedCreate",
                # From the API server's watch cache, not a quorum read of every Event of
                # the namespace from etcd: an Event a moment old is news enough.
                resource_version="0",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status != 403:
                raise
            if namespace not in self._events_forbidden:
                self._events_forbidden.add(namespace)
                log.warning(
                    "may not list events in namespace %s, so a trial Job there whose pod "
                    "cannot be created waits without saying why: grant list on events (the "
                    "chart's Role does)",
                    namespace,
                )
            return None
        return latest_refusal(_json(response)["items"])

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
