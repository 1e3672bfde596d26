"""The heartbeat Lease's format, shared by the operator (writes) and `kubetune` (reads)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from kopf._cogs.structs.references import match_namespace
from kubetune.operator.api.heartbeat import (
    HEARTBEAT_LABEL,
    NAMESPACES_ANNOTATION,
    is_live,
    lease_body,
    renewed_at,
    served_patterns,
    serves,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

PATTERNS = [
    "team-a",
    "ml-*",
    "team-?",
    "!kube-system",
    "myapp-*, !*-pr-*, *pr-123",
    "!*-pr-*, *pr-123",
    "a,b",
    "team-[ab]",
]
NAMESPACES = ["team-a", "team-b", "team-ab", "ml-x", "kube-system", "myapp-test"]
NAMESPACES += ["myapp-pr-123", "myapp-pr-456", "otherapp-pr-123", "a", "b", "c"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_serves_as_kopf_matches(pattern: str) -> None:
    """The copy of kopf's namespace rule (`kubetune` does not import kopf) agrees with
    kopf's own."""
    for namespace in NAMESPACES:
        assert serves([pattern], namespace) == match_namespace(namespace, pattern), namespace


def test_serves_every_namespace_without_patterns_and_any_of_several() -> None:
    assert serves([], "anything")
    assert serves(["a", "ml-*"], "ml-1") and not serves(["a", "ml-*"], "b")


def test_lease_body_round_trips_and_goes_stale_after_its_duration() -> None:
    lease = lease_body("kubetune", "kubetune-system", "pod-1", ["a", "b"], 15, NOW)
    assert lease["metadata"]["labels"] == {HEARTBEAT_LABEL: "true"}
    assert json.loads(lease["metadata"]["annotations"][NAMESPACES_ANNOTATION]) == ["a", "b"]
    assert lease["spec"]["renewTime"] == "2026-01-01T12:00:00.000000Z"  # a MicroTime
    assert lease["spec"]["leaseDurationSeconds"] == 60
    assert served_patterns(lease) == ["a", "b"]
    assert renewed_at(lease) == NOW
    assert is_live(lease, NOW + timedelta(seconds=60))
    assert not is_live(lease, NOW + timedelta(seconds=61))


@pytest.mark.parametrize("annotation", [None, "not json", '{"a": 1}', "[1]"])
def test_a_lease_that_names_no_namespaces_readably_serves_none(annotation: str | None) -> None:
    lease = {"metadata": {"annotations": {NAMESPACES_ANNOTATION: annotation} if annotation else {}}}
    assert served_patterns(lease) is None
    assert renewed_at({"spec": {}}) is None and not is_live({"spec": {}}, NOW)
