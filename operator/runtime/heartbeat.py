"""The heartbeat thread: renews the operator's Lease every period until stopped, so that
`kubetune` can tell when no operator serves a TuningJob's namespace
(`kubetune.operator.api.heartbeat`). A failed renewal is logged (once per distinct error)
and tried again at the next period; it never stops the operator."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api.heartbeat import lease_body
from kubetune.operator.kube import api_error_message
from kubetune.operator.kube.heartbeat import renew_lease

log = logging.getLogger("kubetune.operator.heartbeat")

_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace() -> str:
    """Where the operator keeps its Lease: $POD_NAMESPACE (the chart sets it), else the
    in-cluster ServiceAccount's namespace, else `default` (run outside a cluster)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return _IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def holder_identity() -> str:
    """Who renews: $POD_ID (the chart sets the pod's name), else host and process id."""
    return os.environ.get("POD_ID") or f"{socket.gethostname()}/{os.getpid()}"


@dataclass
class Heartbeat:
    """Renews the Lease `namespace`/`name` every `period` seconds, saying it serves
    `patterns` (empty: every namespace)."""

    name: str
    namespace: str
    patterns: list[str]
    period: float
    holder: str = field(default_factory=holder_identity)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _reported: str = ""

    def start(self, api: client.ApiClient) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(api,), name="heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the Lease stays, and goes stale: `kubetune` then says when the
        operator was last seen)."""
        self._stop.set()

    def beat(self, api: client.ApiClient) -> bool:
        """Renew the Lease once; False (logged) when that failed."""
        body = lease_body(
            self.name, self.namespace, self.holder, self.patterns, self.period, datetime.now(UTC)
        )
        try:
            renew_lease(api, body)
        except Exception as error:
            message = api_error_message(error) if isinstance(error, ApiException) else str(error)
            if isinstance(error, ApiException) and error.status == 403:
                message += (
                    f"; grant create and patch on leases.coordination.k8s.io in namespace "
                    f"{self.namespace} (the chart's Role {self.name}-heartbeat)"
                )
            if message != self._reported:
                log.warning(
                    "heartbeat Lease %s/%s not renewed (`kubetune` will say no operator "
                    "serves these namespaces): %s; retrying every %g s",
                    self.namespace,
                    self.name,
                    message,
                    self.period,
                )
                self._reported = message
            return False
        if self._reported:
            log.info("heartbeat Lease %s/%s renewed again", self.namespace, self.name)
            self._reported = ""
        return True

    def _run(self, api: client.ApiClient) -> None:
        while not self._stop.is_set():
            self.beat(api)
            self._stop.wait(self.period)
