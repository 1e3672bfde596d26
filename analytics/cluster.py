"""Reading (and, for `kubetune stop`, patching) TuningJobs through the Kubernetes API,
with errors a person can act on: which job is missing, which server cannot be reached,
which verb on which resource is forbidden.

    kube = connect(kubeconfig=None, context=None)   # like kubectl: $KUBECONFIG, ~/.kube/config
    body = kube.get_tuning_job(kube.namespace, "my-job")
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubetune.analytics.errors import (
    ForbiddenError,
    KubetuneError,
    NotFoundError,
    UnreachableError,
)
from kubetune.analytics.resource import GROUP, PLURAL, TRIAL_LABEL, VERSION
from kubetune.operator.api.heartbeat import HEARTBEAT_LABEL

# Fail fast when no server answers (the default retries a refused connection 3 times);
# reads that the user waits for get a generous read timeout.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
RESOURCE = f"{PLURAL}.{GROUP}"
FIELD_MANAGER = "kubetune"
"""The CLI's name in the managedFields of what it writes (`kubetune stop`'s spec.stop)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_config: Any = kube_config  # its loaders are untyped
_IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Target:
    """What a call does, for its error messages: `get tuningjobs.kubetune.io "x"`."""

    verb: str
    resource: str
    namespace: str | None
    name: str | None = None

    def where(self) -> str:
        return f'in namespace "{self.namespace}"' if self.namespace else "in any namespace"


@dataclass(frozen=True)
class Settings:
    """How the caller gives the kubeconfig and the context, as error messages name them:
    flags on the command line, keyword arguments in Python."""

    kubeconfig: str
    """The setting with its value, e.g. `--kubeconfig FILE`."""
    kubeconfig_name: str
    context_name: str


CLI_SETTINGS = Settings("--kubeconfig FILE", "--kubeconfig", "--context")
PYTHON_SETTINGS = Settings("kubeconfig='PATH'", "kubeconfig=", "context=")
"""`TuningJobAnalytics(name, kubeconfig=..., context=...)`'s words."""


def cluster_flags(context: str | None, kubeconfig: str | None) -> list[str]:
    """The --context and --kubeconfig given (each only where given), quoted for a shell:
    what a command that a message suggests carries, so that copied it asks the same
    cluster (without them it would ask the current context's)."""
    flags = []
    for option, value in (("--context", context), ("--kubeconfig", kubeconfig)):
        if value:
            flags += [option, shlex.quote(value)]
    return flags


def _list_there(target: Target, flags: Sequence[str] = ()) -> str:
    """`kubetune -n NAMESPACE list`: the command that lists the namespace looked in (the
    context's namespace is not necessarily that one), with the cluster's `flags`
    (`cluster_flags`)."""
    words = ["kubetune"] + (["-n", shlex.quote(target.namespace)] if target.namespace else [])
    return " ".join([*words, *flags, "list"] + ([] if target.namespace else ["-A"]))


def _status_body(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _translate(
    error: ApiException,
    target: Target,
    server: str,
    settings: Settings = CLI_SETTINGS,
    flags: Sequence[str] = (),
) -> KubetuneError:
    body = _status_body(error)
    detail = body.get("message") or error.reason or ""
    if error.status == 403:
        return ForbiddenError(
            f"forbidden: you may not {target.verb} {target.resource} {target.where()} "
            f"(the API server at {server} said: {detail}). Ask a cluster admin for a Role "
            f"that grants {target.verb} on {target.resource}."
        )
    if error.status == 401:
        return ForbiddenError(
            f"unauthorized at {server}: the kubeconfig's credentials were refused ({detail}); "
            f"log in again or pick another {settings.context_name}."
        )
    if error.status == 404 and target.resource == RESOURCE and body.get("kind") != "Status":
        return NotFoundError(
            f"the API server at {server} does not serve {RESOURCE} ({VERSION}): the "
            "TuningJob CRD is not installed in this cluster (helm install charts/kubetune, "
            "or kubectl apply -f crds/)."
        )
    if error.status == 404 and target.name:
        kind = "TuningJob" if target.resource == RESOURCE else target.resource
        return NotFoundError(
            f'{kind} "{target.name}" not found {target.where()}; `{_list_there(target, flags)}` '
            "shows the TuningJobs there (-A: in every namespace, -n NAMESPACE: in another one)."
        )
    unknown = re.search(r'unknown field "([^"]+)"', detail)
    if error.status in (400, 422) and unknown:
        # The API server's message quotes the whole object; the field is what matters.
        return KubetuneError(
            f'the API server at {server} refused the change: unknown field "{unknown[1]}". '
            "The TuningJob CRD installed there predates this kubetune; install this "
            "version's CRD (helm upgrade, or kubectl apply --server-side -f crds/) and its "
            "operator."
        )
    return KubetuneError(
        f"{target.verb} {target.resource} {target.where()} failed: HTTP {error.status} {detail}"
    )


def _load_configuration(
    kubeconfig: str | None, context: str | None, settings: Settings
) -> tuple[client.Configuration, str]:
    """The client configuration and the default namespace, as kubectl picks them; errors
    name the settings as `settings` says the caller gives them."""
    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    default_path = Path(path or "~/.kube/config").expanduser()
    if not default_path.exists() and not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
        _config.load_incluster_config(client_configuration=configuration)
        namespace = _IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
        return configuration, namespace
    if not default_path.exists():
        raise UnreachableError(
            f"no kubeconfig at {default_path}: pass {settings.kubeconfig} or set KUBECONFIG "
            "to the file that reaches your cluster."
        )
    try:
        contexts, current = _config.list_kube_config_contexts(str(default_path))
        if context and not any(c.get("name") == context for c in contexts):
            # The client's own message names a path that is no file (".../contexts list").
            names = ", ".join(str(c.get("name")) for c in contexts) or "none"
            raise UnreachableError(
                f'no context "{context}" in {default_path}; its contexts: {names}'
            )
        _config.load_kube_config(
            str(default_path), context=context, client_configuration=configuration
        )
    except ConfigException as error:
        raise UnreachableError(f"kubeconfig {default_path}: {error}") from None
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return configuration, namespace


def event_order(event: Any) -> tuple[datetime, datetime]:
    """When an Event last happened; ties broken by its eventTime: lastTimestamp has whole
    seconds only, and events of one second would keep the API's order (by name)."""
    when = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
    return when or _EPOCH, event.event_time or _EPOCH


def _container_status(pod_status: Any, container: str) -> Any:
    statuses = list(getattr(pod_status, "container_statuses", None) or [])
    return next((s for s in statuses if s.name == container), statuses[0] if statuses else None)


def _because(reason: str | None, message: str | None) -> str:
    text = ": ".join(str(part) for part in (reason, message) if part)
    return f" ({text})" if text else ""


def pod_not_started(pod: Any, container: str) -> str | None:
    """Why the pod's `container` has no log yet, as "PHASE (REASON: MESSAGE)", or None
    when it has one (it runs, or ran): an unscheduled pod's log reads empty, a waiting
    container's log is an HTTP 400."""
    pod_status = pod.status
    status = _container_status(pod_status, container)
    state = status.state if status is not None else None
    if state is not None and (state.running is not None or state.terminated is not None):
        return None
    if status is not None and status.last_state is not None and status.last_state.terminated:
        return None  # restarted: the log of its last run is there
    phase = getattr(pod_status, "phase", None) or "Pending"
    waiting = state.waiting if state is not None else None
    if waiting is not None:
        return phase + _because(waiting.reason, waiting.message)
    unscheduled = next(
        (
            c
            for c in getattr(pod_status, "conditions", None) or []
            if c.type == "PodScheduled" and c.status == "False"
        ),
        None,
    )
    if unscheduled is not None:
        return phase + _because(unscheduled.reason, unscheduled.message)
    return phase + _because(
        getattr(pod_status, "reason", None), getattr(pod_status, "message", None)
    )


class KubeClient:
    """The calls kubetune makes, on plain dicts, each one's errors translated."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        settings: Settings = CLI_SETTINGS,
        flags: Sequence[str] = (),
    ) -> None:
        self.api = api
        self.settings = settings
        """How the caller gives the kubeconfig and context, for error messages."""
        self.flags = tuple(flags)
        """The --context and --kubeconfig given (`cluster_flags`): the commands that
        error messages suggest carry them."""
        self.namespace = namespace
        """The default namespace of the kubeconfig's context."""
        self.server = str(api.configuration.host)
        self.custom = client.CustomObjectsApi(api)

    @cached_property
    def core(self) -> client.CoreV1Api:
        """Created on first use: importing the core API's models takes about a second,
        which `kubetune trials` (custom objects only) does not pay."""
        return client.CoreV1Api(self.api)

    def call(self, target: Target, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(*args, **kwargs)` with timeouts; API and connection errors become
        KubetuneErrors that name `target`."""
        kwargs.setdefault("_request_timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        try:
            return function(*args, **kwargs)
        except ApiException as error:
            raise _translate(error, target, self.server, self.settings, self.flags) from None
        except urllib3.exceptions.HTTPError as error:
            raise UnreachableError(
                f"cannot reach the Kubernetes API server at {self.server} ({error}). Is the "
                f"cluster running, and is this the right {self.settings.kubeconfig_name} / "
                f"{self.settings.context_name}?"
            ) from None

    def get_tuning_job(self, namespace: str, name: str) -> dict[str, Any]:
        target = Target("get", RESOURCE, namespace, name)
        body: dict[str, Any] = self.call(
            target,
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
        )
        return body

    def list_tuning_jobs(self, namespace: str | None) -> list[dict[str, Any]]:
        """The TuningJobs of `namespace`, or of every namespace when it is None."""
        target = Target("list", RESOURCE, namespace)
        if namespace is None:
            body = self.call(target, self.custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        else:
            body = self.call(
                target,
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
            )
        return list(body.get("items") or [])

    def patch_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the TuningJob's spec. Strict field validation: a field that this
        cluster's CRD does not know is refused (HTTP 400), not silently pruned."""
        target = Target("patch", RESOURCE, namespace, name)
        body: dict[str, Any] = self.call(
            target,
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"spec": spec},
            # Named in managedFields and audit logs; the client's default field manager,
            # "OpenAPI-Generator" (from its User-Agent), names no one.
            field_manager=FIELD_MANAGER,
            field_validation="Strict",
            _content_type="application/merge-patch+json",
        )
        return body

    def heartbeat_leases(self) -> list[dict[str, Any]] | None:
        """The kubetune operators' heartbeat Leases, in every namespace (one LIST); None
        when they cannot be read (a user whose Role grants no `list leases` cluster-wide):
        a reader then says nothing about the operator rather than fail."""
        target = Target("list", "leases.coordination.k8s.io", None)
        try:
            response = self.call(
                target,
                client.CoordinationV1Api(self.api).list_lease_for_all_namespaces,
                label_selector=f"{HEARTBEAT_LABEL}=true",
                _preload_content=False,
            )
            items = json.loads(response.data).get("items")
        except (KubetuneError, ValueError, AttributeError):
            return None
        return list(items) if isinstance(items, list) else None

    def events(self, namespace: str, name: str, uid: str) -> list[Any]:
        """The Events about the TuningJob (by its uid), oldest first."""
        target = Target("list", "events", namespace)
        listing = self.call(
            target,
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.name={name},involvedObject.uid={uid}",
        )
        return sorted(listing.items, key=event_order)

    def trial_pods(self, namespace: str, trial: str) -> list[Any]:
        """The pods of a trial (every attempt's), oldest first."""
        target = Target("list", "pods", namespace)
        listing = self.call(
            target,
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"{TRIAL_LABEL}={trial}",
        )
        return sorted(listing.items, key=lambda p: p.metadata.creation_timestamp)

    def read_log(
        self, namespace: str, pod: str, container: str, tail_lines: int | None = None
    ) -> str:
        """A container's log (its last `tail_lines` lines when set), decoded leniently."""
        response = self._pod_log(namespace, pod, container, tail_lines=tail_lines)
        data: bytes = response.data
        return data.decode(errors="replace")

    def follow_log(self, namespace: str, pod: str, container: str) -> Iterator[bytes]:
        """The container's log as it is written, until the container ends."""
        # No request timeout: a trainer may print nothing for hours.
        response = self._pod_log(namespace, pod, container, follow=True, _request_timeout=None)
        try:
            yield from response.stream(4096, decode_content=False)
        finally:
            response.release_conn()

    def _pod_log(self, namespace: str, pod: str, container: str, **options: Any) -> Any:
        """The raw (not preloaded) response of a pod-log read with `options`."""
        return self.call(
            Target("get", "pods/log", namespace, pod),
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            _preload_content=False,
            **options,
        )


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    settings: Settings = CLI_SETTINGS,
) -> KubeClient:
    """A client for the cluster that `kubeconfig` (default: $KUBECONFIG, then
    ~/.kube/config, then the in-cluster service account) and `context` point at. Its
    errors name the two as `settings` says (the CLI's flags by default)."""
    configuration, namespace = _load_configuration(kubeconfig, context, settings)
    configuration.retries = False
    flags = cluster_flags(context, kubeconfig)
    return KubeClient(client.ApiClient(configuration), namespace, settings, flags)
