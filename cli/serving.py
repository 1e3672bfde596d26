"""Whether a kubetune operator serves a TuningJob now, from the operators' heartbeat Leases
(`kubetune.operator.api.heartbeat`), and whether the job is being deleted: the lines that
tell a user the status shown may be stale, and why. Pure functions of what was read and
the time.

While no operator serves its namespace (uninstalled, scaled to 0, crashed, or its
watchNamespaces no longer include it) a job's status stays as last written: InProgress,
trials Running. Its running trials' durations are then counted up to `as_of` (the last
heartbeat of an operator that served it, or the latest time the status records), not to
now: a trial that ended meanwhile is not shown growing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubetune.analytics.cluster import cluster_flags
from kubetune.analytics.resource import TuningJobView
from kubetune.cli import output
from kubetune.operator.api.constants import FINALIZER
from kubetune.operator.api.heartbeat import is_live, renewed_at, served_patterns, serves

DEPLOYMENTS = "get deploy -A -l app.kubernetes.io/part-of=kubetune"
"""kubectl's arguments that show the chart's operator Deployments, in the advice."""


def kubectl(context: str | None = None, kubeconfig: str | None = None) -> str:
    """How a kubectl command that the advice suggests starts: `kubectl` with the --context
    and --kubeconfig the user gave kubetune (`cluster_flags`)."""
    return " ".join(["kubectl", *cluster_flags(context, kubeconfig)])


@dataclass(frozen=True)
class Unserved:
    """No live operator serves `namespace`."""

    namespace: str
    last_seen: datetime | None
    """The latest renewal of a Lease whose operator served it; None when none names it."""
    lease: str = ""
    """That Lease, `namespace/name`, and who renewed it last."""
    elsewhere: tuple[str, ...] = ()
    """The live operators, each as the namespaces it serves and its Lease."""


def _lease_name(lease: dict[str, Any]) -> str:
    meta = lease.get("metadata") or {}
    return f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"


def needs_operator(view: TuningJobView) -> bool:
    """Whether an operator still has to act on the job: unfinished, or being deleted (its
    finalizer). Of any other, nothing is said about the operator."""
    return not view.terminal or view.deletion_time is not None


def unserved(leases: Sequence[dict[str, Any]], namespace: str, now: datetime) -> Unserved | None:
    """None when a live heartbeat Lease (renewed within its leaseDurationSeconds before
    `now`) says its operator serves `namespace`, or when there is no heartbeat Lease at
    all (an operator older than the heartbeat may serve it: no evidence either way);
    else what was seen instead."""
    if not leases:
        return None
    serving, elsewhere = [], []
    for lease in leases:
        patterns = served_patterns(lease)
        if patterns is None:
            continue
        if serves(patterns, namespace):
            if is_live(lease, now):
                return None
            serving.append(lease)
        elif is_live(lease, now):
            elsewhere.append(f"{', '.join(patterns)} (Lease {_lease_name(lease)})")
    latest = max(serving, key=lambda lease: renewed_at(lease) or now, default=None)
    if latest is None:
        return Unserved(namespace, None, elsewhere=tuple(elsewhere))
    holder = (latest.get("spec") or {}).get("holderIdentity")
    name = _lease_name(latest) + (f", last renewed by {holder}" if holder else "")
    return Unserved(namespace, renewed_at(latest), name, tuple(elsewhere))


def as_of(view: TuningJobView, absence: Unserved) -> datetime | None:
    """The time up to which an unserved job's running trials are counted: the later of
    the last heartbeat of an operator that served it and the latest time its status
    records (an operator wrote that, alive then); None when neither is known."""
    status = view.status
    times = [absence.last_seen, status.start_time]
    times += [c.last_transition_time for c in status.conditions]
    times += [t for trial in view.trials for t in (trial.start_time, trial.end_time)]
    return max((t for t in times if t is not None), default=None)


def unserved_text(
    absence: Unserved, now: datetime, counted: datetime | None = None, command: str = "kubectl"
) -> str:
    """What `describe`, `watch` and, on stderr, `trials`, `best`, `list` and `logs` say of a
    namespace that no operator serves; `counted`: the time its running trials' durations
    are counted to (`as_of`), when shown; `command`: how the kubectl command suggested
    starts (`kubectl`)."""
    namespace = absence.namespace
    if absence.last_seen is not None:
        ago = output.duration(max((now - absence.last_seen).total_seconds(), 0))
        text = (
            f"no kubetune operator serving namespace {namespace} has been seen for {ago} "
            f"(heartbeat Lease {absence.lease})"
        )
    else:
        text = (
            f"no kubetune operator serving namespace {namespace} has been seen (no "
            "heartbeat Lease names it)"
        )
    if absence.elsewhere:
        text += f"; the operators running serve only: {'; '.join(absence.elsewhere)}"
    until = f", running trials' durations counted to {_clock(counted)}" if counted else ""
    return (
        f"{text}. Is the operator running (`{command} {DEPLOYMENTS}`), and do its namespaces (the "
        f"chart's watchNamespaces) include {namespace}? Until one serves it, the phase and "
        f"the running trials are as last recorded{until}."
    )


def served_again_text(namespace: str) -> str:
    """What `watch` says once an operator serves a namespace again after it said that none
    did."""
    return (
        f"a kubetune operator serves namespace {namespace} again: the status shown is kept "
        "up to date."
    )


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def deleting_text(view: TuningJobView, now: datetime) -> str | None:
    """How long a TuningJob has been being deleted (its deletionTimestamp set) and what
    it waits for, `for 2m: waiting for ...`; None when it is not being deleted."""
    if view.deletion_time is None:
        return None
    ago = output.duration(max((now - view.deletion_time).total_seconds(), 0))
    text = f"for {ago}"
    if FINALIZER in view.finalizers:
        text += (
            f": waiting for the kubetune operator to remove its finalizer {FINALIZER}; its "
            "trials' Jobs and pods are then deleted with it"
        )
    others = [f for f in view.finalizers if f != FINALIZER]
    if others:
        text += f"{'; and' if FINALIZER in view.finalizers else ':'} waiting for finalizers "
        text += ", ".join(others)
    if not view.finalizers:  # foreground deletion: its trial Jobs go first
        text += ": waiting for its trials' Jobs to be deleted"
    return text


def deleting_note(view: TuningJobView, now: datetime) -> str | None:
    """The stderr line of `trials`, `best` and `list` for a job being deleted."""
    text = deleting_text(view, now)
    return None if text is None else f'TuningJob "{view.name}" is being deleted {text}.\n'
