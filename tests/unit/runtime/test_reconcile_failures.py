"""A failed reconcile's log: one line naming the cause when the cluster is to blame (API
server unreachable or failing, a permission missing), its traceback only for a bug; a
namespace being deleted is said once, with no RBAC advice and no Event posted there."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubetune.operator.kube import Kube
from kubetune.operator.runtime.handlers import (
    Runtime,
    _Daemon,
    failure_cause,
    namespace_terminating,
)
from support.memory_kube import MemoryKube
from support.specs import spec_dict

TUNING_JOB = {
    "apiVersion": "kubetune.io/v1alpha1",
    "kind": "TuningJob",
    "metadata": {"namespace": "team-a", "name": "lr-search", "uid": "u1"},
}


def api_client(port: int) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    return client.ApiClient(configuration)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class EventsKube(MemoryKube):
    """Records the Events posted; `api` names the API server as `Kube.api` does."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.api = api_client(port)


def daemon_of(kube: Any) -> _Daemon:
    runtime = Runtime(kube=kube)
    return _Daemon(runtime, "team-a", "lr-search", kopf.Body(TUNING_JOB), {}, {})  # type: ignore[arg-type]


def kopf_logger() -> Any:
    """The daemon's `logger` as kopf gives it (a per-object adapter)."""
    return kopf.LocalObjectLogger(body=kopf.Body(TUNING_JOB), settings=kopf.OperatorSettings())


def posted(daemon: _Daemon) -> list[tuple[str, str, str]]:
    """The Events the daemon posted (once its poster's threads are done)."""
    daemon.runtime.events.executor.shutdown(wait=True)
    kube = daemon.runtime.kube
    assert isinstance(kube, EventsKube)
    return kube.events


def forbidden(message: str, causes: list[dict[str, str]] | None = None) -> ApiException:
    error = ApiException(status=403, reason="Forbidden")
    details = {"name": "lr-search-003", "group": "batch", "kind": "jobs"}
    error.body = json.dumps(
        {
            "kind": "Status",
            "status": "Failure",
            "message": message,
            "reason": "Forbidden",
            "details": {**details, "causes": causes or []},
            "code": 403,
        }
    )
    return error


TERMINATING = forbidden(
    'jobs.batch "lr-search-003" is forbidden: unable to create new content in namespace '
    "team-a because it is being terminated",
    [
        {
            "reason": "NamespaceTerminating",
            "message": "namespace team-a is being terminated",
            "field": "metadata.namespace",
        }
    ],
)


def test_an_unreachable_api_server_is_one_line_per_retry_naming_it(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube(api_client(closed_port))
    daemon = daemon_of(kube)
    with caplog.at_level(logging.INFO):
        for _ in range(3):  # a real refusal: urllib3's three chained exceptions
            with pytest.raises(Exception) as raised:
                kube.get_tuning_job("team-a", "lr-search")
            daemon._failed(raised.value, kopf_logger())

    server = f"https://127.0.0.1:{closed_port}"
    ours = [r for r in caplog.records if not r.name.startswith("urllib3")]  # its retries
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in ours] == [
        (
            logging.ERROR,
            f"reconcile failed: API server {server} unreachable (connection refused); "
            f"retrying in {delay} s",
            None,
        )
        for delay in (1, 2, 4)
    ]
    assert "Traceback" not in caplog.text


def test_its_traceback_is_kept_for_verbose_logs_once_per_streak(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube(api_client(closed_port))
    daemon = daemon_of(kube)
    with caplog.at_level(logging.DEBUG, logger="kopf.objects"):
        for _ in range(2):
            with pytest.raises(Exception) as raised:
                kube.get_tuning_job("team-a", "lr-search")
            daemon._failed(raised.value, kopf_logger())
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and debug[0].exc_info is not None


def test_a_silent_api_server_is_named_with_urllib3s_words_without_its_pool() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        api = api_client(silent.getsockname()[1])
        api.configuration.retries = 0
        with pytest.raises(Exception) as raised:
            client.CoreV1Api(api).read_namespace("team-a", _request_timeout=(0.5, 0.5))
    assert failure_cause(raised.value, "https://k8s:443") == (
        "API server https://k8s:443 failed (Read timed out. (read timeout=0.5))"
    )


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            ApiException(status=503, reason="Service Unavailable"),
            "HTTP 503 Service Unavailable",
        ),
        (
            ApiException(status=429, reason="Too Many Requests"),
            "HTTP 429 Too Many Requests",
        ),
        (
            forbidden('jobs.batch is forbidden: User "op" cannot create resource "jobs"'),
            'HTTP 403 Forbidden: jobs.batch is forbidden: User "op" cannot create resource "jobs"',
        ),
    ],
)
def test_a_failing_api_server_is_one_line_naming_the_http_error(
    closed_port: int, error: ApiException, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = daemon_of(EventsKube(closed_port))
    with caplog.at_level(logging.INFO, logger="kopf.objects"):
        daemon._failed(error, kopf_logger())
    # (A 403 is also posted, and logged, as an Event: see below.)
    failed = [r for r in caplog.records if r.name == "kopf.objects"]
    assert [(r.getMessage(), r.exc_info) for r in failed] == [
        (f"reconcile failed: {cause}; retrying in 1 s", None)
    ]


def test_a_bug_keeps_its_traceback(closed_port: int, caplog: pytest.LogCaptureFixture) -> None:
    daemon = daemon_of(EventsKube(closed_port))
    with caplog.at_level(logging.INFO, logger="kopf.objects"):
        try:
            raise KeyError("spec")  # a bug of the reconcile
        except KeyError as error:
            daemon._failed(error, kopf_logger())
    [record] = caplog.records
    assert record.getMessage() == "reconcile failed; retrying in 1 s"
    assert record.exc_info is not None


def test_a_missing_permission_is_posted_with_rbac_advice(closed_port: int) -> None:
    daemon = daemon_of(EventsKube(closed_port))
    daemon._failed(forbidden('User "op" cannot create resource "jobs"'), kopf_logger())
    [(kind, reason, message)] = posted(daemon)
    assert (kind, reason) == ("Warning", "Forbidden")
    assert "grant it in the operator's ClusterRole or Role" in message


def test_a_namespace_being_deleted_is_one_line_without_rbac_advice_or_events(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = daemon_of(EventsKube(closed_port))
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            daemon._failed(TERMINATING, kopf_logger())
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.INFO,
            "[team-a/lr-search] namespace team-a is being deleted: nothing more is created there",
        )
    ]
    assert posted(daemon) == []


@pytest.mark.parametrize(
    ("error", "terminating"),
    [
        (TERMINATING, True),
        # The cause alone, as the API server adds it (NamespaceLifecycle admission).
        (forbidden("forbidden", [{"reason": "NamespaceTerminating"}]), True),
        (forbidden('User "op" cannot create resource "jobs"'), False),
        (ApiException(status=403, reason="Forbidden"), False),  # no Status body
        (ApiException(status=500, reason="because it is being terminated"), False),
        (None, False),
    ],
)
def test_a_terminating_namespace_is_told_from_rbac_refusals(
    error: ApiException | None, terminating: bool
) -> None:
    assert namespace_terminating(error) is terminating


class TerminatingKube(EventsKube):
    """Its namespace is being deleted: creating a trial Job is refused as the API server
    refuses it (tests/integration/test_namespace_terminating.py)."""

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> bool:
        self.calls.append(("create_job", manifest["metadata"]["name"]))
        raise TERMINATING


def test_no_event_is_posted_into_a_namespace_being_deleted(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    kube = TerminatingKube(closed_port)
    body = kube.add_tuning_job("team-a", "lr-search", spec_dict())
    daemon = daemon_of(kube)
    daemon.body = kopf.Body(body)
    with caplog.at_level(logging.INFO), pytest.raises(ApiException) as raised:
        asyncio.run(daemon._reconcile(daemon._kube(resync=True)))
    assert namespace_terminating(raised.value)
    assert ("create_job", "lr-search-001") in kube.calls  # the status recorded its trials
    # Their TrialCreated would be untrue, and posting them is refused there too.
    assert posted(daemon) == []
    assert "TrialCreated" not in caplog.text
