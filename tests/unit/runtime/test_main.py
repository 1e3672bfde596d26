"""The operator's command line (a contract with the chart and the Dockerfile)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubetune.operator.api.heartbeat import HEARTBEAT_SECONDS
from kubetune.operator.runtime import heartbeat as heartbeat_module
from kubetune.operator.runtime.main import heartbeat, names_only, parse_args


def test_defaults_serve_all_namespaces_with_metrics_and_health() -> None:
    args = parse_args([])
    assert (args.namespace, args.metrics_port, args.health_port) == ([], 9090, 8080)
    assert args.peering is None and not args.standalone and not args.verbose


def test_namespaces_peering_and_ports() -> None:
    args = parse_args(
        [
            "--namespace",
            "a",
            "-n",
            "b",
            "--peering",
            "kubetune",
            "--metrics-port",
            "0",
            "--health-port",
            "8081",
            "--verbose",
            "--priority",
            "7",
        ]
    )
    assert args.namespace == ["a", "b"] and args.peering == "kubetune" and args.priority == 7
    assert (args.metrics_port, args.health_port, args.verbose) == (0, 8081, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["--peering", "x", "--standalone"],
        ["--namespace", "a", "--all-namespaces"],
        ["--metrics-port", "70000"],
        ["--priority", "7"],  # a priority only among peering replicas
    ],
)
def test_conflicting_or_bad_options_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_namespaces_given_by_name_only_turn_kopfs_scanning_off() -> None:
    assert names_only(["team-a", "team-b"])
    assert not names_only([])  # every namespace: kopf watches cluster-wide
    for pattern in ("ml-*", "team-?", "!kube-system", "a,b", "team-[ab]"):
        assert not names_only(["team-a", pattern]), pattern


def test_heartbeat_lease_and_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart names the Lease after the release and sets $POD_NAMESPACE; run without
    either, the Lease is named after the namespaces served (replicas serving the same share
    it), in `default`; 0 seconds turns it off."""
    monkeypatch.setenv("POD_NAMESPACE", "kubetune-system")
    args = parse_args(["--heartbeat-lease", "kubetune", "-n", "a"])
    beat = heartbeat(args, ["a"])
    assert beat is not None
    assert (beat.name, beat.namespace, beat.patterns, beat.period) == (
        "kubetune",
        "kubetune-system",
        ["a"],
        HEARTBEAT_SECONDS,
    )
    monkeypatch.delenv("POD_NAMESPACE")
    monkeypatch.setattr(heartbeat_module, "_IN_CLUSTER_NAMESPACE", Path("/nonexistent"))
    unnamed = heartbeat(parse_args(["--heartbeat-seconds", "2"]), [])
    assert unnamed is not None and unnamed.period == 2
    assert (unnamed.name, unnamed.namespace) == ("kubetune-operator-all", "default")
    ab, ba = heartbeat(parse_args([]), ["a", "b"]), heartbeat(parse_args([]), ["b", "a"])
    assert ab is not None and ba is not None and ab.name == ba.name != unnamed.name
    assert heartbeat(parse_args(["--heartbeat-seconds", "0"]), []) is None
    with pytest.raises(SystemExit):
        parse_args(["--heartbeat-seconds", "-1"])
