"""The operator's heartbeat: a coordination.k8s.io/v1 Lease in the operator's own namespace,
renewed every HEARTBEAT_SECONDS, that says which namespaces it serves. The operator writes
it (`kube.heartbeat`); `kubetune` reads it to tell a user when no operator has served a
TuningJob's namespace for a while, so that the status shown is as last recorded.

One Lease per operator installation (the chart names it after the release), not per
TuningJob nor per process: one small write every HEARTBEAT_SECONDS in all. It outlives the
operator (nobody deletes it), so a reader can say how long ago an operator was last seen.

    metadata:
      labels: {kubetune.io/operator-heartbeat: "true"}
      annotations: {kubetune.io/namespaces: '["team-a", "team-b"]'}   # [] = every namespace
    spec: {holderIdentity: <pod>, leaseDurationSeconds: 60, renewTime: <last beat>}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatch
from typing import Any

HEARTBEAT_LABEL = "kubetune.io/operator-heartbeat"
"""Label on every heartbeat Lease (value "true"): how `kubetune` finds them."""
NAMESPACES_ANNOTATION = "kubetune.io/namespaces"
"""Annotation on a heartbeat Lease: the namespace patterns served, as a JSON list (the
operator's `--namespace` values, kopf's syntax); `[]` for every namespace."""
HEARTBEAT_SECONDS = 15
"""How often the operator renews its Lease."""
MISSED_BEATS = 4
"""A Lease not renewed for this many periods (its leaseDurationSeconds) is stale: a slow
API server or a brief network blip does not make a live operator look gone."""


def default_lease_name(patterns: Sequence[str]) -> str:
    """The Lease name of an operator not told one (`kubetune-operator --heartbeat-lease`):
    one per set of served namespaces, so that replicas serving the same share it and
    operators serving others do not overwrite each other's."""
    if not patterns:
        return "kubetune-operator-all"
    digest = hashlib.sha256(json.dumps(sorted(patterns)).encode()).hexdigest()[:10]
    return f"kubetune-operator-{digest}"


def micro_time(moment: datetime) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(
    name: str,
    namespace: str,
    holder: str,
    patterns: Sequence[str],
    period: float,
    now: datetime,
) -> dict[str, Any]:
    """The heartbeat Lease as renewed at `now` by `holder` serving `patterns` (empty: every
    namespace), renewed every `period` seconds."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {HEARTBEAT_LABEL: "true"},
            "annotations": {NAMESPACES_ANNOTATION: json.dumps(list(patterns))},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(1, round(period * MISSED_BEATS)),
            "renewTime": micro_time(now),
        },
    }


def serves(patterns: Sequence[str], namespace: str) -> bool:
    """Whether an operator started with `--namespace` `patterns` (empty: every namespace)
    serves `namespace`: kopf's rule, as `kopf._cogs.structs.references.match_namespace`
    (copied, so that `kubetune` need not import kopf; a unit test compares the two): each
    pattern is comma-separated globs, `!glob` excludes, the first glob includes (`*` when
    it is an exclusion), later inclusive ones bring back only what the first included."""
    return not patterns or any(_matches(namespace, pattern) for pattern in patterns)


def _matches(namespace: str, pattern: str) -> bool:
    globs = [glob.strip() for glob in pattern.split(",")]
    if globs[0].startswith("!"):
        globs.insert(0, "*")
    matches = first_match = fnmatch(namespace, globs[0])
    for glob in globs[1:]:
        if glob.startswith("!"):
            matches = matches and not fnmatch(namespace, glob.lstrip("!"))
        else:
            matches = matches or (first_match and fnmatch(namespace, glob))
    return matches


def served_patterns(lease: Mapping[str, Any]) -> list[str] | None:
    """The namespace patterns a heartbeat Lease says its operator serves; None when it
    says nothing readable."""
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    try:
        patterns = json.loads(annotations.get(NAMESPACES_ANNOTATION, ""))
    except (TypeError, ValueError):
        return None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        return None
    return patterns


def renewed_at(lease: Mapping[str, Any]) -> datetime | None:
    """When the Lease was last renewed (its renewTime, else acquireTime); None if never."""
    spec = lease.get("spec") or {}
    text = spec.get("renewTime") or spec.get("acquireTime")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def lease_seconds(lease: Mapping[str, Any]) -> float:
    """How long after its last renewal the Lease counts as live."""
    seconds = (lease.get("spec") or {}).get("leaseDurationSeconds")
    if isinstance(seconds, int) and seconds > 0:
        return float(seconds)
    return float(HEARTBEAT_SECONDS * MISSED_BEATS)


def is_live(lease: Mapping[str, Any], now: datetime) -> bool:
    """Whether the Lease was renewed within its duration before `now`."""
    renewed = renewed_at(lease)
    return renewed is not None and (now - renewed).total_seconds() <= lease_seconds(lease)
