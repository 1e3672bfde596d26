"""kopf wiring: one reconciling daemon per TuningJob, woken by watch events.

- `tuning_job` (a kopf daemon, one asyncio task per TuningJob) reconciles in a worker
  thread, then sleeps until woken or until the resync period passes. kopf starts it for
  every TuningJob it sees, stops it when the TuningJob is deleted (a finalizer makes
  sure it has stopped first) and when peering pauses this operator, so two replicas
  never reconcile the same TuningJob at once. It returns once the TuningJob is terminal,
  and kopf never starts it again for that TuningJob (until the operator restarts).
- `job_changed` and `pod_changed` watch the trial Jobs and pods (server-side selected by
  label) and wake the daemon of their TuningJob at once: a finished trial is replaced
  within one reconcile, never a timer tick.
- `tuning_job_changed` wakes the daemon when the spec changes (suspend, limits...); on an
  ended TuningJob, whose daemon has returned, it reconciles once itself: the change is
  observed (`status.observedGeneration`, which kstatus, so Helm's `--wait` and Flux, wait
  for) and said to apply no more, the job staying as it ended.
- `trial_jobs` and `trial_pods` (kopf indices, fed by the same watches) keep every trial
  Job and pod in memory, and the daemon's `body` is the TuningJob as last watched: a
  reconcile woken by an event reads them there (`CachedKube`), not with a GET and
  two LISTs; one on the resync timer reads live.

Handlers only wire: every decision is in `kubetune.operator.controller`, every API call
in `kubetune.operator.kube`, the wake-ups in `waker`, the Events in `events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
import urllib3
from kubernetes.client.exceptions import ApiException
from kubetune.operator.api import GROUP, KIND, PLURAL, TERMINAL_PHASES, VERSION
from kubetune.operator.api.constants import FINALIZER
from kubetune.operator.api.naming import TUNING_JOB_LABEL, label_value
from kubetune.operator.controller import Event
from kubetune.operator.kube import (
    ActingFailedError,
    CachedKube,
    ConflictError,
    Expectations,
    Kube,
    LogFollowing,
    Result,
    api_error_message,
    load_credentials,
    reconcile,
)
from kubetune.operator.kube.curves import CURVES
from kubetune.operator.kube.observe import job_finished, pod_stuck
from kubetune.operator.kube.reconcile import limit_blas_threads, may_wait_for_slot
from kubetune.operator.runtime import telemetry as metrics
from kubetune.operator.runtime.events import EventPoster
from kubetune.operator.runtime.heartbeat import Heartbeat
from kubetune.operator.runtime.log_filter import QuietSuccesses
from kubetune.operator.runtime.waker import Waker, Wakers

log = logging.getLogger("kubetune.operator")

RESYNC_SECONDS = 30.0
"""A TuningJob is reconciled at least this often even without events, and read live (every
object, not the watches' caches) at least this often even when events keep waking it: a
safety net for a missed watch event (and for kopf's re-listing after a gap in a watch,
which never drops objects deleted meanwhile), and the clock for `maxRuntimeSeconds`
(requeued sooner near it)."""
MAX_ERROR_DELAY = 30.0
"""Backoff cap after failed reconciles (API errors): 1, 2, 4 ... 30 s."""
RECONCILE_THREADS = 32
"""Worker threads for blocking reconciles. A slow one (a huge log being scanned) holds
one thread; the other TuningJobs keep theirs. As many again serve the TuningJobs whose
reconciles may wait for an optimizer slot (`reconcile.may_wait_for_slot`: long histories,
warm starts): with more of them than threads, every thread waited there, and a new
TuningJob's first reconcile waited behind them (its first status 7.9 s median, 26 s at
most, beside 40 TuningJobs of 950 trials on two shared cores; 2.1 and 6.3 s on threads of
their own; `make bench-operator` with `--probe`)."""
RUNNING_NEWS_DELAY = 2.0
"""Seconds by which the news of a trial Job that started is held back (see job_changed)."""


@dataclass
class Runtime:
    """The operator's shared state, kept in kopf's memo (`memo.runtime`)."""

    metrics_port: int = 9090
    peering_mandatory: bool = False
    exact_namespaces: bool = False
    """Serving namespaces given by name (no patterns), as the chart's watchNamespaces."""
    heartbeat: Heartbeat | None = None
    """Renews the Lease that tells `kubetune` this operator serves its namespaces."""
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(RECONCILE_THREADS, "reconcile")
    )
    long_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(RECONCILE_THREADS, "reconcile-long")
    )
    """Threads for the reconciles that may wait for an optimizer slot (see
    `RECONCILE_THREADS`)."""
    events: EventPoster = field(default_factory=lambda: EventPoster(metrics.TELEMETRY))
    kube: Kube | None = None
    wakers: Wakers = field(default_factory=Wakers)
    last_reconcile: float = field(default_factory=time.monotonic)
    ended: set[str] = field(default_factory=set)
    """UIDs of the TuningJobs whose daemon returned, the job having ended: a change to
    their spec is observed by `tuning_job_changed`. Forgotten when they are deleted."""


def _runtime(memo: Any) -> Runtime:
    runtime = memo.runtime
    assert isinstance(runtime, Runtime)
    return runtime


TrialIndex = kopf.Index[tuple[str, str], dict[str, Any]]
"""Trial Jobs (or pods) by (namespace, TuningJob label)."""


class _DiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff-base storage, which builds an "essence" of every object at every watch
    event (a deep copy of it all, then the status and most metadata dropped), though only
    change-detecting handlers use it. Trial Jobs and pods have none: no essence for them.
    TuningJobs get kopf's essence, without first copying their status (every trial)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        if body.get("kind") != KIND:
            return cast(kopf.BodyEssence, {})
        if extra_fields:  # a handler that watches status fields: kopf's own way
            return super().build(body=body, extra_fields=extra_fields)
        slim = kopf.Body(cast(kopf.RawBody, {k: v for k, v in body.items() if k != "status"}))
        return super().build(body=slim, extra_fields=extra_fields)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Operator settings, credentials and the metrics endpoint."""
    runtime = _runtime(memo)
    # Our own names for kopf's bookkeeping, not kopf.zalando.org.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kubetune.io")
    settings.persistence.diffbase_storage = _DiffBase(
        prefix="kubetune.io", key="last-handled-configuration"
    )
    # kopf would post every INFO log line as an Event; we post our own meaningful ones.
    settings.posting.level = logging.WARNING
    logging.getLogger("kopf.objects").addFilter(QuietSuccesses())
    # Watches: reconnect every 5 minutes (API servers end watches at random times in
    # 30-60 min; a stream that silently died is noticed sooner), and give the client a
    # little longer than the server so the server ends it cleanly.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # Plain requests (patches, lists): fail in a minute rather than hang a handler.
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    # Watch only our Jobs and pods, selected by the API server, not the whole cluster.
    settings.watching.label_selectors["batch", "v1", "jobs"] = TUNING_JOB_LABEL
    settings.watching.label_selectors["v1", "pods"] = TUNING_JOB_LABEL
    settings.peering.mandatory = runtime.peering_mandatory
    # Namespaces given by name: kopf's scanning would list namespaces to match patterns
    # (refused by the chart's namespaced RBAC: a minute of retries before kopf falls back
    # to the names) and watch CRDs (a cluster-wide grant). Without it kopf serves the
    # names at once and finds the CRDs at start; one installed later needs a restart.
    settings.scanning.disabled = runtime.exact_namespaces
    # A daemon being stopped (deletion, pausing) gets cancelled, not waited for.
    settings.background.cancellation_polling = 1
    runtime.kube = Kube(load_credentials())
    limit_blas_threads()  # up to RECONCILE_THREADS GP fits may run at once
    if runtime.metrics_port:
        metrics.serve(runtime.metrics_port)
    if runtime.heartbeat is not None:
        runtime.heartbeat.start(runtime.kube.api)


@kopf.on.cleanup()
def shutdown(memo: kopf.Memo, **_: Any) -> None:
    """Let running reconciles finish (each is bounded by request timeouts)."""
    runtime = _runtime(memo)
    if runtime.heartbeat is not None:
        runtime.heartbeat.stop()
    runtime.executor.shutdown(wait=False, cancel_futures=True)
    runtime.long_executor.shutdown(wait=False, cancel_futures=True)
    runtime.events.shutdown()


@kopf.on.probe(id="seconds_since_last_reconcile")
def last_reconcile(memo: kopf.Memo, **_: Any) -> float:
    """Liveness detail: seconds since a reconcile last finished (any TuningJob)."""
    return round(time.monotonic() - _runtime(memo).last_reconcile, 1)


@kopf.daemon(GROUP, VERSION, PLURAL, id="tuning-job", cancellation_timeout=5.0)
async def tuning_job(
    name: str | None,
    namespace: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    logger: Any,
    **kwargs: Any,
) -> None:
    """Reconcile one TuningJob until it is terminal (see the module docstring)."""
    assert name is not None and namespace is not None
    await _reconcile_until_ended(_runtime(memo), namespace, name, body, kwargs, logger)


async def _reconcile_until_ended(
    runtime: Runtime,
    namespace: str,
    name: str,
    body: kopf.Body,
    indices: dict[str, Any],
    logger: Any,
) -> None:
    """Reconcile one TuningJob until it is terminal (in its daemon, or once more for a
    change to an ended one's spec), woken by its objects' events meanwhile."""
    # kopf passes every index by its id.
    daemon = _Daemon(runtime, namespace, name, body, indices["trial_jobs"], indices["trial_pods"])
    runtime.wakers.add(daemon.key, daemon.waker)
    try:
        result = await daemon.run(logger)
        if not result.gone:
            # No await from the check of its spec's generation in `run` to here: a change
            # that arrives later is `tuning_job_changed`'s to observe.
            runtime.ended.add(body["metadata"]["uid"])
    finally:
        runtime.wakers.remove(daemon.key, daemon.waker)
        # Stopped (peering paused this replica, the TuningJob ended or went): no log of
        # its trials stays followed here, where nothing would judge what it reads. A
        # reconcile's thread cannot be cancelled: the one in flight may start followers
        # yet, so they are stopped once it has ended.
        daemon.in_flight.add_done_callback(lambda _: CURVES.stop_following(namespace, name))


def _no_reconcile() -> Future[Result]:
    """A done future: no reconcile in flight yet."""
    future: Future[Result] = Future()
    future.cancel()
    return future


@dataclass
class _Daemon:
    """The loop of one TuningJob's daemon: reconcile, then sleep until woken, the resync
    period passes, or a failed reconcile's backoff ends."""

    runtime: Runtime
    namespace: str
    name: str
    body: kopf.Body
    trial_jobs: TrialIndex
    trial_pods: TrialIndex
    waker: Waker = field(default_factory=Waker)
    expectations: Expectations = field(default_factory=Expectations)
    failures: int = 0
    reported_forbidden: str = ""
    reported_terminating: bool = False
    in_flight: Future[Result] = field(default_factory=_no_reconcile)
    """The last reconcile's thread (done once it has ended)."""
    last_resync: float = field(default_factory=time.monotonic)
    """When it last read everything live (`time.monotonic`; see `resync_due`)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, label_value(self.name))

    def _kube(self, resync: bool) -> CachedKube:
        """The reconcile's client, with snapshots taken on the event loop's thread, where
        the watches update them."""
        assert self.runtime.kube is not None
        if resync:
            # Nothing woke it, or nothing was read live for a while: read everything live,
            # the safety net for what the watches missed (kopf's re-listing after a gap
            # in a watch adds objects to its indices but never drops those deleted
            # meanwhile: a pod gone would still show Running).
            self.expectations.conflicted()
            self.last_resync = time.monotonic()
        return CachedKube(
            self.runtime.kube,
            self.expectations,
            _plain(self.body),
            None if resync else list(self.trial_jobs.get(self.key, ())),
            None if resync else list(self.trial_pods.get(self.key, ())),
            metrics.TELEMETRY,
        )

    async def run(self, logger: Any) -> Result:
        resync = False
        while True:
            self.waker.reconciling()
            kube = self._kube(resync)
            try:
                result = await self._reconcile(kube)
                self.expectations.reconciled()
            except ConflictError:
                self.expectations.conflicted()
                metrics.STATUS_CONFLICTS.inc()
                continue  # someone changed it meanwhile: re-read and re-plan at once
            except Exception as error:
                await asyncio.sleep(self._failed(error, logger))
                continue
            self.failures = 0
            if result.terminal and not self._spec_changed_since(result):
                return result
            self.waker.judging = result.judges_running_trials
            timeout = min(RESYNC_SECONDS, result.requeue_after or RESYNC_SECONDS)
            try:
                await asyncio.wait_for(self.waker.event.wait(), timeout=timeout)
                resync = resync_due(self.last_resync, time.monotonic())
            except TimeoutError:
                resync = True

    def _spec_changed_since(self, result: Result) -> bool:
        """Whether the spec changed after this reconcile read it (a daemon's `body` is
        the TuningJob as last watched, which kopf keeps up to date): the news woke this
        daemon, which would otherwise end unaware. Newer only: a live read may be ahead
        of the watch."""
        if result.body is None:  # gone
            return False
        read = result.body["metadata"].get("generation") or 0
        return int(self.body["metadata"].get("generation") or 0) > read

    async def _reconcile(self, kube: CachedKube) -> Result:
        runtime, namespace, name = self.runtime, self.namespace, self.name
        loop = asyncio.get_running_loop()
        label = label_value(name)

        def wake() -> None:
            """From a log follower's thread: a trial printed a value to judge now."""
            with contextlib.suppress(RuntimeError):  # the loop is closed: the operator stops
                loop.call_soon_threadsafe(runtime.wakers.wake, namespace, label)

        assert runtime.kube is not None
        following = LogFollowing(runtime.kube, wake)
        started = time.perf_counter()
        try:
            executor = runtime.long_executor if may_wait_for_slot(self.body) else runtime.executor
            self.in_flight = executor.submit(
                reconcile, kube, namespace, name, telemetry=metrics.TELEMETRY, following=following
            )
            try:
                result = await asyncio.wrap_future(self.in_flight)
            except ActingFailedError as error:
                # Posting into a namespace being deleted is refused too; its trials'
                # TrialCreated would be untrue anyway (their Jobs were refused).
                if not namespace_terminating(error.__cause__):
                    runtime.events.post(kube, error.body, error.events)
                assert error.__cause__ is not None
                raise error.__cause__ from None
            if result.events and result.body is not None:
                ended = _ended(result.body, kube.tuning_job)
                runtime.events.post(kube, result.body, result.events, ended)
            return result
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
            runtime.last_reconcile = time.monotonic()

    def _failed(self, error: Exception, logger: Any) -> float:
        """Count and log a failed reconcile; returns the backoff before the next one."""
        self.expectations.conflicted()  # it may have written: read live next time
        metrics.RECONCILE_ERRORS.labels(type(error).__name__).inc()
        delay = min(MAX_ERROR_DELAY, 2.0**self.failures)
        first = self.failures == 0
        self.failures += 1
        if namespace_terminating(error):
            # Not an error, and nothing to advise: said once, as an INFO line of our own
            # (kopf's logger would post a WARNING as an Event, refused there too).
            if not self.reported_terminating:
                self.reported_terminating = True
                log.info(
                    "[%s/%s] namespace %s is being deleted: nothing more is created there",
                    self.namespace,
                    self.name,
                    self.namespace,
                )
            return delay
        assert self.runtime.kube is not None
        cause = failure_cause(error, self.runtime.kube.api.configuration.host)
        if cause is None:  # a bug: its traceback is what to look at
            logger.exception(f"reconcile failed; retrying in {delay:.0f} s", exc_info=error)
        else:
            # Expected of a cluster, and retried: one line per retry, the traceback (three
            # chained through urllib3's internals) only with --verbose, once per streak.
            logger.error(f"reconcile failed: {cause}; retrying in {delay:.0f} s")
            if first:
                logger.debug("the failed reconcile's traceback", exc_info=error)
        if isinstance(error, ApiException) and error.status == 403:
            self.reported_forbidden = _report_forbidden(
                self.runtime, self.body, error, already_reported=self.reported_forbidden
            )
        return delay


def resync_due(last_resync: float, now: float) -> bool:
    """Whether a daemon woken by an event reads live all the same: a TuningJob whose
    running trials print values (early stopping, Hyperband) may be woken every few
    seconds for hours, and would otherwise never meet its resync timeout."""
    return now - last_resync >= RESYNC_SECONDS


def _ended(read: dict[str, Any], written: dict[str, Any] | None) -> tuple[str, str] | None:
    """(phase, reason) of a TuningJob that one reconcile ended: `read` before it, `written`
    by it (the cache keeps the TuningJob as the status write returned it)."""
    before = (read.get("status") or {}).get("phase")
    after = ((written or {}).get("status")) or {}
    if before in TERMINAL_PHASES or after.get("phase") not in TERMINAL_PHASES:
        return None
    return str(after["phase"]), str(after.get("reason"))


def failure_cause(error: BaseException, server: str) -> str | None:
    """One line naming why a reconcile failed where the failure is the cluster's, not a
    bug: the API server unreachable, overloaded or failing (5xx, 429), or a permission
    missing (403). None for any other exception."""
    if isinstance(error, ApiException) and error.status is not None:
        if error.status in (403, 429) or error.status >= 500:
            message = " ".join(api_error_message(error).split())
            reason = f"HTTP {error.status} {error.reason or ''}".rstrip()
            return reason if message == error.reason else f"{reason}: {message}"
        return None
    if isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
            error = error.reason  # what the last try met
        # No connection made (refused, timed out), or one that broke or went silent.
        unreachable = isinstance(error, urllib3.exceptions.NewConnectionError | OSError)
        return f"API server {server} {'unreachable' if unreachable else 'failed'} ({_why(error)})"
    return None


def _why(error: BaseException) -> str:
    """What the operating system said ("connection refused"), found down urllib3's chain
    of exceptions, else urllib3's message without its pool ("Read timed out. ...")."""
    inner: BaseException | None = error
    while inner is not None:
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror.lower()
        inner = inner.__cause__ or inner.__context__
    text = str(error)
    if isinstance(error, urllib3.exceptions.PoolError):
        text = text.removeprefix(f"{error.pool}: ")
    return " ".join(text.split()) or type(error).__name__


def namespace_terminating(error: BaseException | None) -> bool:
    """Whether the API server refused a creation because its namespace is being deleted:
    a 403 with the cause NamespaceTerminating ("unable to create new content in namespace
    X because it is being terminated"), which no RBAC grant would change."""
    if not isinstance(error, ApiException) or error.status != 403:
        return False
    try:
        status = json.loads(error.body or "")
        causes = (status.get("details") or {}).get("causes") or []
        message = str(status.get("message", ""))
    except (ValueError, AttributeError):
        return False
    return "because it is being terminated" in message or any(
        isinstance(cause, dict) and cause.get("reason") == "NamespaceTerminating"
        for cause in causes
    )


def _report_forbidden(
    runtime: Runtime, body: kopf.Body, error: ApiException, *, already_reported: str
) -> str:
    """Tell the user, on the TuningJob, that RBAC refused the operator a call: without
    this a missing verb only shows in the operator's log while the job silently waits.
    Posted once per distinct message; the reconcile keeps retrying, so granting the
    permission is enough to recover. Returns the message now reported."""
    message = (
        f"the operator was refused an API call: {api_error_message(error)}; grant it in "
        "the operator's ClusterRole or Role (charts/kubetune/templates/rbac.yaml); "
        "retrying with backoff"
    )
    if message != already_reported and runtime.kube is not None:
        tuning_job = {"metadata": dict(body["metadata"])}
        event = Event("Warning", "Forbidden", message)
        runtime.events.post(runtime.kube, tuning_job, (event,))
    return message


def _plain(body: kopf.Body) -> dict[str, Any]:
    """A watched object as a plain dict (sharing the watch event's parsed JSON, which is
    never modified), without managedFields: kilobytes per object that nothing reads."""
    plain = dict(body)
    plain["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return plain


@kopf.index("batch", "v1", "jobs", labels={TUNING_JOB_LABEL: kopf.PRESENT}, id="trial_jobs")
async def trial_jobs(
    body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """The trial Jobs by (namespace, TuningJob label); kopf drops deleted ones. Without
    their pod template, the bulk of a Job: the pods themselves are indexed."""
    job = _plain(body)
    job["spec"] = {k: v for k, v in (job.get("spec") or {}).items() if k != "template"}
    return {(namespace or "", labels[TUNING_JOB_LABEL]): job}


@kopf.index("v1", "pods", labels={TUNING_JOB_LABEL: kopf.PRESENT}, id="trial_pods")
async def trial_pods(
    body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """The trial pods by (namespace, TuningJob label); kopf drops deleted ones."""
    return {(namespace or "", labels[TUNING_JOB_LABEL]): _plain(body)}


@kopf.on.event(GROUP, VERSION, PLURAL)
async def tuning_job_changed(
    *,
    type: str | None,
    body: kopf.Body,
    namespace: str | None,
    name: str | None,
    memo: kopf.Memo,
    logger: Any,
    **kwargs: Any,
) -> None:
    """Wake the daemon when the spec changed (generation moved past the status), or, on
    an ended TuningJob, whose daemon has returned, reconcile it once: the change is then
    observed, and said to apply no more. Forget the metrics of a deleted TuningJob (its
    daemon may have ended long before)."""
    runtime = _runtime(memo)
    uid = body.get("metadata", {}).get("uid")
    if type == "DELETED":
        metrics.TELEMETRY.forget(namespace or "", name or "")
        runtime.ended.discard(uid)
        # Whether the deletion orphaned them (--cascade=orphan) is not in the event.
        logger.info(
            "TuningJob deleted: the garbage collector deletes its trial Jobs and pods, "
            "which name it as their owner, unless the deletion orphaned them"
        )
        return
    generation = body.get("metadata", {}).get("generation")
    observed = body.get("status", {}).get("observedGeneration")
    if generation == observed:
        return
    if uid in runtime.ended and namespace is not None and name is not None:
        # kopf runs one object's handlers one event at a time: no other reconcile of it
        # starts meanwhile, and its events wait (the status written here among them).
        await _reconcile_until_ended(runtime, namespace, name, body, kwargs, logger)
    else:
        runtime.wakers.wake(namespace, label_value(name or ""))


@kopf.on.event("batch", "v1", "jobs", labels={TUNING_JOB_LABEL: kopf.PRESENT})
async def job_changed(
    *,
    type: str | None,
    status: kopf.Status,
    meta: kopf.Meta,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """A trial Job that started, finished or is going wakes its daemon (once per state)."""
    if type == "DELETED" or meta.get("deletionTimestamp"):
        state = "deleted"
    elif job_finished({"status": status}):
        state = "finished"
    elif status.get("active"):
        state = "active"
    else:
        state = "created"
    # A started trial only changes its phase in the status: not urgent (a short trial's
    # start then joins the reconcile of its end). A finished or deleted one is.
    delay = RUNNING_NEWS_DELAY if state in ("active", "created") else 0.0
    _runtime(memo).wakers.wake_on_change(
        namespace,
        labels.get(TUNING_JOB_LABEL),
        meta["uid"],
        state,
        delay=delay,
        gone=type == "DELETED",
    )


@kopf.on.event("v1", "pods", labels={TUNING_JOB_LABEL: kopf.PRESENT})
async def pod_changed(
    *,
    type: str | None,
    status: kopf.Status,
    meta: kopf.Meta,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """A trial pod that terminated (or cannot get its image, or is being deleted) wakes
    its daemon before the Job controller has updated the Job; one that started running
    wakes it if it judges running trials (Hyperband, `earlyStopping: Auto`). An image
    pull retried wakes it once, to say so: the reconcile then asks to be woken at the
    pull's deadline (`kube.observe.IMAGE_PULL_RETRY`)."""
    phase = status.get("phase")
    if type == "DELETED" or meta.get("deletionTimestamp"):
        state = "deleted"
    elif phase in ("Succeeded", "Failed"):
        state = "terminated"
    elif pod_stuck({"status": status}):
        state = "stuck"
    elif phase == "Running":
        state = "running"
    else:
        return
    _runtime(memo).wakers.wake_on_change(
        namespace,
        labels.get(TUNING_JOB_LABEL),
        meta["uid"],
        state,
        gone=type == "DELETED",
        # A trial that starts: only a daemon that judges running trials needs it now, to
        # follow its log from the first epoch (a short trial may pass its first rungs
        # before any other news wakes the daemon).
        judging_only=state == "running",
    )
