"""`kubetune-operator` (or `python -m kubetune.operator`): run the operator.

    kubetune-operator [--namespace NS ...] [--all-namespaces] [--metrics-port 9090]
                      [--health-port 8080] [--peering NAME [--priority N] | --standalone]
                      [--heartbeat-lease NAME] [--heartbeat-seconds 15] [--verbose]

Credentials: the pod's service account in a cluster, else `KUBECONFIG` (or
~/.kube/config). Liveness: http://0.0.0.0:<health-port>/healthz. Metrics:
http://0.0.0.0:<metrics-port>/metrics. Heartbeat: a Lease in its own namespace
($POD_NAMESPACE), renewed every --heartbeat-seconds, naming the namespaces it serves
(`kubetune.operator.api.heartbeat`).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from collections.abc import Sequence

import kopf

# The optimizer imports these two on first use, for the CLI's sake (kubetune.optimizer's
# docstring); the operator loads them at start-up, so that its first suggestion is as quick.
import scipy.optimize
import scipy.stats  # noqa: F401
from kubernetes import client
from kubetune.operator.api import GROUP, PLURAL
from kubetune.operator.api.heartbeat import HEARTBEAT_SECONDS, default_lease_name
from kubetune.operator.kube.api_client import load_credentials
from kubetune.operator.runtime import handlers
from kubetune.operator.runtime.heartbeat import Heartbeat, own_namespace

log = logging.getLogger(__name__)


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
    parser.add_argument(
        "--heartbeat-lease",
        metavar="NAME",
        help="the Lease, in the operator's own namespace ($POD_NAMESPACE, else the "
        "ServiceAccount's, else default), renewed to tell `kubetune` which namespaces are "
        "served (default: kubetune-operator- and a hash of the namespaces served)",
    )
    parser.add_argument(
        "--heartbeat-seconds",
        type=float,
        default=HEARTBEAT_SECONDS,
        metavar="S",
        help=f"renew the heartbeat Lease every S seconds (default {HEARTBEAT_SECONDS}); "
        "0 turns it off",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if args.priority is not None and args.peering is None:
        parser.error(f"--priority {args.priority}: only replicas with --peering NAME have one")
    if args.heartbeat_seconds < 0:
        parser.error(f"--heartbeat-seconds {args.heartbeat_seconds:g}: give 0 (off) or more")
    for port_option in ("metrics_port", "health_port"):
        port = getattr(args, port_option)
        if not 0 <= port <= 65535:
            parser.error(f"--{port_option.replace('_', '-')} {port}: use a port in 0-65535")
    return args


def names_only(namespaces: Sequence[str]) -> bool:
    """Whether namespaces are given, all by name: none is a kopf pattern (a glob, a
    negation or a list)."""
    return bool(namespaces) and not any(set(ns) & set("*?[]!,") for ns in namespaces)


WATCHED = ((GROUP, PLURAL), ("batch", "jobs"), ("", "pods"))
"""What the operator watches in each namespace it serves (group, resource)."""
PEERING = ("kopf.dev", "kopfpeerings")


def watchable(namespaces: Sequence[str], api: client.ApiClient, peering: bool) -> list[str]:
    """The namespaces, given by name, whose watches this operator may open. kopf retries a
    refused watch 9 times, then ends the whole operator: one namespace that does not exist
    (yet, or any more) or lacks its Role would leave every namespace unserved, in a crash
    loop. Such a namespace is left out, with an error saying why (SelfSubjectAccessReview,
    which every authenticated account may ask)."""
    authorization = client.AuthorizationV1Api(api)

    def allowed(namespace: str, verb: str, group: str, resource: str) -> bool:
        attributes = client.V1ResourceAttributes(
            namespace=namespace, verb=verb, group=group, resource=resource
        )
        spec = client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        review = authorization.create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=spec)
        )
        return review.status is not None and bool(review.status.allowed)

    resources = [*WATCHED, *([PEERING] if peering else [])]
    served = []
    for namespace in namespaces:
        refused = [
            f"{verb} {resource}"
            for group, resource in resources
            for verb in ("list", "watch")
            if not allowed(namespace, verb, group, resource)
        ]
        if refused:
            log.error(
                "namespace %s: not served: this operator may not %s there (the namespace does "
                "not exist, or its Role is missing: create the namespace, then `helm upgrade` "
                "renders the Role); restart the operator to serve it",
                namespace,
                ", ".join(refused),
            )
        else:
            served.append(namespace)
    return served


def _priority(args: argparse.Namespace) -> int | None:
    if args.peering is None:
        return None
    if args.priority is not None:
        return int(args.priority)
    # kopf pauses every replica while two share the highest priority; a random one per
    # process lets exactly one replica work, and another take over when it dies.
    return secrets.randbelow(2**31 - 1) + 1


def configure_logging(verbose: bool) -> None:
    """kopf's log format, each line about an object prefixed with its `[namespace/name]`:
    `kopf.configure` leaves that prefix off unless asked (kopf's own command line asks),
    and a failed reconcile's traceback would not say which TuningJob it is about."""
    kopf.configure(verbose=verbose, log_prefix=True)


def heartbeat(args: argparse.Namespace, namespaces: list[str]) -> Heartbeat | None:
    """The heartbeat of an operator serving `namespaces` (empty: every one), as the
    command line asks; None when it is turned off."""
    if not args.heartbeat_seconds:
        return None
    name = args.heartbeat_lease or default_lease_name(namespaces)
    return Heartbeat(name, own_namespace(), list(namespaces), args.heartbeat_seconds)


def main(argv: Sequence[str] | None = None) -> None:
    """Run kopf with the handlers of `kubetune.operator.runtime.handlers` until
    interrupted."""
    args = parse_args(argv)
    configure_logging(args.verbose)
    namespaces = args.namespace
    if names_only(namespaces):
        namespaces = watchable(namespaces, load_credentials(), args.peering is not None)
        if not namespaces:
            sys.exit("kubetune-operator: none of the namespaces given can be watched (above)")
    runtime = handlers.Runtime(
        metrics_port=args.metrics_port,
        peering_mandatory=args.peering is not None,
        exact_namespaces=names_only(namespaces),
        heartbeat=heartbeat(args, namespaces),
    )
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
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
