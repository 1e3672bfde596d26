"""Posting the Events a reconcile decided, in the background and best effort, and
logging each of them: they are the news of a tuning run worth a line in the operator's
log."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubetune.operator.controller import Event
from kubetune.operator.kube import KubeClient, Telemetry
from kubetune.operator.runtime import telemetry as metrics

log = logging.getLogger("kubetune.operator")

EVENT_THREADS = 4
"""Threads posting Events: enough to keep pace with a few trials a second on a slow API
server (each Event is one request)."""
MAX_PENDING_EVENTS = 1000
"""Batches of Events that may wait to be posted; more are dropped."""


def log_events(
    body: dict[str, Any], events: tuple[Event, ...], ended: tuple[str, str] | None = None
) -> None:
    """One line per Event, naming the TuningJob, at INFO (a Warning Event at WARNING): the
    trials launched and ended, and the job's end. A reconcile without Events, the most of
    them, logs nothing. `ended`: (phase, reason) of a job this reconcile ended; the Event
    of that reason is its end, and its line says so with the phase."""
    meta = body["metadata"]
    job = f"{meta.get('namespace')}/{meta.get('name')}"
    for event in events:
        level = logging.WARNING if event.type == "Warning" else logging.INFO
        # A trial's failure message may quote its container's multi-line termination message.
        message = " ".join(event.message.split())
        if ended is not None and event.reason == ended[1]:
            log.log(level, "[%s] TuningJob %s (%s): %s", job, ended[0], event.reason, message)
        else:
            log.log(level, "[%s] %s: %s", job, event.reason, message)


def post_events(
    kube: KubeClient, body: dict[str, Any], events: tuple[Event, ...], telemetry: Telemetry
) -> None:
    """Post Events on a TuningJob, best effort: an Event is informational, and a failure
    to post one is logged, never retried."""
    meta = body["metadata"]
    for event in events:
        try:
            with telemetry.api_call("post_event"):
                kube.post_event(body, event.type, event.reason, event.message)
        except Exception as error:
            log.warning(
                "could not post Event %s on %s/%s: %s",
                event.reason,
                meta.get("namespace"),
                meta.get("name"),
                error,
            )


class EventPoster:
    """Posts batches of Events on a few threads, so they never delay a reconcile. Batches
    are dropped (and counted) while `max_pending` are waiting, so that a slow API server
    cannot make the backlog, and the operator's memory, grow without bound (client-go's
    recorder drops too)."""

    def __init__(
        self,
        telemetry: Telemetry,
        threads: int = EVENT_THREADS,
        max_pending: int = MAX_PENDING_EVENTS,
    ) -> None:
        self.telemetry = telemetry
        self.executor = ThreadPoolExecutor(threads, "events")
        self.room = threading.BoundedSemaphore(max_pending)

    def post(
        self,
        kube: KubeClient,
        body: dict[str, Any],
        events: tuple[Event, ...],
        ended: tuple[str, str] | None = None,
    ) -> None:
        """Log the Events (see `log_events`; even those dropped), and post them."""
        log_events(body, events, ended)
        if not self.room.acquire(blocking=False):
            metrics.EVENTS_DROPPED.inc(len(events))
            return
        future = self.executor.submit(post_events, kube, body, events, self.telemetry)
        future.add_done_callback(lambda _: self.room.release())

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
