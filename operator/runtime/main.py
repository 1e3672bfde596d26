"""`kubetune-operator` (or `python -m kubetune.operator`): run the operator.

    kubetune-operator [--namespace NS ...] [--all-namespaces] [--metrics-port 9090]
                      [--health-port 8080] [--peering NAME [--priority N] | --standalone]
                      [--verbose]

Credentials: the pod's service account in a cluster, else `KUBECONFIG` (or
~/.kube/config). Liveness: http://0.0.0.0:<health-port>/healthz. Metrics:
http://0.0.0.0:<metrics-port>/metrics.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Sequence

import kopf
from kubetune.operator.runtime import handlers


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="kubetune-operator",
        description="Run the kubetune operator: TuningJobs become trial Jobs.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="serve TuningJobs in this namespace (repeat for several; globs like 'ml-*' work)",
    )
    scope.add_argument(
        "--all-namespaces",
        "-A",
        action="store_true",
        help="serve TuningJobs in every namespace (the default)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9090,
        help="port of the Prometheus /metrics endpoint; 0 turns it off",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=8080,
        help="port of the /healthz liveness endpoint; 0 turns it off",
    )
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate with other replicas through this kopf peering object (its CRD, "
        "crds/kopf-peering.yaml, must be installed); only one replica is active",
    )
    peering.add_argument(
        "--standalone",
        action="store_true",
        help="no peering: the only replica (development, tests)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        metavar="N",
        help="with --peering: this replica's priority; the highest works, the others wait "
        "(default: a random one per process)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if args.priority is not None and args.peering is None:
        parser.error(f"--priority {args.priority}: only replicas with --peering NAME have one")
    for port_option in ("metrics_port", "health_port"):
        port = getattr(args, port_option)
        if not 0 <= port <= 65535:
            parser.error(f"--{port_option.replace('_', '-')} {port}: use a port in 0-65535")
    return args


def names_only(namespaces: Sequence[str]) -> bool:
    """Whether namespaces are given, all by name: none is a kopf pattern (a glob, a
    negation or a list)."""
    return bool(namespaces) and not any(set(ns) & set("*?[]!,") for ns in namespaces)


def _priority(args: argparse.Namespace) -> int | None:
    if args.peering is None:
        return None
    if args.priority is not None:
        return int(args.priority)
    # kopf pauses every replica while two share the highest priority; a random one per
    # process lets exactly one replica work, and another take over when it dies.
    return secrets.randbelow(2**31 - 1) + 1


def main(argv: Sequence[str] | None = None) -> None:
    """Run kopf with the handlers of `kubetune.operator.runtime.handlers` until
    interrupted."""
    args = parse_args(argv)
    kopf.configure(verbose=args.verbose)
    runtime = handlers.Runtime(
        metrics_port=args.metrics_port,
        peering_mandatory=args.peering is not None,
        exact_namespaces=names_only(args.namespace),
    )
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=args.standalone or None,
        peering_name=args.peering,
        priority=_priority(args),
        liveness_endpoint=(
            f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None
        ),
        memo=kopf.Memo(runtime=runtime),
    )


if __name__ == "__main__":
    main()
